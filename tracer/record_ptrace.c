/* The ptrace recorder: seccomp stops on path-taking syscalls (the table in
 * syscalls.c says which and where the paths are), execs with their argv,
 * and the fork/clone events that tell which executable a child runs. */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ptrace.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tracer/syscalls.h"

/* glibc's <sys/ptrace.h> clashes with <linux/ptrace.h>; declare the call. */
extern long ptrace(int request, ...);

static void on_seccomp(struct loop *l, pid_t pid)
{
	struct ptrace_syscall_info info;
	l->t->stops_ptrace++;
	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info), &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_SECCOMP)
		return;
	uint32_t exe = exe_of(l, pid);
	if (l->o->syscalls)
		trace_add_syscall(l->t, (int)info.seccomp.nr, info.arch, exe);
	uint32_t idx = info.seccomp.ret_data;
	if (idx >= sc_table_len)
		return;
	struct call_paths c;
	call_read(l, pid, &sc_table[idx], info.seccomp.args, exe, &c);
	call_record(l, &c, exe, SRC_PTRACE);
}

static void split_argv(char *buf, size_t n, struct strv *out)
{
	for (size_t i = 0; i < n;) {
		size_t len = strnlen(buf + i, n - i);
		strv_push(out, strndup(buf + i, len));
		i += len + 1;
	}
}

static void on_exec(struct loop *l, pid_t pid)
{
	unsigned long former = 0;
	ptrace(PTRACE_GETEVENTMSG, pid, 0, &former);
	if ((pid_t)former != pid)
		proc_gone(l, (pid_t)former); /* exec from a non-leader thread */
	proc_forget(l, pid);
	uint32_t exe = exe_of(l, pid);
	if (exe == UINT32_MAX)
		return;
	if (!is_virtual(l->t->exes.v[exe]))
		trace_add(l->t, l->t->exes.v[exe], OP_EXEC, exe, SRC_PTRACE);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	static char buf[131072];
	ssize_t n = fd >= 0 ? read_full(fd, buf, sizeof(buf)) : -1;
	cleanup_strv struct strv argv = { 0 };
	if (n > 0)
		split_argv(buf, (size_t)n, &argv);
	trace_add_exec(l->t, exe, argv.v, argv.n);
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void ptrace_on_stop(struct loop *l, pid_t pid, int status)
{
	int sig = WSTOPSIG(status), event = (unsigned)status >> 16;
	struct proc *p = proc_find(l, pid, true);
	bool fresh = !p->started;
	p->started = true;
	switch (event) {
	case PTRACE_EVENT_SECCOMP:
		on_seccomp(l, pid);
		break;
	case PTRACE_EVENT_EXEC:
		on_exec(l, pid);
		break;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE: {
		/* The child runs the same executable until it execs: known now,
		 * even if it is gone before its opens are read from fanotify. */
		unsigned long child = 0;
		uint32_t exe = exe_of(l, pid);
		if (exe != UINT32_MAX && ptrace(PTRACE_GETEVENTMSG, pid, 0, &child) == 0 && child)
			proc_find(l, (pid_t)child, true)->exe = (int32_t)exe;
		break;
	}
	case PTRACE_EVENT_STOP:
		/* A new tracee's first stop, or a group-stop (job control): keep
		 * the latter stopped until SIGCONT, as without a tracer. */
		if (!fresh && is_stop_signal(sig)) {
			ptrace(PTRACE_LISTEN, pid, 0, 0);
			return;
		}
		break;
	default:
		ptrace(PTRACE_CONT, pid, 0, event ? 0 : sig); /* signal-delivery-stop */
		return;
	}
	ptrace(PTRACE_CONT, pid, 0, 0);
}
