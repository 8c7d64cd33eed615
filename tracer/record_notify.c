/* The seccomp user-notification recorder: the tracer's filter answers
 * SECCOMP_RET_USER_NOTIF on path-taking syscalls, each process pid 1
 * starts sends its listener here (tracer/confine.c), and every
 * notification is read (paths from the caller's memory), checked still
 * valid, recorded, and let through with SECCOMP_USER_NOTIF_FLAG_CONTINUE.
 * Nothing stops on exit and nothing follows forks: the filter is
 * inherited. Where the kernel has it (6.6), the listener wakes us on the
 * caller's CPU, which is most of what a wake-up costs. */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/resolve.h"

/* Linux 6.6; Debian 12's headers and libseccomp 2.5.4 predate it. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define AUDIT_ARCH_I386_ 0x40000003u /* AUDIT_ARCH_I386: 32-bit pointers */
#define X32_BIT 0x40000000

bool notify_available(void)
{
	uint32_t action = SECCOMP_RET_USER_NOTIF;
	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

/* Only a seccomp listener is kept: the fd came out of the sandbox. */
static bool is_listener(int fd)
{
	char what[64];
	return fd_path(fd, what, sizeof(what)) > 0 && !strcmp(what, "anon_inode:seccomp notify");
}

void notify_take(struct loop *l)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(l->sb.listener_fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == 0) { /* pid 1 is gone */
		close(l->sb.listener_fd);
		l->sb.listener_fd = -1;
	}
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (!is_listener(fd)) {
		close(fd);
		return;
	}
	/* EINVAL before 6.6: woken across CPUs, as ptrace is. */
	(void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	/* The program's filter is in place and its exec waits for us: what
	 * the eBPF recorder sees from now on is the program's. */
	struct perr err;
	if (l->bpf && ebpf_arm(l->bpf, l->sb.init_pid, &err) < 0)
		trace_set_lost(l->t, err.msg);
	l->listeners = xrealloc(l->listeners, (l->n_listeners + 1) * sizeof(int));
	l->listeners[l->n_listeners++] = fd;
}

/* ---- execs: what the kernel will run, read at entry ---- */

struct exec_seen {
	char exe[4096];    /* canonical path of what will run (the interpreter of a #!) */
	struct strv argv;  /* as /proc/PID/cmdline will show it */
};

/* PATH (absolute, in the sandbox) with every symlink resolved, as
 * /proc/PID/exe shows it; false when it is no executable regular file. */
static bool canonical_exe(struct loop *l, const char *path, char *out, size_t sz)
{
	struct perr err;
	cleanup_close int fd = l->root_fd >= 0 ? root_open_file(l->root_fd, path, O_PATH | O_CLOEXEC, &err) : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return false;
	return fd_path(fd, out, sz) > 0 && out[0] == '/';
}

/* The "#!" line of the canonical file EXE: its interpreter and optional
 * argument, split as the kernel does; false when it has none. */
static bool shebang(struct loop *l, const char *exe, char *interp, size_t isz, char *arg,
		    size_t asz)
{
	struct perr err;
	cleanup_close int fd =
		root_open_file(l->root_fd, exe, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, &err);
	char line[256];
	ssize_t n = fd >= 0 ? pread(fd, line, sizeof(line) - 1, 0) : -1;
	if (n < 2 || line[0] != '#' || line[1] != '!')
		return false;
	line[n] = 0;
	char *s = line + 2, *nl = strchr(s, '\n');
	if (nl)
		*nl = 0;
	s += strspn(s, " \t");
	size_t len = strcspn(s, " \t");
	if (!len)
		return false;
	snprintf(interp, isz, "%.*s", (int)len, s);
	s += len;
	s += strspn(s, " \t");
	char *end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = 0;
	snprintf(arg, asz, "%s", s);
	return true;
}

/* argv's strings from the caller's memory (pointers of PSZ bytes). */
static int read_argv(pid_t pid, uint64_t addr, size_t psz, struct strv *out)
{
	size_t total = 0;
	for (size_t i = 0; i < 65536 && addr; i++) {
		uint64_t p = 0;
		struct iovec lo = { &p, psz }, re = { (void *)(uintptr_t)(addr + i * psz), psz };
		if (process_vm_readv(pid, &lo, 1, &re, 1, 0) != (ssize_t)psz)
			return -1;
		if (!p)
			return 0;
		char s[4096];
		if (read_string(pid, p, s, sizeof(s)) < 0 || (total += strlen(s) + 1) > 131072)
			return -1;
		strv_push(out, xstrdup(s));
	}
	return 0;
}

/* What exec call R (ARGS, PATH already absolute) will run and with which
 * argv (appended to EX's, empty), "#!" lines followed as the kernel
 * follows them (4 deep). */
static bool exec_read(struct loop *l, const struct seccomp_notif *req, const struct sc_row *r,
		      const char *path, struct exec_seen *ex)
{
	size_t psz = req->data.arch == AUDIT_ARCH_I386_ || (req->data.nr & X32_BIT) ? 4 : 8;
	cleanup_strv struct strv given = { 0 };
	if (read_argv(req->pid, req->data.args[r->p[0].path + 1], psz, &given) < 0)
		return false;
	if (!canonical_exe(l, path, ex->exe, sizeof(ex->exe)))
		return false;
	/* Each "#!" puts its interpreter (and argument) before the file's
	 * name as the caller gave it, in place of argv[0]. */
	cleanup_strv struct strv front = { 0 };
	char name[8192];
	snprintf(name, sizeof(name), "%s", path);
	for (int depth = 0; depth < 4; depth++) {
		char interp[256], arg[256];
		if (!shebang(l, ex->exe, interp, sizeof(interp), arg, sizeof(arg)))
			break;
		struct strv f = { 0 };
		strv_push(&f, xstrdup(interp));
		if (arg[0])
			strv_push(&f, xstrdup(arg));
		strv_push(&f, xstrdup(name));
		for (size_t i = depth ? 1 : 0; i < front.n; i++)
			strv_push(&f, xstrdup(front.v[i]));
		strv_free(&front);
		front = f;
		snprintf(name, sizeof(name), "%s", interp);
		if (!canonical_exe(l, interp, ex->exe, sizeof(ex->exe)))
			return false;
	}
	for (size_t i = 0; i < front.n; i++)
		strv_push(&ex->argv, xstrdup(front.v[i]));
	for (size_t i = front.n ? 1 : 0; i < given.n; i++)
		strv_push(&ex->argv, xstrdup(given.v[i]));
	return true;
}

/* ---- one notification ---- */

static void on_notification(struct loop *l, int fd, struct seccomp_notif *req)
{
	pid_t pid = (pid_t)req->pid;
	const struct sc_row *r = sc_row_of(req->data.arch, req->data.nr);
	bool exec = r && r->op == OP_EXEC;
	uint32_t exe = exe_of(l, pid);
	/* Before its execve the caller is our own clone: its calls are not
	 * the program's. */
	if (l->o->syscalls && (exe != UINT32_MAX || exec))
		trace_add_syscall(l->t, req->data.nr, req->data.arch, exe);
	if (!r)
		return;
	struct call_paths c;
	call_read(l, pid, r, req->data.args, exe, &c);
	struct exec_seen ex; /* exe is written only when it is read */
	ex.argv = (struct strv){ 0 };
	bool ran = exec && c.n && exec_read(l, req, r, c.path[0], &ex);
	/* The caller may have died and its pid been reused while we read:
	 * then what we read is another process's memory. */
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) == 0) {
		call_record(l, &c, exe, SRC_NOTIFY);
		if (ran) {
			uint32_t now = trace_exe(l->t, ex.exe);
			trace_add(l->t, ex.exe, OP_EXEC, now, SRC_NOTIFY);
			trace_add_exec(l->t, now, ex.argv.v, ex.argv.n);
		}
	}
	if (exec)
		proc_forget(l, pid); /* it runs something else from now on */
	strv_free(&ex.argv);
}

static void handle_one(struct loop *l, int fd)
{
	struct seccomp_notif req;
	memset(&req, 0, sizeof(req)); /* the kernel insists */
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		return; /* ENOENT: the caller was killed before we got to it */
	l->t->notifications++;
	on_notification(l, fd, &req);
	struct seccomp_notif_resp resp = { .id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
	(void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp); /* ENOENT: it died meanwhile */
}

bool notify_handle(struct loop *l, size_t i, short revents)
{
	int fd = l->listeners[i];
	if (revents & POLLIN) {
		handle_one(l, fd);
		return true;
	}
	if (!(revents & (POLLHUP | POLLERR | POLLNVAL)))
		return true;
	/* Every process under this filter is gone. */
	close(fd);
	l->listeners[i] = l->listeners[--l->n_listeners];
	return false;
}
