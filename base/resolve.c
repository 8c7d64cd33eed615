#define _GNU_SOURCE
#include "base/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

bool resolve_no_openat2;

#define MAX_SYMLINKS 40

static int normalize(const char *name, char *out, size_t max, bool clamp, struct perr *err);

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = { .flags = flags, .resolve = resolve };
	if (resolve_no_openat2) {
		errno = ENOSYS;
		return -1;
	}
	long r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (r < 0 && errno == ENOSYS)
		resolve_no_openat2 = true; /* Linux < 5.6: remember */
	return r;
}

/* Userspace RESOLVE_IN_ROOT: a stack of directory fds from the root down;
 * ".." pops (never past the root), symlinks are read and spliced into the
 * remaining path, absolute ones restart from the root. */
struct walk {
	int *fds;
	size_t n, cap;
};

static int walk_top(const struct walk *w, int rootfd)
{
	return w->n ? w->fds[w->n - 1] : rootfd;
}

static void walk_pop(struct walk *w)
{
	if (w->n)
		close(w->fds[--w->n]);
}

static void walk_push(struct walk *w, int fd)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->fds = xrealloc(w->fds, w->cap * sizeof(int));
	}
	w->fds[w->n++] = fd;
}

static void walk_free(struct walk *w)
{
	while (w->n)
		walk_pop(w);
	free(w->fds);
}

/* Returns 1 when FD (a component) was a symlink and REM was rewritten. */
static int splice_symlink(int fd, char **rem, struct walk *w, int *links, struct perr *err)
{
	char target[4097];
	ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
	if (n < 0)
		return perr_set(err, errno, "readlink");
	target[n] = 0;
	if (++*links > MAX_SYMLINKS)
		return perr_set(err, ELOOP, "symlink chain");
	if (target[0] == '/')
		while (w->n)
			walk_pop(w);
	char *next = xasprintf("%s/%s", target, *rem ? *rem : "");
	free(*rem);
	*rem = next;
	return 1;
}

static int root_open_dir_fallback(int rootfd, const char *rel, struct perr *err)
{
	struct walk w = { 0 };
	char *rem = xstrdup(rel);
	int links = 0, ret = -1;
	while (rem && *rem) {
		char *slash = strchr(rem, '/');
		char *comp = rem, *rest = slash ? xstrdup(slash + 1) : NULL;
		if (slash)
			*slash = 0;
		struct stat st;
		int fd = -2;
		if (!*comp || !strcmp(comp, ".")) {
			/* nothing */
		} else if (!strcmp(comp, "..")) {
			walk_pop(&w);
		} else if ((fd = openat(walk_top(&w, rootfd), comp, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
			   fstat(fd, &st) < 0) {
			perr_set(err, errno, "'%s'", comp);
			if (fd >= 0)
				close(fd);
			free(rest);
			goto out;
		}
		free(rem);
		rem = rest;
		if (fd < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			int r = splice_symlink(fd, &rem, &w, &links, err);
			close(fd);
			if (r < 0)
				goto out;
		} else if (!S_ISDIR(st.st_mode)) {
			close(fd);
			perr_set(err, ENOTDIR, "'%s'", rel);
			goto out;
		} else {
			walk_push(&w, fd);
		}
	}
	ret = fcntl(walk_top(&w, rootfd), F_DUPFD_CLOEXEC, 0);
	if (ret < 0)
		perr_set(err, errno, "dup");
out:
	free(rem);
	walk_free(&w);
	return ret;
}

int root_open_dir(int rootfd, const char *rel, struct perr *err)
{
	long fd = sys_openat2(rootfd, *rel ? rel : ".", O_PATH | O_DIRECTORY | O_CLOEXEC,
			      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return perr_set(err, errno, "cannot open directory '/%s' in the root", rel);
	int r = root_open_dir_fallback(rootfd, rel, err);
	return r < 0 ? perr_wrap(err, "cannot open directory '/%s' in the root", rel) : r;
}

int root_open_file(int rootfd, const char *rel, int flags, struct perr *err)
{
	long fd = sys_openat2(rootfd, *rel ? rel : ".", (uint64_t)flags | O_CLOEXEC,
			      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return perr_set(err, errno, "cannot open '/%s' in the root", rel);
	/* Fallback: the parent through the fd walk, the leaf without following;
	 * a symlinked leaf is read and resolved again from its directory. */
	char cur[2 * PATH_MAX + 2], parent[PATH_MAX], target[PATH_MAX];
	snprintf(cur, sizeof(cur), "%s", rel);
	for (int hops = 0; hops <= MAX_SYMLINKS; hops++) {
		char clean[2 * PATH_MAX + 2];
		if (normalize(cur, clean, PATH_MAX - 1, true, err) < 0)
			return -1;
		const char *base = split_parent(clean, parent, sizeof(parent));
		int pfd = root_open_dir(rootfd, parent, err);
		if (pfd < 0)
			return -1;
		int f = *base ? openat(pfd, base, flags | O_NOFOLLOW | O_CLOEXEC)
			      : openat(pfd, ".", flags | O_CLOEXEC);
		if (f >= 0 || errno != ELOOP) {
			int e = errno;
			close(pfd);
			return f >= 0 ? f : perr_set(err, e, "cannot open '/%s' in the root", rel);
		}
		ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
		close(pfd);
		if (n < 0)
			return perr_set(err, errno, "cannot read link '/%s'", clean);
		target[n] = 0;
		if (target[0] == '/')
			snprintf(cur, sizeof(cur), "%s", target);
		else
			snprintf(cur, sizeof(cur), "%s/%s", parent, target);
	}
	return perr_set(err, ELOOP, "cannot open '/%s' in the root", rel);
}

int open_beneath_nofollow(int dirfd, const char *rel, int flags, struct perr *err)
{
	long fd = sys_openat2(dirfd, rel, (uint64_t)flags | O_NOFOLLOW,
			      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS) {
		if (errno == ELOOP)
			return perr_set(err, 0, "'%s' is or goes through a symlink", rel);
		return perr_set(err, errno, "cannot open '%s'", rel);
	}
	/* Fallback: every component opened with O_NOFOLLOW, no "..". */
	cleanup_free char *copy = xstrdup(rel);
	char *save = NULL, *comp = strtok_r(copy, "/", &save);
	cleanup_close int cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, "..") || !strcmp(comp, "."))
			return perr_set(err, EINVAL, "cannot open '%s'", rel);
		int f = openat(cur, comp, (next ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
		if (f < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				return perr_set(err, 0, "'%s' is or goes through a symlink", rel);
			return perr_set(err, errno, "cannot open '%s'", rel);
		}
		close(cur);
		cur = f;
		comp = next;
	}
	return steal_fd(&cur);
}

/* Lexical normalisation shared by entry names and symlink targets: empty
 * and "." components dropped; ".." refused, or with CLAMP removing one
 * component but never going above the root (RESOLVE_IN_ROOT semantics). */
static int normalize(const char *name, char *out, size_t max, bool clamp, struct perr *err)
{
	size_t len = 0;
	const char *p = name;
	if (strlen(name) > max)
		return perr_set(err, 0, "path longer than %zu bytes", max);
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t clen = (size_t)(end - p);
		if (clen == 0)
			break;
		if (clen == 2 && !strncmp(p, "..", 2)) {
			if (!clamp)
				return perr_set(err, 0, "'%s': '..' components are refused", name);
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--; /* the separator */
		} else if (!(clen == 1 && *p == '.')) {
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, clen);
			len += clen;
		}
		p = end;
	}
	out[len] = 0;
	return 0;
}

int clean_entry_path(const char *name, char *out, size_t max, struct perr *err)
{
	return normalize(name, out, max, false, err);
}

int clean_in_root_path(const char *name, char *out, size_t max, struct perr *err)
{
	return normalize(name, out, max, true, err);
}

const char *split_parent(const char *path, char *parent, size_t sz)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		parent[0] = 0;
		return path;
	}
	snprintf(parent, sz, "%.*s", (int)(slash - path), path);
	return slash + 1;
}

void cut_to_parent(char *path)
{
	char *slash = strrchr(path, '/');
	*(slash ? slash : path) = 0;
}
