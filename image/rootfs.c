#define _GNU_SOURCE
#include "image/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <jansson.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "base/digest.h"

/* A uid with no home of its own (`docker run --user 1000:1000` gets HOME=/):
 * $TMPDIR/pare-cache-UID, made 0700, used only while it is still a
 * directory of ours that no one else can enter (/tmp is shared: anyone
 * could have made the name first). NULL: no cache. */
static char *private_tmp_cache(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/pare-cache-%u", tmp && *tmp ? tmp : "/tmp", (unsigned)geteuid());
	struct stat st;
	if ((mkdir(dir, 0700) == 0 || errno == EEXIST) && lstat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077))
		return dir;
	free(dir);
	return NULL;
}

char *rootfs_default_cache(void)
{
	const char *env = getenv("PARE_CACHE_DIR");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/cache/pare");
	env = getenv("XDG_CACHE_HOME");
	if (env && *env)
		return xasprintf("%s/pare", env);
	env = getenv("HOME");
	if (env && *env && access(env, W_OK) == 0)
		return xasprintf("%s/.cache/pare", env);
	return private_tmp_cache();
}

int rootfs_cache_max(uint64_t *out, struct perr *err)
{
	const char *env = getenv("PARE_CACHE_MAX");
	*out = ROOTFS_CACHE_MAX_DEFAULT;
	if (env && *env && parse_size(env, out) < 0)
		return perr_set(err, 0, "PARE_CACHE_MAX='%s': expected a size such as 20G (0 = no limit)", env);
	return 0;
}

/* Open NAME.lock below BASEFD and flock() it HOW. A pruner may unlink the
 * lock file between our open and our lock: then the inode we hold is no
 * longer the file's, and we try the new one. -1 with ERR's errnum
 * EWOULDBLOCK when HOW has LOCK_NB and the lock is held. */
static int lock_tree(int basefd, const char *hex, int how, struct perr *err)
{
	char name[80];
	snprintf(name, sizeof(name), "%s.lock", hex);
	for (;;) {
		int fd = openat(basefd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return perr_set(err, errno, "cannot open the cache lock '%s'", name);
		if (flock(fd, how) < 0) {
			int e = errno;
			close(fd);
			return perr_set(err, e, "cannot lock '%s'", name);
		}
		struct stat held, now;
		if (fstat(fd, &held) == 0 && fstatat(basefd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev)
			return fd;
		close(fd);
	}
}

static bool tree_exists(int basefd, const char *hex)
{
	struct stat st;
	return fstatat(basefd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static void disk_usage(void *ctx, const char *rel, const struct stat *st)
{
	(void)rel;
	*(uint64_t *)ctx += (uint64_t)st->st_blocks * 512;
}

static uint64_t tree_bytes(int basefd, const char *name)
{
	uint64_t bytes = 0;
	cleanup_close int fd = openat(basefd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		walk_tree(fd, disk_usage, &bytes);
	return bytes;
}

static void write_meta(const char *base, int basefd, const char *hex, const struct image *img,
		       const struct apply_stats *st)
{
	struct perr ignored;
	cleanup_free char *path = xasprintf("%s/%s.json", base, hex);
	json_t *j = json_pack("{s:s,s:I,s:I,s:I}", "image", img->ref.text, "bytes",
			      (json_int_t)tree_bytes(basefd, hex), "entries", (json_int_t)st->entries,
			      "unpacked", (json_int_t)time(NULL));
	cleanup_free char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	write_file_atomic(path, text, &ignored); /* list and prune recount without it */
}

/* Unpack IMG as BASE/HEX, under the exclusive lock FD (turned shared on
 * the way out). */
static int unpack_locked(struct image *img, const char *base, int basefd, const char *hex, int fd,
			 const struct apply_opts *ao, struct perr *err)
{
	struct apply_stats st;
	if (!tree_exists(basefd, hex)) { /* else another run made it while we waited */
		cleanup_free char *tmp = xasprintf("%s/%s.tmp-%d", base, hex, (int)getpid());
		cleanup_free char *final = xasprintf("%s/%s", base, hex);
		/* Beside it, then a rename: a crash never leaves a half tree
		 * under the final name. */
		if (image_unpack(img, tmp, ao, &st, err) < 0)
			return -1;
		if (rename(tmp, final) < 0) {
			int e = errno;
			struct perr ignored;
			remove_tree_at(AT_FDCWD, tmp, &ignored);
			return perr_set(err, e, "cannot rename '%s'", tmp);
		}
		write_meta(base, basefd, hex, img, &st);
	}
	if (flock(fd, LOCK_SH) < 0)
		return perr_set(err, errno, "cannot lock the cache");
	return 1;
}

int rootfs_get(struct image *img, const char *cache_dir, uint64_t max_bytes,
	       const struct apply_opts *ao, struct rootfs *out, struct perr *err)
{
	struct apply_stats st;
	memset(out, 0, sizeof(*out));
	out->lock_fd = -1;
	if (!cache_dir) {
		cleanup_free char *tmp = make_tempdir("pare-rootfs", err);
		if (!tmp)
			return -1;
		cleanup_free char *dir = xasprintf("%s/rootfs", tmp);
		if (image_unpack(img, dir, ao, &st, err) < 0) {
			rmdir(tmp);
			return -1;
		}
		out->path = steal_pointer(&dir);
		out->temporary = true;
		return 0;
	}
	cleanup_free char *base = xasprintf("%s/rootfs", cache_dir);
	if (mkdir_p(base, 0700, err) < 0)
		return perr_wrap(err, "cache");
	cleanup_close int basefd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0)
		return perr_set(err, errno, "cannot open the cache '%s'", base);
	const char *hex = digest_hex(img->config_digest);
	cleanup_close int fd = lock_tree(basefd, hex, LOCK_SH, err);
	if (fd < 0)
		return -1;
	out->cached = tree_exists(basefd, hex);
	if (!out->cached) {
		/* Exclusive to unpack: a second run of the same image waits
		 * for this one instead of unpacking it again. */
		close(fd);
		fd = lock_tree(basefd, hex, LOCK_EX, err);
		if (fd < 0 || unpack_locked(img, base, basefd, hex, fd, ao, err) < 0)
			return -1;
	}
	futimens(fd, NULL); /* the last use, for LRU eviction */
	out->path = xasprintf("%s/%s", base, hex);
	out->lock_fd = steal_fd(&fd);
	if (!out->cached && max_bytes) {
		struct prune_opts po = { .max_bytes = max_bytes, .keep = hex };
		struct prune_result pr;
		struct perr ignored; /* a tree we could not evict stays; the run goes on */
		cache_prune(cache_dir, &po, &pr, &ignored);
	}
	return 0;
}

/* ---- listing and pruning ---- */

static bool is_hex64(const char *s, size_t n)
{
	return n == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* HEX.tmp-PID or HEX.del-PID: PID's, in progress while it lives. */
static bool partial_name(const char *name, pid_t *pid)
{
	size_t n = strlen(name);
	uint64_t v;
	if (n < 70 || !is_hex64(name, 64) || (strncmp(name + 64, ".tmp-", 5) && strncmp(name + 64, ".del-", 5)) ||
	    parse_u64(name + 69, &v) < 0)
		return false;
	*pid = (pid_t)v;
	return true;
}

static void read_meta(int basefd, struct cache_entry *e)
{
	char name[80];
	snprintf(name, sizeof(name), "%s.json", e->hex);
	cleanup_close int fd = openat(basefd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char buf[8192];
	ssize_t n = fd >= 0 ? read_full(fd, buf, sizeof(buf) - 1) : -1;
	json_t *j = n > 0 ? json_loadb(buf, (size_t)n, 0, NULL) : NULL;
	const char *image = json_string_value(json_object_get(j, "image"));
	json_t *bytes = json_object_get(j, "bytes");
	if (image)
		e->image = xstrdup(image);
	e->bytes = json_is_integer(bytes) ? (uint64_t)json_integer_value(bytes)
					  : tree_bytes(basefd, e->name);
	/* The slim layers kept with it (slimmer/layer_reuse.c) go with it. */
	snprintf(name, sizeof(name), "%s.layers", e->hex);
	e->bytes += tree_bytes(basefd, name);
	json_decref(j);
}

/* Whether another process holds HEX's lock (a probe, taking none). */
static bool held_elsewhere(int basefd, const char *hex)
{
	char name[80];
	snprintf(name, sizeof(name), "%s.lock", hex);
	cleanup_close int fd = openat(basefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int64_t last_use(int basefd, const char *hex, const struct stat *dir)
{
	char name[80];
	struct stat st;
	snprintf(name, sizeof(name), "%s.lock", hex);
	return fstatat(basefd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (int64_t)st.st_mtime
								     : (int64_t)dir->st_mtime;
}

static int by_last_use(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	return x->last_used < y->last_used ? -1 : x->last_used > y->last_used ? 1 : strcmp(x->name, y->name);
}

int cache_list(const char *cache_dir, struct cache_entry **out, size_t *n, struct perr *err)
{
	*out = NULL;
	*n = 0;
	cleanup_free char *base = xasprintf("%s/rootfs", cache_dir);
	cleanup_close int basefd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0)
		return errno == ENOENT ? 0 : perr_set(err, errno, "cannot open the cache '%s'", base);
	DIR *d = opendir_at(basefd, "");
	if (!d)
		return perr_set(err, errno, "cannot read the cache '%s'", base);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		pid_t pid = 0;
		bool tree = is_hex64(de->d_name, strlen(de->d_name));
		bool partial = !tree && partial_name(de->d_name, &pid);
		if ((!tree && !partial) || fstatat(basefd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		struct cache_entry *e = &(*out)[(*n)++];
		memset(e, 0, sizeof(*e));
		snprintf(e->hex, sizeof(e->hex), "%.64s", de->d_name);
		e->name = xstrdup(de->d_name);
		e->partial = partial;
		if (partial) {
			e->in_use = kill(pid, 0) == 0 || errno == EPERM;
			e->bytes = tree_bytes(basefd, e->name);
			e->last_used = (int64_t)st.st_mtime;
		} else {
			read_meta(basefd, e);
			e->in_use = held_elsewhere(basefd, e->hex);
			e->last_used = last_use(basefd, e->hex, &st);
		}
	}
	closedir(d);
	qsort(*out, *n, sizeof(**out), by_last_use);
	return 0;
}

void cache_entries_free(struct cache_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].image);
		free(v[i].name);
	}
	free(v);
}

/* Remove E unless someone holds it: 1 removed, 0 in use, -1 error. */
static int remove_entry(int basefd, const struct cache_entry *e, struct perr *err)
{
	if (e->partial) {
		if (e->in_use)
			return 0;
		return remove_tree_at(basefd, e->name, err) < 0 ? -1 : 1;
	}
	struct perr lock_err;
	cleanup_close int fd = lock_tree(basefd, e->hex, LOCK_EX | LOCK_NB, &lock_err);
	if (fd < 0) {
		if (lock_err.errnum == EWOULDBLOCK)
			return 0;
		*err = lock_err;
		return -1;
	}
	/* Out of the way first: nobody opens a half-removed tree by name. */
	char gone[96], name[80];
	snprintf(gone, sizeof(gone), "%s.del-%d", e->hex, (int)getpid());
	if (renameat(basefd, e->hex, basefd, gone) < 0 && errno != ENOENT)
		return perr_set(err, errno, "cannot remove cached tree %s", e->hex);
	snprintf(name, sizeof(name), "%s.json", e->hex);
	unlinkat(basefd, name, 0);
	if (remove_tree_at(basefd, gone, err) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s.layers", e->hex);
	struct perr ignored; /* its layers are only worth keeping with it */
	remove_tree_at(basefd, name, &ignored);
	snprintf(name, sizeof(name), "%s.lock", e->hex);
	unlinkat(basefd, name, 0); /* last, while we hold it */
	return 1;
}

static bool prune_wanted(const struct prune_opts *o, const struct cache_entry *e, int64_t now)
{
	if (o->keep && !strcmp(e->hex, o->keep) && !e->partial)
		return false;
	if (e->partial)
		return !e->in_use; /* a crash's leftovers */
	return o->all || (o->older_than && e->last_used < now - o->older_than);
}

int cache_prune(const char *cache_dir, const struct prune_opts *o, struct prune_result *res,
		struct perr *err)
{
	memset(res, 0, sizeof(*res));
	struct cache_entry *v;
	size_t n;
	if (cache_list(cache_dir, &v, &n, err) < 0)
		return -1;
	cleanup_free char *base = xasprintf("%s/rootfs", cache_dir);
	cleanup_close int basefd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += v[i].bytes;
	int64_t now = (int64_t)time(NULL);
	int rc = 0;
	/* Oldest first: the rules, then the size limit. */
	for (size_t i = 0; basefd >= 0 && i < n && rc == 0; i++) {
		const struct cache_entry *e = &v[i];
		bool over = o->max_bytes && total > o->max_bytes &&
			    !(o->keep && !strcmp(e->hex, o->keep) && !e->partial);
		if (!prune_wanted(o, e, now) && !over)
			continue;
		int r = remove_entry(basefd, e, err);
		if (r < 0) {
			rc = -1;
		} else if (r == 0) {
			res->in_use++;
		} else {
			res->removed++;
			res->freed += e->bytes;
			total -= e->bytes;
		}
	}
	res->kept_bytes = total;
	cache_entries_free(v, n);
	return rc;
}

int rootfs_open(struct image *img, const char *cache_dir, uint64_t max_bytes,
		const struct apply_opts *ao, struct rootfs *out, int *rootfd, struct perr *err)
{
	if (max_bytes == CACHE_MAX_UNSET && rootfs_cache_max(&max_bytes, err) < 0)
		return -1;
	if (rootfs_get(img, cache_dir, max_bytes, ao, out, err) < 0)
		return perr_wrap(err, "cannot unpack %s", img->ref.text);
	*rootfd = open(out->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*rootfd < 0)
		return perr_set(err, errno, "cannot open '%s'", out->path);
	return 0;
}

char *rootfs_layer_dir(const struct rootfs *r)
{
	return r->path && !r->temporary ? xasprintf("%s.layers", r->path) : NULL;
}

void rootfs_release(struct rootfs *r)
{
	if (r->path && r->lock_fd >= 0)
		close(r->lock_fd); /* the tree may be evicted from now on */
	if (r->temporary && r->path) {
		struct perr ignored;
		char *slash = strrchr(r->path, '/');
		remove_tree_at(AT_FDCWD, r->path, &ignored);
		if (slash) {
			*slash = 0;
			rmdir(r->path);
		}
	}
	free(r->path);
	memset(r, 0, sizeof(*r));
	r->lock_fd = -1;
}
