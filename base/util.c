#define _GNU_SOURCE
#include "base/util.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int perr_set(struct perr *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->errnum = errnum;
	if (errnum) {
		size_t len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
	}
	return -1;
}

int perr_wrap(struct perr *err, const char *fmt, ...)
{
	char ctx[1024], old[sizeof(err->msg)];
	va_list ap;
	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation keeps the outer context, which names the subject. */
	size_t n = strlen(ctx);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, ctx, n);
	memcpy(err->msg + n, ": ", 2);
	size_t room = sizeof(err->msg) - n - 3, olen = strnlen(old, sizeof(old) - 1);
	if (olen > room)
		olen = room;
	memcpy(err->msg + n + 2, old, olen);
	err->msg[n + 2 + olen] = 0;
	return -1;
}

static void oom(void)
{
	fputs("pare: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

bool ascii_lower(char *out, size_t sz, const char *in)
{
	size_t n = strlen(in);
	if (n >= sz)
		return false;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
	return true;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	char buf[64];
	size_t len = s ? strlen(s) : 0;
	unsigned shift = 0;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len + 1);
	/* docker's spellings too: 512m, 512mb, 512MiB, 100b */
	if (len > 1 && (buf[len - 1] == 'b' || buf[len - 1] == 'B'))
		buf[--len] = 0;
	if (len > 2 && (buf[len - 1] == 'i' || buf[len - 1] == 'I') &&
	    strchr(suffixes, toupper((unsigned char)buf[len - 2])))
		buf[--len] = 0;
	const char *p = strchr(suffixes, toupper((unsigned char)buf[len - 1]));
	if (p && *p) {
		shift = 10 * (unsigned)(p - suffixes + 1);
		buf[len - 1] = 0;
	}
	uint64_t v;
	if (parse_u64(buf, &v) < 0 || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int remove_dir_contents(int dfd, struct perr *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int ret = 0;
	if (!d) {
		close(dfd);
		return perr_set(err, errno, "cannot list directory");
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (remove_tree_at(dirfd(d), de->d_name, err) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(d);
	return ret;
}

int remove_tree_at(int dirfd, const char *name, struct perr *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return perr_set(err, errno, "cannot stat '%s'", name);
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return perr_set(err, errno, "cannot open '%s'", name);
		/* A directory without write/exec bits (mode 0555 dirs exist in
		 * images) must be opened up before its entries can go. */
		if ((st.st_mode & 0700) != 0700)
			fchmod(fd, 0700);
		if (remove_dir_contents(fd, err) < 0)
			return perr_wrap(err, "%s", name);
		if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return perr_set(err, errno, "cannot remove '%s'", name);
		return 0;
	}
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return perr_set(err, errno, "cannot remove '%s'", name);
	return 0;
}

char *make_tempdir(const char *prefix, struct perr *err)
{
	const char *base = getenv("TMPDIR");
	char *path = xasprintf("%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
	if (!mkdtemp(path)) {
		perr_set(err, errno, "cannot create temporary directory '%s'", path);
		free(path);
		return NULL;
	}
	return path;
}

void strv_push(struct strv *s, char *owned)
{
	if (s->n + 1 >= s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = owned;
	s->v[s->n] = NULL;
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(char *), strp_cmp);
}

bool strv_has(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return true;
	return false;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t strset_slot(const struct strset *s, const char *key)
{
	size_t i = str_hash(key) & (s->cap - 1);
	while (s->slots[i] && strcmp(s->slots[i], key))
		i = (i + 1) & (s->cap - 1);
	return i;
}

bool strset_has(const struct strset *s, const char *key)
{
	return s->cap && s->slots[strset_slot(s, key)];
}

bool strset_add(struct strset *s, const char *key)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct strset bigger = { xcalloc(s->cap ? s->cap * 2 : 64, sizeof(char *)),
					 s->cap ? s->cap * 2 : 64, s->n };
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i])
				bigger.slots[strset_slot(&bigger, s->slots[i])] = s->slots[i];
		free(s->slots);
		*s = bigger;
	}
	size_t i = strset_slot(s, key);
	if (s->slots[i])
		return false;
	s->slots[i] = xstrdup(key);
	s->n++;
	return true;
}

void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

static size_t *strindex_slot(const struct strindex *x, const char *key, strindex_key_fn key_at,
			     const void *ctx)
{
	size_t mask = x->cap - 1;
	for (size_t i = str_hash(key) & mask;; i = (i + 1) & mask)
		if (!x->slots[i] || !strcmp(key_at(ctx, x->slots[i] - 1), key))
			return &x->slots[i];
}

size_t strindex_find(const struct strindex *x, const char *key, strindex_key_fn key_at,
		     const void *ctx)
{
	if (!x->cap)
		return SIZE_MAX;
	size_t s = *strindex_slot(x, key, key_at, ctx);
	return s ? s - 1 : SIZE_MAX;
}

void strindex_rebuild(struct strindex *x, size_t n, strindex_key_fn key_at, const void *ctx)
{
	size_t cap = 64;
	while (cap < n * 2 + 2)
		cap *= 2;
	free(x->slots);
	x->slots = xcalloc(cap, sizeof(size_t));
	x->cap = cap;
	for (size_t i = 0; i < n; i++)
		*strindex_slot(x, key_at(ctx, i), key_at, ctx) = i + 1;
}

void strindex_put(struct strindex *x, size_t i, size_t n, strindex_key_fn key_at, const void *ctx)
{
	if (n * 2 + 2 > x->cap)
		strindex_rebuild(x, n, key_at, ctx); /* indexes entry I too */
	else
		*strindex_slot(x, key_at(ctx, i), key_at, ctx) = i + 1;
}

void strindex_free(struct strindex *x)
{
	free(x->slots);
	x->slots = NULL;
	x->cap = 0;
}

DIR *opendir_at(int dirfd, const char *rel)
{
	int fd = openat(dirfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
}

static void walk_dir(int rootfd, const char *rel, int depth,
		     void (*fn)(void *ctx, const char *rel, const struct stat *st), void *ctx)
{
	DIR *d = opendir_at(rootfd, rel);
	if (!d)
		return;
	struct strv dirs = { 0 };
	for (struct dirent *de; (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *child = xasprintf("%s%s%s", rel, *rel ? "/" : "", de->d_name);
		fn(ctx, child, &st);
		if (S_ISDIR(st.st_mode) && depth < 256)
			strv_push(&dirs, child);
		else
			free(child);
	}
	closedir(d);
	/* Every ancestor of a child here was seen to be a directory, so
	 * opening it by name from the root follows no symlink. */
	for (size_t i = 0; i < dirs.n; i++)
		walk_dir(rootfd, dirs.v[i], depth + 1, fn, ctx);
	strv_free(&dirs);
}

void walk_tree(int rootfd, void (*fn)(void *ctx, const char *rel, const struct stat *st),
	       void *ctx)
{
	walk_dir(rootfd, "", 0, fn, ctx);
}

const char *file_kind_name(mode_t mode)
{
	return S_ISFIFO(mode)			  ? "a FIFO"
	       : S_ISDIR(mode)			  ? "a directory"
	       : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
	       : S_ISLNK(mode)			  ? "a symlink"
	       : S_ISSOCK(mode)			  ? "a socket"
						  : "a regular file";
}

/* FILE opened without blocking (a FIFO must not hang us in open()),
 * refused unless regular; the fd, or -1 with ERR naming the file. */
static int open_side_file(const char *file, struct stat *st, struct perr *err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, st) < 0) {
		perr_set(err, errno, "cannot read '%s'", file);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		perr_set(err, 0, "'%s' is %s, not a regular file", file, file_kind_name(st->st_mode));
		close(fd);
		return -1;
	}
	return fd;
}

int check_side_file(const char *file, struct perr *err)
{
	struct stat st;
	int fd = open_side_file(file, &st, err);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int read_side_file(const char *file, uint64_t max, char **text, size_t *len, struct perr *err)
{
	struct stat st;
	cleanup_close int fd = open_side_file(file, &st, err);
	if (fd < 0)
		return -1;
	if ((uint64_t)st.st_size > max)
		return perr_set(err, 0, "'%s' is larger than %llu bytes", file, (unsigned long long)max);
	char *buf = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read_full(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		free(buf);
		return perr_set(err, errno, "cannot read '%s'", file);
	}
	buf[n] = 0;
	*text = buf;
	*len = (size_t)n;
	return 0;
}

mode_t umask_mode(mode_t mode)
{
	static int mask = -1;
	if (mask < 0) { /* read once: umask() can only be read by setting it */
		mode_t m = umask(022);
		umask(m);
		mask = (int)m;
	}
	return mode & ~(mode_t)mask;
}

int write_bytes_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct perr *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return perr_set(err, errno, "cannot create '%s'", tmp);
	int rc = 0;
	if (write_all(fd, data, len) < 0)
		rc = perr_set(err, errno, "cannot write '%s'", tmp);
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = perr_set(err, errno, "cannot rename '%s' to '%s'", tmp, path);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int write_file_atomic(const char *path, const char *text, struct perr *err)
{
	cleanup_free char *line = xasprintf("%s\n", text);
	return write_bytes_atomic(path, line, strlen(line), 0666, err);
}

int mkdir_p(const char *path, mode_t mode, struct perr *err)
{
	cleanup_free char *copy = xstrdup(path);
	for (char *p = copy + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = 0;
			if (mkdir(copy, mode) < 0 && errno != EEXIST)
				return perr_set(err, errno, "cannot create '%s'", copy);
			*p = c;
			if (!c)
				return 0;
		}
	}
}

char mode_type(mode_t m)
{
	return S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : 'o';
}

uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *human_size(uint64_t n, char *buf)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}
