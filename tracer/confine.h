/* What every process pare starts in a sandbox gets, as Docker gives a
 * container's process: a capability set (Docker's default, changed by
 * --cap-add/--cap-drop), Docker's default seccomp policy (or the user's
 * profile, or none), no_new_privs, and pids and memory limits: a cgroup
 * (v2 where the controller is delegated to us, else v1), else rlimits.
 *
 * confine_prepare() runs once per command, on our side: it parses and
 * compiles everything. confine_cgroup_create() makes one sandbox's cgroup.
 * confine_apply() is the single function a process calls just before it
 * executes image code; the program and any later process started beside
 * it (exec probes) go through it, so they all get the same rules. */
#ifndef PARE_CONFINE_H
#define PARE_CONFINE_H

#include <jansson.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"

/* --pids-limit and --memory values that mean "not given" and "none". */
#define CONFINE_DEFAULT (-2)
#define CONFINE_UNLIMITED (-1)

struct confine_opts {
	char **cap_add, **cap_drop;  /* docker's names: SYS_ADMIN, CAP_NET_RAW, ALL */
	size_t n_cap_add, n_cap_drop;
	const char *seccomp;         /* NULL = Docker's default, "unconfined", or a file */
	int64_t pids_limit;          /* CONFINE_DEFAULT, CONFINE_UNLIMITED or a count */
	int64_t memory;              /* CONFINE_DEFAULT, CONFINE_UNLIMITED or bytes */
	bool rootless;               /* we are not root: cgroups are not ours to make */
};

enum limit_via { LIMIT_NONE, LIMIT_CGROUP2, LIMIT_CGROUP1, LIMIT_RLIMIT };

/* A limit and how it is enforced. */
struct confine_limit {
	uint64_t value;              /* 0 = unlimited */
	enum limit_via via;
	char *cgroup_parent;         /* the cgroup directory new ones go below */
};

enum { LIMIT_PIDS, LIMIT_MEMORY, N_LIMITS };

struct confinement {
	uint64_t caps;               /* one bit per capability */
	struct sock_fprog policy;    /* len 0: unconfined */
	char *policy_name;           /* "docker-default", "unconfined" or the file */
	struct confine_limit limits[N_LIMITS];
	/* Set when a limit fell back to an rlimit: one line to tell the user. */
	char *notice;
};

/* One sandbox's cgroups (one per limit enforced by a cgroup). */
struct confine_cgroup {
	char *dirs[N_LIMITS];
	int procs_fd[N_LIMITS];      /* cgroup.procs, open for writing */
};

/* The credentials the process switches to. */
struct confine_creds {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	bool set_groups;             /* false in a user namespace (setgroups denied) */
};

int confine_prepare(const struct confine_opts *o, struct confinement *cf, struct perr *err);
void confine_free(struct confinement *cf);

int confine_cgroup_create(const struct confinement *cf, struct confine_cgroup *cg,
			  struct perr *err);
/* Remove the cgroups (their processes are gone). */
void confine_cgroup_remove(struct confine_cgroup *cg);

/* Join CG's cgroups, set the rlimits, the credentials and the capability
 * set, no_new_privs, then install the seccomp policy and TRACE (the
 * tracer's filter, or NULL), which stack: the kernel takes the strictest answer,
 * so a call the policy denies fails and one it allows still stops for the
 * tracer. With HANDOVER_FD >= 0, TRACE notifies: it goes first, with a
 * new listener, which is sent on HANDOVER_FD (SC_HANDOVER_FLAGS) before
 * anything else runs, so the tracer holds it from the first notification.
 * Needs no allocation. On failure, WHY says what failed (errno is set)
 * and the process must not exec. */
int confine_apply(const struct confinement *cf, const struct confine_cgroup *cg,
		  const struct confine_creds *cr, const struct sock_fprog *trace, int handover_fd,
		  const char **why);

/* A capability's number from docker's name: NET_ADMIN or CAP_NET_ADMIN, in
 * any case (libcap's names). 0, or -1 when it is no capability. */
int confine_cap_parse(const char *name, int *out);
/* Capability names of CF (for the report), "CHOWN", ...; caller frees. */
char **confine_cap_names(const struct confinement *cf, size_t *n);
const char *confine_via_name(enum limit_via via);

/* The moby/profiles version the built-in policy is copied from. */
extern const char confine_docker_profile_version[];

/* What confined the program, for reports: {"seccomp", "seccomp_source",
 * "capabilities", "no_new_privileges", "limits"}. */
json_t *confine_json(const struct confinement *cf);

#endif
