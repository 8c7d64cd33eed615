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

#include "base/resolve.h"
#include "tracer/syscalls.h"

/* glibc's <sys/ptrace.h> clashes with <linux/ptrace.h>; declare the call. */
extern long ptrace(int request, ...);

/* Lexical clean-up that keeps "..": "//" and "/./" collapse, trailing "/"
 * goes. Returns true when a ".." component remains. */
static bool tidy_path(char *p)
{
	char *w = p;
	bool dotdot = false;
	for (const char *r = p; *r;) {
		if (*r == '/') {
			while (r[1] == '/')
				r++;
			if (r[1] == '.' && (r[2] == '/' || !r[2])) {
				r += 2;
				continue;
			}
			if (r[1] == '.' && r[2] == '.' && (r[3] == '/' || !r[3]))
				dotdot = true;
		}
		*w++ = *r++;
	}
	*w = 0;
	while (w > p + 1 && w[-1] == '/')
		*--w = 0;
	if (!*p)
		strcpy(p, "/");
	return dotdot;
}

/* Resolve ".." physically, in the sandbox's root, where the directory
 * exists; lexically (never above "/") where it does not. */
static void resolve_dotdot(struct loop *l, char *p, size_t sz)
{
	char *slash = strrchr(p, '/');
	const char *last = slash + 1;
	bool whole = !strcmp(last, "..");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%.*s", whole ? (int)strlen(p) : (int)(slash - p), p);
	struct perr err;
	int fd = l->root_fd >= 0 ? root_open_dir(l->root_fd, dir + 1, &err) : -1;
	char canon[4096];
	if (fd >= 0) {
		char link[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = read_link(link, canon, sizeof(canon));
		close(fd);
		if (n > 0 && canon[0] == '/') {
			if (whole)
				snprintf(p, sz, "%s", canon);
			else
				snprintf(p, sz, "%s/%s", strcmp(canon, "/") ? canon : "", last);
			return;
		}
	}
	if (clean_in_root_path(p, canon, sizeof(canon) - 1, &err) == 0)
		snprintf(p, sz, "/%s", canon);
}

static int read_string(pid_t pid, uint64_t addr, char *buf, size_t sz)
{
	size_t got = 0;
	while (got < sz - 1) {
		size_t page = 4096 - ((addr + got) & 4095);
		size_t want = page < sz - 1 - got ? page : sz - 1 - got;
		struct iovec local = { buf + got, want };
		struct iovec remote = { (void *)(uintptr_t)(addr + got), want };
		ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (n <= 0)
			return -1;
		if (memchr(buf + got, 0, n))
			return 0;
		got += n;
	}
	return -1; /* longer than PATH_MAX: the kernel refuses it too */
}

/* The directories a ".." climbs out of are looked up too (they may be
 * symlinks the program needs): record each prefix that ends before one. */
static void record_dotdot_prefixes(struct loop *l, const char *p, enum trace_op op, uint32_t exe)
{
	char prefix[4096];
	for (const char *s = strstr(p, "/.."); s; s = strstr(s + 1, "/.."))
		if ((s[3] == '/' || !s[3]) && s > p && s - p < (long)sizeof(prefix)) {
			snprintf(prefix, sizeof(prefix), "%.*s", (int)(s - p), p);
			const char *last = strrchr(prefix, '/');
			if (strcmp(last, "/..") && !is_virtual(prefix))
				trace_add(l->t, prefix, op == OP_CHDIR ? OP_CHDIR : OP_STAT, exe,
					  SRC_PTRACE);
		}
}

/* The absolute path the kernel would look up for (DIRFD, REL) in PID. */
static int abs_path(struct loop *l, pid_t pid, int dirfd, const char *rel, char *out, size_t sz,
		    enum trace_op op, uint32_t exe)
{
	char base[4096] = "";
	if (rel[0] != '/') {
		char link[64];
		if (dirfd == AT_FDCWD)
			snprintf(link, sizeof(link), "/proc/%d/cwd", (int)pid);
		else
			snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, dirfd);
		if (read_link(link, base, sizeof(base)) < 0 || base[0] != '/')
			return -1;
	}
	if ((size_t)snprintf(out, sz, "%s/%s", base, rel) >= sz)
		return -1;
	if (tidy_path(out)) {
		record_dotdot_prefixes(l, out, op, exe);
		resolve_dotdot(l, out, sz);
	}
	return 0;
}

static enum trace_op open_op(uint64_t flags)
{
	if (flags & O_PATH)
		return OP_OPEN_PATH;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		return OP_OPEN_WRITE;
	return (flags & O_DIRECTORY) ? OP_OPEN_DIR : OP_OPEN_READ;
}

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
	const struct sc_row *r = &sc_table[idx];
	const __u64 *a = info.seccomp.args;
	enum trace_op op = r->op;
	if (r->kind == SC_OPEN)
		op = open_op(a[r->flags]);
	else if (r->kind == SC_OPENAT2) {
		uint64_t fl = 0;
		struct iovec lo = { &fl, sizeof(fl) }, re = { (void *)(uintptr_t)a[r->flags], sizeof(fl) };
		if (process_vm_readv(pid, &lo, 1, &re, 1, 0) == sizeof(fl))
			op = open_op(fl);
	}
	for (int i = 0; i < 2; i++) {
		const struct sc_path *p = &r->p[i];
		char rel[4096], path[8192];
		if (p->path < 0 && p->dirfd < 0)
			continue;
		if (r->kind == SC_FD) {
			strcpy(rel, "");
		} else if (!a[p->path] || read_string(pid, a[p->path], rel, sizeof(rel)) < 0) {
			continue; /* NULL (utimensat on an fd) or unreadable: the call fails too */
		}
		if (!rel[0] && r->kind != SC_FD)
			continue; /* AT_EMPTY_PATH: the fd's file was recorded when opened */
		int dirfd = p->dirfd >= 0 ? (int)a[p->dirfd] : AT_FDCWD;
		if (abs_path(l, pid, dirfd, rel, path, sizeof(path), op, exe) < 0) {
			trace_set_lost(l->t, "a relative path's directory could not be read");
			continue;
		}
		if (!is_virtual(path))
			trace_add(l->t, path, op, exe, SRC_PTRACE);
	}
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
