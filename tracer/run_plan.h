/* From an image config plus command-line overrides to the process the
 * sandbox starts, as `docker run` would: entrypoint + cmd, env with
 * Docker's defaults, workdir, and the user resolved from the image's own
 * /etc/passwd and /etc/group (never NSS: nothing of the image is loaded
 * on our side). */
#ifndef PARE_RUN_PLAN_H
#define PARE_RUN_PLAN_H

#include <sys/types.h>

#include "image/image.h"
#include "base/util.h"

struct run_overrides {
	const char *entrypoint; /* replaces the entrypoint ("" clears it) */
	char **cmd;             /* replaces cmd when ncmd > 0 */
	size_t ncmd;
	char **env;             /* KEY=VALUE, or KEY to take ours */
	size_t nenv;
	const char *workdir;
	const char *user;
	const char *hostname;
	bool tty;
};

struct run_plan {
	struct strv argv, env;
	char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	int stop_signal;
};

/* docker's --env-file: each line KEY=VALUE, or KEY (take ours), appended
 * to ENV; '#' lines and blank ones skipped, leading blanks trimmed. */
int env_file_read(const char *file, struct strv *env, struct perr *err);

int run_plan_build(int rootfd, const struct image_config *c, const struct run_overrides *o,
		   struct run_plan *p, struct perr *err);
void run_plan_free(struct run_plan *p);

/* "SIGTERM", "TERM" or "15". Returns the number or -1. */
int parse_signal(const char *s);
/* Does PATH exist in the image (in-root resolution, following symlinks)? */
bool image_has_path(int rootfd, const char *path);

#endif
