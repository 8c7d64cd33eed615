/* Traced runs: the sandbox plus its recorders, fanotify (a filesystem
 * mark on the sandbox's overlay: opens, execs, directory opens, including
 * files the kernel opens itself) and a seccomp filter on the syscalls that
 * take paths and that fanotify cannot see, answered either by seccomp user
 * notification (nothing stops but the caller, for as long as reading a
 * string takes) or by ptrace stops, in one event loop. */
#ifndef PARE_TRACER_H
#define PARE_TRACER_H

#include "tracer/http.h"
#include "tracer/sandbox.h"
#include "tracer/trace.h"

enum tracer_mode {
	TRACER_OFF,
	TRACER_AUTO,     /* as root: ebpf where it loads, else fanotify (execs)
			  * + notify; notify rootless; ptrace where the kernel
			  * has no user notification */
	TRACER_FANOTIFY,
	TRACER_NOTIFY,   /* seccomp user notification alone */
	TRACER_PTRACE,   /* seccomp-filtered ptrace alone */
	TRACER_BOTH,     /* fanotify + ptrace */
	TRACER_EBPF,     /* a syscall-exit eBPF recorder for one-path calls,
			  * notify for the rest, fanotify for the kernel's
			  * own exec opens (the ELF interpreter) */
};

/* "auto", "ebpf", "fanotify", "notify", "ptrace", "both": 0, or -1 when unknown. */
int tracer_mode_parse(const char *s, enum tracer_mode *out);

/* What runs beside the program once it has started, in order, as a
 * client and `docker exec` would: readiness waits, then probes. */
enum step_kind {
	STEP_WAIT_PORT, /* ready once PORT accepts a connection */
	STEP_WAIT_EXEC, /* ready once spec->execs[EXEC] exits 0 (retried) */
	STEP_HTTP,      /* the request HTTP, answered */
	STEP_EXEC,      /* spec->execs[EXEC], run to its end */
};

struct run_step {
	enum step_kind kind;
	const struct http_probe *http; /* STEP_HTTP */
	unsigned port;                 /* STEP_WAIT_PORT */
	size_t exec;                   /* STEP_WAIT_EXEC, STEP_EXEC */
};

struct step_result {
	bool done;                /* it ran to its end; else the run ended first */
	struct http_result http;  /* STEP_HTTP */
	int status;               /* STEP_EXEC: its wait status */
	bool timed_out;           /* killed at the probe timeout */
	uint64_t duration_ms;
};

/* The readiness bound without --timeout, and each probe's. */
#define READY_DEFAULT_TIMEOUT_MS 30000
#define STEP_DEFAULT_TIMEOUT_MS 60000

struct tracer_opts {
	enum tracer_mode mode;
	bool syscalls;        /* record every syscall number (a stop on each) */
	/* Without steps: the whole run's bound; with steps: readiness's
	 * (0 = READY_DEFAULT_TIMEOUT_MS). */
	uint64_t timeout_ms;
	int stop_signal;      /* sent on timeout / first interrupt / after the last step */
	uint64_t grace_ms;    /* then SIGKILL */
	int tty_master;       /* relay our stdin/stdout to this pty master, or -1 */
	/* Steps run one at a time once the program exec'd; after the last
	 * the program gets its stop signal. Results go to step_results. */
	const struct run_step *steps;
	size_t n_steps;
	struct step_result *step_results;
	uint64_t step_timeout_ms; /* each probe step's bound (0 = the default) */
	/* Told, about once a second, while a step waits for PORT to
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
	bool used_fanotify, used_ptrace, used_notify, used_ebpf;
	uint64_t duration_ms;
	/* With steps: every wait step passed; else why not, when it was not
	 * the program's exit (then NOT_READY is empty). */
	bool ready;
	char not_ready[200];
};

/* Run SPEC in the sandbox, recording into T (which may be NULL when
 * O->mode is TRACER_OFF). Fails only when the run could not happen or a
 * recorder failed; the program's own failure is in RES. */
int tracer_run(struct sandbox_spec *spec, const struct tracer_opts *o, struct trace *t,
	       struct run_result *res, struct perr *err);

/* The recorders RES used, in order ("fanotify", then "notify" or
 * "ptrace"); unused slots are NULL. */
void run_tracers(const struct run_result *res, const char *out[TRACE_TRACERS_MAX]);

/* docker's convention: the program's exit code, or 128 + signal. */
int run_exit_code(const struct run_result *res);

/* A pseudo-terminal pair for interactive sessions. */
int pty_open(int *master, int *slave, struct perr *err);

#endif
