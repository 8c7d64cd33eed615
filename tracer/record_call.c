/* What both syscall recorders (ptrace stops and seccomp notifications)
 * read of a path-taking call: its paths, made absolute the way the kernel
 * would look them up, from the caller's memory and /proc. */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/resolve.h"
#include "tracer/syscalls.h"

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
		ssize_t n = fd_path(fd, canon, sizeof(canon));
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

int read_string(pid_t pid, uint64_t addr, char *buf, size_t sz)
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
static void record_dotdot_prefixes(struct loop *l, const char *p, enum trace_op op, uint32_t exe,
				   int src)
{
	char prefix[4096];
	for (const char *s = strstr(p, "/.."); s; s = strstr(s + 1, "/.."))
		if ((s[3] == '/' || !s[3]) && s > p && s - p < (long)sizeof(prefix)) {
			snprintf(prefix, sizeof(prefix), "%.*s", (int)(s - p), p);
			const char *last = strrchr(prefix, '/');
			if (strcmp(last, "/..") && !is_virtual(prefix))
				trace_add(l->t, prefix, op == OP_CHDIR ? OP_CHDIR : OP_STAT, exe, src);
		}
}

int call_abs(struct loop *l, const char *base, const char *rel, char *out, size_t sz,
	     enum trace_op op, uint32_t exe, int src)
{
	if ((size_t)snprintf(out, sz, "%s/%s", rel[0] == '/' ? "" : base, rel) >= sz)
		return -1;
	if (tidy_path(out)) {
		record_dotdot_prefixes(l, out, op, exe, src);
		resolve_dotdot(l, out, sz);
	}
	return 0;
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
	return call_abs(l, base, rel, out, sz, op, exe, l->use_notify ? SRC_NOTIFY : SRC_PTRACE);
}

static enum trace_op open_op(uint64_t flags)
{
	if (flags & O_PATH)
		return OP_OPEN_PATH;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		return OP_OPEN_WRITE;
	return (flags & O_DIRECTORY) ? OP_OPEN_DIR : OP_OPEN_READ;
}

enum trace_op call_op(const struct sc_row *r, const __u64 *a)
{
	return r->kind == SC_OPEN ? open_op(a[r->flags]) : r->op;
}

/* The paths of call R (arguments ARGS) made by PID, read from its memory:
 * nothing is recorded yet but the directories a ".." climbs out of. */
void call_read(struct loop *l, pid_t pid, const struct sc_row *r, const __u64 *a, uint32_t exe,
	       struct call_paths *out)
{
	out->n = 0;
	enum trace_op op = call_op(r, a);
	if (r->kind == SC_OPENAT2) {
		uint64_t fl = 0;
		struct iovec lo = { &fl, sizeof(fl) }, re = { (void *)(uintptr_t)a[r->flags], sizeof(fl) };
		if (process_vm_readv(pid, &lo, 1, &re, 1, 0) == sizeof(fl))
			op = open_op(fl);
	}
	out->op = op;
	for (int i = 0; i < 2; i++) {
		const struct sc_path *p = &r->p[i];
		char rel[4096];
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
		char *path = out->path[out->n];
		if (abs_path(l, pid, dirfd, rel, path, sizeof(out->path[0]), op, exe) < 0) {
			trace_set_lost(l->t, "a relative path's directory could not be read");
			continue;
		}
		if (!is_virtual(path))
			out->n++;
	}
}

void call_record(struct loop *l, const struct call_paths *c, uint32_t exe, int src)
{
	for (int i = 0; i < c->n; i++)
		trace_add(l->t, c->path[i], c->op, exe, src);
}
