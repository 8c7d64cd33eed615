/* The tracer's event loop state, shared by the loop (tracer.c) and its two
 * recorders (record_ptrace.c, record_fanotify.c). Internal to tracer/. */
#ifndef PARE_LOOP_H
#define PARE_LOOP_H

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
	bool use_fan, use_ptrace;
	struct proc *procs;
	size_t n_procs, cap_procs;
	bool init_gone, stop_sent, kill_sent;
	uint64_t deadline, kill_at;
	struct run_result *res;
	char self_exe[4096];
	pid_t helper;          /* the HTTP probe helper, or 0 */
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
uint32_t exe_of(struct loop *l, pid_t pid);
bool is_virtual(const char *p);

/* record_ptrace.c: a ptrace stop (waitpid's STATUS for PID). */
void ptrace_on_stop(struct loop *l, pid_t pid, int status);

/* record_fanotify.c */
int fan_open(struct perr *err);
int fan_mark(int fan, pid_t init, struct perr *err);
void fan_drain(struct loop *l);

#endif
