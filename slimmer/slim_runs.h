/* Running the probes (slim_runs.c): traced on the original, then for
 * --verify once more on the original (to tell noise) and on the slim
 * image, compared. Each returns 0, or SLIM_FAILED after telling the user
 * through the host's events. */
#ifndef PARE_SLIM_RUNS_H
#define PARE_SLIM_RUNS_H

#include "slimmer/slim.h"

/* Every probe in S: the one-shot ones (--run, the image's command) one
 * sandbox each, then the entrypoint with the readiness waits and the
 * --exec and HTTP probes beside it, in order, in one; traced into T when
 * T is set. With MUST_SUCCEED a
 * failed probe fails the step; PREFIX names it in the events. */
int slim_run_probes(struct slim *sl, const struct slim_host *h, struct session *s, struct trace *t,
		    struct probe_result *out, const char *step, const char *prefix, bool must_succeed);
/* The probes once more on the original, untraced: marks each result
 * noisy (other output) or flaky (other status, which fails). */
int slim_check_noise(struct slim *sl, const struct slim_host *h);
/* The probes against the slim image at sl->dst_text, compared. */
int slim_verify(struct slim *sl, const struct slim_host *h);

#endif
