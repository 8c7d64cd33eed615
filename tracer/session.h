/* A run session: one image made ready to run in pare's sandbox as `docker
 * run` would make it (the image opened, its tree from the unpack cache,
 * the run plan, the terminal, the sandbox spec), then any number of runs
 * of it (tracer_run on session.spec), then closed. What `pare run`,
 * `pare probe` and each step of `pare slim` share; never prints: warnings
 * and unpack progress reach the caller through callbacks. */
#ifndef PARE_SESSION_H
#define PARE_SESSION_H

#include "image/rootfs.h"
#include "image/source.h"
#include "tracer/run_plan.h"
#include "tracer/tracer.h"

struct session_opts {
	const char *ref;               /* the image, in skopeo's syntax */
	struct open_opts open;
	const char *cache_dir;         /* NULL: unpack to a temporary tree */
	uint64_t cache_max;            /* CACHE_MAX_UNSET: $PARE_CACHE_MAX or the default */
	struct run_overrides ov;       /* docker run's options and the command */
	const struct volume_list *volumes; /* -v, --tmpfs; NULL: none */
	bool shell;                    /* run a shell: the image's /bin/sh, else BUSYBOX */
	const char *busybox;           /* host path of a static busybox, for SHELL */
	bool interactive, net_host;    /* ov.tty: a terminal */
	const struct confinement *confine; /* the caller's, shared by its sessions */
	void (*warn)(void *ctx, const char *msg);
	void (*layer_done)(void *ctx, size_t idx, size_t n); /* unpack progress */
	void *ctx;
};

struct session {
	struct image *img;
	struct rootfs rfs;
	struct run_plan plan;
	int rootfd;                    /* O_PATH of the unpacked tree (never written) */
	int master, slave;             /* the pty, with a terminal */
	int null_fd;                   /* the program's stdin without -i */
	bool interactive;              /* -i (a shell implies it) */
	struct sandbox_spec spec;      /* what each run starts; callers may point
					* its fds and argv elsewhere for one run */
};

/* Open O->ref and make it ready to run. On failure S is closed. */
int session_open(const struct session_opts *o, struct session *s, struct perr *err);
void session_close(struct session *s);

#endif
