/* A sandbox that runs an unpacked image like `docker run` does, without
 * an engine: the rootfs as the read-only lower dir of an overlay whose
 * upper is a private tmpfs, new mount/pid/ipc/uts/net namespaces (a user
 * namespace when not root), pivot_root, /proc, a minimal /dev, read-only
 * /sys, every mount nodev but the bound device allow-list, Docker's masked
 * and read-only /proc and /sys paths, and the program confined as Docker
 * confines a container (confine.h: capabilities, seccomp policy,
 * no_new_privs, pids and memory limits); our own init as
 * pid 1 that forwards signals and reaps. When pid 1 exits, the kernel kills
 * everything else in the pid namespace, and the mounts die with the mount
 * namespace: nothing is left behind on the host. */
#ifndef PARE_SANDBOX_H
#define PARE_SANDBOX_H

#include "tracer/volume.h"
#include <linux/filter.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/util.h"
#include "tracer/confine.h"

/* The process to start (docker's entrypoint + cmd, already resolved). */
struct proc_spec {
	char **argv;       /* argv[0] is looked up in PATH from ENVP */
	char **envp;
	const char *cwd;   /* created in the overlay when missing */
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	int fds[3];        /* stdin, stdout, stderr for the program */
	bool tty;          /* fds[0] is a terminal: make it the controlling tty */
};

struct sandbox_spec {
	const char *rootfs;     /* host path of the unpacked image (never written) */
	const char *hostname;
	bool net_host;          /* share the host network instead of a new netns */
	const char *busybox;    /* host path of a static busybox, bound at /.pare/busybox */
	const char *upper_dir;  /* host dir with empty upper/ and work/ to keep the
				 * program's writes; NULL = a private tmpfs */
	bool seize;             /* PTRACE_SEIZE pid 1 before it starts the program */
	unsigned long ptrace_options;
	const struct sock_fprog *filter; /* the tracer's seccomp filter, or NULL */
	/* FILTER notifies: each process pid 1 starts sends its listener on
	 * sandbox.listener_fd (tracer/confine.h). */
	bool notify;
	const struct confinement *confine; /* NULL: Docker's defaults */
	struct proc_spec proc;
	/* Processes pid 1 may start beside the program on request
	 * (sandbox_exec), as `docker exec` does: confined the same way. Their
	 * fds are inherited by pid 1 when the sandbox starts. */
	const struct proc_spec *execs;
	size_t n_execs;
	/* -v and --tmpfs (tracer/volume.h), shortest target first. A writable
	 * directory volume is an overlay on the host directory with its own
	 * fresh upper layer: every run starts from the same content, and the
	 * host directory is never written. A file volume is read-only. */
	const struct volume *volumes;
	size_t n_volumes;
};

/* Where the helper busybox appears inside the sandbox. Paths below it are
 * ours, not the image's, and never recorded. */
#define SANDBOX_PRIVATE_DIR "/.pare"

struct sandbox {
	pid_t init_pid;    /* host pid of our pid 1 */
	int ctl_fd;        /* socket to pid 1: status messages */
	int exec_fd;       /* EOF once the program exec'd; an error message otherwise */
	int listener_fd;   /* spec->notify: seccomp listeners arrive here, or -1 */
	bool rootless;
	bool exited;
	int init_status;   /* wait status of pid 1 once exited */
	int prog_status;   /* wait status of the program, as pid 1 saw it */
	bool have_prog_status;
	struct confinement own_confine; /* when the spec gave none */
	bool have_own_confine, have_cgroup;
	struct confine_cgroup cgroup;
};

/* Why the sandbox must make a user namespace of its own, as a rootless
 * run does: NULL when pare has root's powers (euid 0 with CAP_SYS_ADMIN
 * and CAP_NET_ADMIN), else what it lacks: "not root", or "no
 * CAP_SYS_ADMIN" for root with a container's default capabilities. */
const char *sandbox_userns_reason(void);

/* Before any work: where pare runs under a seccomp filter (a container's
 * profile), whether it lets the sandbox's namespaces be made at all (a
 * child made with them exits at once). Fails with the one line
 * sandbox_start would give, and its hint. */
int sandbox_preflight(bool net_host, struct perr *err);

/* Start pid 1 and let it build the sandbox. Returns when the sandbox is
 * ready and the program is about to be started (the caller then installs
 * its fanotify mark through /proc/PID/root and calls sandbox_go()). */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, struct perr *err);
/* Let pid 1 start the program. */
int sandbox_go(struct sandbox *sb, struct perr *err);
/* Read the program's exec result from exec_fd once it is readable:
 * 1 = still waiting, 0 = exec'd, -1 = failed (ERR says why). */
int sandbox_exec_result(struct sandbox *sb, struct perr *err);
/* Read a status message from pid 1 (ctl_fd readable): 1 when it says
 * exec process *IDX exited with wait status *STATUS, else 0. */
int sandbox_read_ctl(struct sandbox *sb, size_t *idx, int *status);
/* Ask pid 1 to start spec->execs[IDX] (again, after it exited), or to
 * SIGKILL its process group. */
int sandbox_exec(struct sandbox *sb, size_t idx, struct perr *err);
void sandbox_exec_kill(struct sandbox *sb, size_t idx);
/* Forward SIG to the program (through pid 1). */
void sandbox_signal(struct sandbox *sb, int sig);
/* SIGKILL pid 1 (and so everything in the sandbox) and reap it. */
void sandbox_kill(struct sandbox *sb);
void sandbox_release(struct sandbox *sb);

#endif
