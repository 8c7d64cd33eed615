/* The slim report's kept paths and rules (slim_report.c). */
#ifndef PARE_SLIM_REPORT_H
#define PARE_SLIM_REPORT_H

#include <jansson.h>

#include "slimmer/slim_image.h"

/* [{"path", "type", "reasons": [...], "target"}] for PATHS (relative), with
 * the reasons K holds, "written by a probe" for WRITTEN's. */
json_t *slim_kept_json(const struct keepset *k, const struct strv *paths, const struct strset *written,
		       int upper_fd, int rootfd, const struct units_state *units, const struct trace *t);
/* {"profiles", "pulled_in", "excluded"}. */
json_t *slim_rules_json(const struct profile_set *profiles, const struct units_state *units,
			const struct dropped *dropped, size_t n_dropped);

#endif
