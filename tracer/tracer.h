/* Traced runs: the sandbox plus the two recorders, fanotify (a filesystem
 * mark on the sandbox's overlay: opens, execs, directory opens, including
 * files the kernel opens itself) and ptrace behind a seccomp filter (stops
 * only on syscalls that take paths and that fanotify cannot see), in one
 * event loop. */
#ifndef PARE_TRACER_H
#define PARE_TRACER_H

#include "tracer/http.h"
#include "tracer/sandbox.h"
#include "tracer/trace.h"

enum tracer_mode { TRACER_OFF, TRACER_AUTO, TRACER_FANOTIFY, TRACER_PTRACE, TRACER_BOTH };

/* "auto", "fanotify", "ptrace", "both": 0, or -1 when unknown. */
int tracer_mode_parse(const char *s, enum tracer_mode *out);

struct tracer_opts {
	enum tracer_mode mode;
	bool syscalls;        /* record every syscall number (a stop on each) */
	uint64_t timeout_ms;  /* 0 = none */
	int stop_signal;      /* sent on timeout / first interrupt */
	uint64_t grace_ms;    /* then SIGKILL */
	int tty_master;       /* relay our stdin/stdout to this pty master, or -1 */
	/* HTTP probes sent while the program runs; when they are done the
	 * program gets its stop signal. Results go to http_results. */
	const struct http_probe *http;
	size_t n_http;
	struct http_result *http_results;
	/* Told, about once a second, while the HTTP helper waits for PORT to
	 * accept (WAITED_MS so far), and once with PORT 0 when it stops. */
	void (*on_wait)(void *ctx, unsigned port, uint64_t waited_ms);
	void *wait_ctx;
};

struct run_result {
	int status;           /* the program's wait status */
	bool have_status;
	bool timed_out;
	bool interrupted;     /* we got SIGINT/SIGTERM */
	bool rootless;
	bool used_fanotify, used_ptrace;
	uint64_t duration_ms;
};

/* Run SPEC in the sandbox, recording into T (which may be NULL when
 * O->mode is TRACER_OFF). Fails only when the run could not happen or a
 * recorder failed; the program's own failure is in RES. */
int tracer_run(struct sandbox_spec *spec, const struct tracer_opts *o, struct trace *t,
	       struct run_result *res, struct perr *err);

/* docker's convention: the program's exit code, or 128 + signal. */
int run_exit_code(const struct run_result *res);

/* A pseudo-terminal pair for interactive sessions. */
int pty_open(int *master, int *slave, struct perr *err);

#endif
