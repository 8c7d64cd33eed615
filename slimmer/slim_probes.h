/* Probes of pare slim (slim_probes.c). */
#ifndef PARE_SLIM_PROBES_H
#define PARE_SLIM_PROBES_H

#include <jansson.h>

#include "image/image.h"
#include "tracer/http.h"

/* The probes as the command line gave them, in order. */
enum probe_arg_kind { ARG_EXEC, ARG_RUN, ARG_HTTP, ARG_HTTP_FILE };

struct probe_arg {
	enum probe_arg_kind kind;
	char *text;
};

struct probe_args {
	struct probe_arg *v;
	size_t n;
};

void probe_args_push(struct probe_args *a, enum probe_arg_kind kind, const char *text);
void probe_args_free(struct probe_args *a);
bool probe_args_have(const struct probe_args *a, enum probe_arg_kind kind);

/* How the image is ready for probes beside its entrypoint: --wait-port
 * and --wait-cmd, else every exposed TCP port (and each HTTP probe's). */
struct readiness {
	struct strv ports, cmds;
};

enum probe_kind {
	P_COMMAND, /* the image's own command, to its end */
	P_RUN,     /* /bin/sh -c CMD in place of the entrypoint, one sandbox each */
	P_EXEC,    /* /bin/sh -c CMD beside the running entrypoint */
	P_HTTP,    /* a request to the running entrypoint */
};

struct probe {
	enum probe_kind kind;
	const char *cmd;          /* P_RUN, P_EXEC */
	struct http_probe http;   /* P_HTTP */
	char *label;
};

struct probe_list {
	struct probe *v;
	size_t n;
	/* Beside the entrypoint, before the P_EXEC and P_HTTP probes: */
	unsigned *wait_ports;
	size_t n_wait_ports;
	const char *const *wait_cmds;
	size_t n_wait_cmds;
	bool one_shot;            /* no port, no --wait-*: --exec probes ran as --run */
	bool beside;              /* some probes run beside the entrypoint */
};

struct probe_result {
	uint64_t duration_ms;
	int code;                 /* exit code (128+signal), or the HTTP status */
	bool timed_out, ok;
	char digest[DIGEST_STR_LEN + 1]; /* of stdout, or of the HTTP body */
	uint64_t len;
	char error[200];
	bool not_http;            /* no probe given: the port accepted, the answer was not HTTP */
	char *head;               /* the first STDOUT_HEAD bytes of stdout, for a diff */
	size_t head_len;
	/* From a second run of the original image (--verify): */
	bool noise;               /* the same exit status, other output: compare the status only */
	bool flaky;               /* another exit status: the probe cannot verify anything */
};
#define STDOUT_HEAD (64 * 1024)

/* The probes in the order given (--http-file entries in place), or
 * without any: GET / on every exposed TCP port, else the image's own
 * command. --exec probes run beside the entrypoint when the image is a
 * server (an exposed TCP port, a --wait-* option or an HTTP probe), else
 * in place of it. */
int probes_plan(struct probe_list *l, const struct probe_args *args, const struct readiness *ready,
		const struct image_config *c, struct perr *err);
void probes_free(struct probe_list *l);
void probe_results_free(struct probe_result *pr, size_t n);
/* The report's "probes": each result, and with VERIFY what it compared. */
json_t *probes_json(const struct probe_list *l, const struct probe_result *pr, size_t n, bool verify);

/* The first line where stdout heads A and B differ (1-based), or 0 when
 * they agree as far as both go; *AL / *BL point at that line in each. */
size_t probe_stdout_difference(const char *a, size_t an, const char *b, size_t bn, const char **al,
			       const char **bl);

#endif
