/* Running the probes (slim_runs.c): traced on the original, then for
 * --verify once more on the original (to tell noise) and on the slim
 * image, compared. Each returns 0, or SLIM_FAILED after telling the user
 * through the host's events. */
#ifndef PARE_SLIM_RUNS_H
#define PARE_SLIM_RUNS_H

#include <sys/types.h>

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
/* The same check in a forked copy of this process, so that it runs
 * while the closure is computed here: slim_noise_finish then collects
 * its verdict (with WANTED false it stops it, for a slim that failed
 * first). Without a helper (fork failed) or when it died, finish runs
 * the check itself. The helper makes its sandboxes as this process
 * would; it emits the run's events as they come, and finish those of
 * the verdict. */
struct noise_job {
	pid_t pid;
	int fd;
};
void slim_noise_start(struct slim *sl, const struct slim_host *h, struct noise_job *j);
int slim_noise_finish(struct slim *sl, const struct slim_host *h, struct noise_job *j, bool wanted);
/* The probes against the slim image at sl->dst_text, compared. */
int slim_verify(struct slim *sl, const struct slim_host *h);

#endif
