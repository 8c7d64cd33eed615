/* The slim report (slim_report.c): sizes, probes, kept paths, rules. */
#ifndef PARE_SLIM_REPORT_H
#define PARE_SLIM_REPORT_H

#include <jansson.h>

#include "slimmer/slim.h"
#include "slimmer/slim_image.h"

/* [{"path", "type", "reasons": [...], "target"}] for PATHS (relative), with
 * the reasons K holds, "written by a probe" for WRITTEN's. */
json_t *slim_kept_json(const struct keepset *k, const struct strv *paths, const struct strset *written,
		       int upper_fd, int rootfd, const struct units_state *units, const struct trace *t);
/* {"profiles", "pulled_in", "excluded"}. */
json_t *slim_rules_json(const struct profile_set *profiles, const struct units_state *units,
			const struct dropped *dropped, size_t n_dropped);

/* The whole report of SL, after slim_run's steps, to FILE (atomically). */
int slim_report_write(const struct slim *sl, const char *file, struct perr *err);

#endif
