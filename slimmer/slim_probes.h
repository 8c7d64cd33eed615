/* Probes of pare slim (slim_probes.c). */
#ifndef PARE_SLIM_PROBES_H
#define PARE_SLIM_PROBES_H

#include <jansson.h>

#include "image/image.h"
#include "tracer/http.h"

enum probe_kind { P_COMMAND, P_EXEC, P_HTTP };

struct probe {
	enum probe_kind kind;
	const char *cmd;          /* P_EXEC */
	struct http_probe http;   /* P_HTTP */
	char *label;
};

struct probe_list {
	struct probe *v;
	size_t n;
};

struct probe_result {
	uint64_t duration_ms;
	int code;                 /* exit code (128+signal), or the HTTP status */
	bool timed_out, ok;
	char digest[DIGEST_STR_LEN + 1]; /* of stdout, or of the HTTP body */
	uint64_t len;
	char error[200];
	char *head;               /* the first STDOUT_HEAD bytes of stdout, for a diff */
	size_t head_len;
	/* From a second run of the original image (--verify): */
	bool noise;               /* the same exit status, other output: compare the status only */
	bool flaky;               /* another exit status: the probe cannot verify anything */
};
#define STDOUT_HEAD (64 * 1024)

/* --exec probes, then --http and --http-file probes (or GET / on every
 * exposed TCP port when no probe is given), else the image's own command. */
int probes_plan(struct probe_list *l, const struct strv *execs, const struct strv *http,
		const struct strv *http_files, const struct image_config *c, struct perr *err);
void probes_free(struct probe_list *l);
void probe_results_free(struct probe_result *pr, size_t n);
/* The report's "probes": each result, and with VERIFY what it compared. */
json_t *probes_json(const struct probe_list *l, const struct probe_result *pr, size_t n, bool verify);

/* The first line where stdout heads A and B differ (1-based), or 0 when
 * they agree as far as both go; *AL / *BL point at that line in each. */
size_t probe_stdout_difference(const char *a, size_t an, const char *b, size_t bn, const char **al,
			       const char **bl);

#endif
