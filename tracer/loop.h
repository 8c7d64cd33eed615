/* The tracer's event loop state, shared by the loop (tracer.c) and its two
 * recorders (record_ptrace.c, record_fanotify.c). Internal to tracer/. */
#ifndef PARE_LOOP_H
#define PARE_LOOP_H

#include <linux/types.h>
#include <poll.h>

#include "tracer/syscalls.h"
#include "tracer/tracer.h"


/* Per-process state: tids we have seen, and their executable. */

struct proc {
	pid_t pid;      /* 0 = empty slot */
	int32_t exe;    /* trace exe index, -1 = not known yet */
	bool started;   /* its first ptrace stop was seen */
};

struct loop {
	struct trace *t;
	const struct tracer_opts *o;
	struct sandbox sb;
	int sigfd, fan, root_fd;
	bool use_fan, use_ptrace, use_notify;
	struct ebpf_rec *bpf;  /* the eBPF recorder, or NULL */
	bool fan_execs_only;   /* fanotify beside notify: the syscalls show the rest */
	int *listeners;        /* seccomp listeners, one per process pid 1 started */
	size_t n_listeners;
	struct pollfd *pf;     /* the loop's poll set */
	size_t cap_pf;
	struct proc *procs;
	size_t n_procs, cap_procs;
	bool init_gone, stop_sent, kill_sent;
	uint64_t deadline, kill_at;
	struct run_result *res;
	char self_exe[4096];
	/* The steps (steps.c): the one running or next, and its bounds. */
	size_t step;
	bool steps_begun, step_running, step_timed_out;
	uint64_t step_started, step_deadline, ready_deadline, retry_at;
	struct perr step_err;
	bool step_failed;      /* STEP_ERR: a step could not be started */
	pid_t helper;          /* the HTTP probe helper of the running step, or 0 */
	int helper_fd;
	char *helper_buf;
	size_t helper_len;
	unsigned wait_port;          /* the helper waits for this port to accept */
	uint64_t wait_since, wait_told;
};


/* tracer.c: the process table and what both recorders need. */
struct proc *proc_find(struct loop *l, pid_t pid, bool create);
void proc_forget(struct loop *l, pid_t pid);
void proc_gone(struct loop *l, pid_t pid);
ssize_t read_link(const char *path, char *buf, size_t sz);
/* What our fd FD names, as /proc/self/fd shows it (read_link's rules). */
ssize_t fd_path(int fd, char *buf, size_t sz);
uint32_t exe_of(struct loop *l, pid_t pid);
bool is_virtual(const char *p);

/* tracer.c: the program's stop signal, once. */
void request_stop(struct loop *l);
/* The helper's output so far, on its fd (EOF: *DONE). */
void helper_read(struct loop *l, bool *done);

/* steps.c: what runs beside the program, driven by the loop. */
void steps_begin(struct loop *l);
void steps_helper_done(struct loop *l);
void steps_exec_exited(struct loop *l, size_t idx, int status);
void steps_timer(struct loop *l);
uint64_t steps_wakeup(const struct loop *l); /* 0: none */
void steps_end(struct loop *l);

/* record_call.c: a path-taking call's paths, read from the caller. */
struct call_paths {
	enum trace_op op;
	int n;
	char path[2][8192];
};
void call_read(struct loop *l, pid_t pid, const struct sc_row *r, const __u64 *args,
	       uint32_t exe, struct call_paths *out);
void call_record(struct loop *l, const struct call_paths *c, uint32_t exe, int src);
int read_string(pid_t pid, uint64_t addr, char *buf, size_t sz);
/* The operation call R (arguments ARGS) is; openat2's is inside its struct. */
enum trace_op call_op(const struct sc_row *r, const __u64 *args);
/* REL made absolute against BASE (its directory; unused when REL is
 * absolute) as the kernel would look it up, ".." resolved in the
 * sandbox's root; the directories ".." climbs out of are recorded (SRC). */
int call_abs(struct loop *l, const char *base, const char *rel, char *out, size_t sz,
	     enum trace_op op, uint32_t exe, int src);

/* record_notify.c: seccomp user notification. */
bool notify_available(void);
/* A listener arrived on sb.listener_fd (readable). */
void notify_take(struct loop *l);
/* Listener I is readable (a notification) or hung up (its processes are
 * gone): false once it is closed and removed. */
bool notify_handle(struct loop *l, size_t i, short revents);

/* record_ptrace.c: a ptrace stop (waitpid's STATUS for PID). */
void ptrace_on_stop(struct loop *l, pid_t pid, int status);

/* record_ebpf.c: one-path calls from a raw tracepoint on syscall exit
 * (root, kernels that let it load). */
struct ebpf_rec;
int ebpf_open(struct loop *l, struct perr *err); /* sets l->bpf */
void ebpf_close(struct ebpf_rec *r);
int ebpf_poll_fd(const struct ebpf_rec *r);
/* Record the pid namespace of the sandbox whose pid 1 is INIT from now on. */
int ebpf_arm(struct ebpf_rec *r, pid_t init, struct perr *err);
void ebpf_drain(struct ebpf_rec *r);

/* record_fanotify.c */
int fan_open(struct perr *err);
int fan_mark(int fan, pid_t init, bool execs_only, struct perr *err);
void fan_drain(struct loop *l);

#endif
