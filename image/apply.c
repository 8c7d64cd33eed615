#define _GNU_SOURCE
#include "image/apply.h"
#include "image/layer_read.h"
#include "base/resolve.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct dirmeta {
	char *path;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	size_t seq; /* later entries win */
};

struct applier {
	int rootfd;
	struct apply_opts o;
	struct apply_stats st;
	struct dirmeta *dirs;
	size_t ndirs, capdirs;
	struct strset layer_paths; /* written by the current layer, with ancestors */
	bool warned_owner;
	char path[8192], target[8192];
};

static void warn(struct applier *ap, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct applier *ap, const char *fmt, ...)
{
	char msg[1024];
	va_list va;
	if (!ap->o.warn)
		return;
	va_start(va, fmt);
	vsnprintf(msg, sizeof(msg), fmt, va);
	va_end(va);
	ap->o.warn(ap->o.ctx, msg);
}

int applier_new(int rootfd, const struct apply_opts *o, struct applier **out, struct perr *err)
{
	struct applier *ap = xcalloc(1, sizeof(*ap));
	(void)err;
	ap->rootfd = rootfd;
	ap->o = *o;
	*out = ap;
	return 0;
}

void applier_free(struct applier *ap)
{
	for (size_t i = 0; i < ap->ndirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
	strset_free(&ap->layer_paths);
	free(ap);
}

const struct apply_stats *applier_stats(const struct applier *ap)
{
	return &ap->st;
}

static void mark_layer_path(struct applier *ap, const char *path)
{
	char buf[8192];
	snprintf(buf, sizeof(buf), "%s", path);
	/* The path and every ancestor: an opaque whiteout later in this layer
	 * must keep them (and the walk must descend into them). */
	while (strset_add(&ap->layer_paths, buf)) {
		char *slash = strrchr(buf, '/');
		if (!slash)
			break;
		*slash = 0;
	}
}

/* An O_PATH fd of directory REL in the root, creating missing directories
 * (mode 0755, root-owned) the way container runtimes do, including the
 * in-root target of a dangling symlink on the way. */
static int ensure_dir_depth(struct applier *ap, const char *rel, int depth, struct perr *err)
{
	int fd = root_open_dir(ap->rootfd, rel, err);
	if (fd >= 0 || err->errnum != ENOENT || !*rel)
		return fd;
	if (depth > 40)
		return perr_set(err, ELOOP, "cannot create directory '/%s'", rel);
	char parent[8192], target[4097], next[8192];
	const char *base = split_parent(rel, parent, sizeof(parent));
	cleanup_close int pfd = ensure_dir_depth(ap, parent, depth + 1, err);
	if (pfd < 0)
		return -1;
	if (mkdirat(pfd, base, 0755) == 0)
		return root_open_dir(ap->rootfd, rel, err);
	if (errno != EEXIST)
		return perr_set(err, errno, "cannot create directory '/%s'", rel);
	ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
	if (n < 0)
		return perr_set(err, ENOTDIR, "cannot create directory '/%s'", rel);
	target[n] = 0;
	cleanup_free char *joined = target[0] == '/' ? xstrdup(target) : xasprintf("%s/%s", parent, target);
	if (clean_in_root_path(joined, next, sizeof(next) - 1, err) < 0)
		return perr_wrap(err, "symlink '/%s'", rel);
	cleanup_close int tfd = ensure_dir_depth(ap, next, depth + 1, err);
	if (tfd < 0)
		return -1;
	return root_open_dir(ap->rootfd, rel, err);
}

static int ensure_dir(struct applier *ap, const char *rel, struct perr *err)
{
	return ensure_dir_depth(ap, rel, 0, err);
}

static int set_owner(struct applier *ap, int dfd, const char *name, struct archive_entry *e,
		     struct perr *err)
{
	if (fchownat(dfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
		     AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) == 0)
		return 0;
	if (errno == EPERM && !ap->o.privileged) {
		if (!ap->warned_owner)
			warn(ap, "not running as root: file owners are not preserved");
		ap->warned_owner = true;
		return 0;
	}
	return perr_set(err, errno, "cannot set owner of '/%s'", ap->path);
}

static bool xattr_wanted(const char *name)
{
	/* Capabilities and user attributes carry meaning for the program;
	 * security.selinux and trusted.* belong to the host. */
	return !strcmp(name, "security.capability") || !strncmp(name, "user.", 5);
}

static int set_xattrs(struct applier *ap, int fd, struct archive_entry *e, struct perr *err)
{
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!xattr_wanted(name))
			continue;
		if (fsetxattr(fd, name, value, size, 0) < 0) {
			if (errno == ENOTSUP || (errno == EPERM && !ap->o.privileged)) {
				warn(ap, "'/%s': extended attribute %s not preserved", ap->path, name);
				continue;
			}
			return perr_set(err, errno, "cannot set %s on '/%s'", name, ap->path);
		}
	}
	return 0;
}

static int write_span(struct applier *ap, int fd, const char *p, size_t len, int64_t off,
		      struct perr *err)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return perr_set(err, errno, "cannot write '/%s'", ap->path);
		p += w;
		off += w;
		len -= (size_t)w;
	}
	return 0;
}

enum { HOLE_BLOCK = 4096 };

static bool all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

/* Write LEN bytes at OFF, leaving zero blocks out (and the zero pieces of
 * blocks cut by a buffer's edge): the file is new, so what is not written
 * reads back as zeros, and a file of zeros (a decompression bomb's
 * payload) costs no disk. Runs of other blocks go in one write. */
static int write_sparse(struct applier *ap, int fd, const char *p, size_t len, int64_t off,
			struct perr *err)
{
	const char *run = p; /* start of the data not yet written */
	while (len > 0) {
		size_t chunk = HOLE_BLOCK - (size_t)(off % HOLE_BLOCK);
		if (chunk > len)
			chunk = len;
		if (all_zero(p, chunk)) {
			if (p > run && write_span(ap, fd, run, (size_t)(p - run), off - (p - run), err) < 0)
				return -1;
			run = p + chunk;
		}
		p += chunk;
		off += (int64_t)chunk;
		len -= chunk;
	}
	return p > run ? write_span(ap, fd, run, (size_t)(p - run), off - (p - run), err) : 0;
}

static int write_file_data(struct applier *ap, struct archive *a, int fd, struct archive_entry *e,
			   struct perr *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
		if (write_sparse(ap, fd, buf, len, off, err) < 0)
			return -1;
	if (r != ARCHIVE_EOF)
		return perr_set(err, 0, "'/%s': %s", ap->path, archive_error_string(a));
	/* The size comes from the header: a file may end in a hole. */
	if (ftruncate(fd, archive_entry_size(e)) < 0)
		return perr_set(err, errno, "cannot size '/%s'", ap->path);
	return 0;
}

static struct timespec entry_mtime(struct archive_entry *e)
{
	struct timespec ts = { archive_entry_mtime(e), archive_entry_mtime_nsec(e) };
	return ts;
}

static int make_regular(struct applier *ap, struct archive *a, int pfd, const char *base,
			struct archive_entry *e, struct perr *err)
{
	cleanup_close int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct timespec times[2];
	if (fd < 0)
		return perr_set(err, errno, "cannot create '/%s'", ap->path);
	if (write_file_data(ap, a, fd, e, err) < 0 || set_owner(ap, fd, "", e, err) < 0)
		return -1;
	/* After chown, which clears setuid/setgid bits. */
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return perr_set(err, errno, "cannot chmod '/%s'", ap->path);
	if (set_xattrs(ap, fd, e, err) < 0)
		return -1;
	times[0] = times[1] = entry_mtime(e);
	if (futimens(fd, times) < 0)
		return perr_set(err, errno, "cannot set times of '/%s'", ap->path);
	return 0;
}

static int make_hardlink(struct applier *ap, int pfd, const char *base, const char *target,
			 struct perr *err)
{
	char tparent[8192];
	if (clean_entry_path(target, ap->target, sizeof(ap->target) - 1, err) < 0)
		return perr_wrap(err, "hardlink '/%s'", ap->path);
	if (!ap->target[0])
		return perr_set(err, 0, "hardlink '/%s' to the root", ap->path);
	const char *tbase = split_parent(ap->target, tparent, sizeof(tparent));
	cleanup_close int tpfd = root_open_dir(ap->rootfd, tparent, err);
	if (tpfd < 0)
		return perr_wrap(err, "hardlink '/%s'", ap->path);
	/* Flags 0: link the target entry itself, even when it is a symlink,
	 * so a planted link can never redirect us. */
	if (linkat(tpfd, tbase, pfd, base, 0) < 0)
		return perr_set(err, errno, "cannot link '/%s' to '/%s'", ap->path, ap->target);
	return 0;
}

static int record_dir(struct applier *ap, struct archive_entry *e)
{
	if (ap->ndirs == ap->capdirs) {
		ap->capdirs = ap->capdirs ? ap->capdirs * 2 : 256;
		ap->dirs = xrealloc(ap->dirs, ap->capdirs * sizeof(*ap->dirs));
	}
	struct dirmeta *d = &ap->dirs[ap->ndirs];
	d->path = xstrdup(ap->path);
	d->mode = archive_entry_perm(e) & 07777;
	d->uid = (uid_t)archive_entry_uid(e);
	d->gid = (gid_t)archive_entry_gid(e);
	d->mtime = entry_mtime(e);
	d->seq = ap->ndirs++;
	return 0;
}

static int make_special(struct applier *ap, int pfd, const char *base, struct archive_entry *e,
			struct perr *err)
{
	mode_t type = archive_entry_filetype(e);
	struct timespec times[2];
	if (type == AE_IFSOCK) {
		warn(ap, "'/%s': socket skipped", ap->path);
		ap->st.skipped++;
		return 0;
	}
	if (type != AE_IFIFO && !ap->o.privileged) {
		warn(ap, "'/%s': device node skipped (not running as root)", ap->path);
		ap->st.skipped++;
		return 0;
	}
	if (mknodat(pfd, base, type | (archive_entry_perm(e) & 0777), archive_entry_rdev(e)) < 0) {
		if (type != AE_IFIFO && (errno == EPERM || errno == EACCES)) {
			warn(ap, "'/%s': device node skipped (%s)", ap->path, strerror(errno));
			ap->st.skipped++;
			return 0;
		}
		return perr_set(err, errno, "cannot create '/%s'", ap->path);
	}
	if (set_owner(ap, pfd, base, e, err) < 0)
		return -1;
	if (fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
		return perr_set(err, errno, "cannot chmod '/%s'", ap->path);
	times[0] = times[1] = entry_mtime(e);
	if (utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
		return perr_set(err, errno, "cannot set times of '/%s'", ap->path);
	return 0;
}

static int make_symlink(struct applier *ap, int pfd, const char *base, struct archive_entry *e,
			struct perr *err)
{
	const char *target = archive_entry_symlink(e);
	struct timespec times[2];
	if (!target || strlen(target) > ap->o.lim.max_path)
		return perr_set(err, 0, "'/%s': symlink target missing or too long", ap->path);
	/* The target is data: we never follow it on the host, every later
	 * lookup through it is resolved inside the root. */
	if (symlinkat(target, pfd, base) < 0)
		return perr_set(err, errno, "cannot create symlink '/%s'", ap->path);
	if (set_owner(ap, pfd, base, e, err) < 0)
		return -1;
	times[0] = times[1] = entry_mtime(e);
	if (utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
		return perr_set(err, errno, "cannot set times of '/%s'", ap->path);
	return 0;
}

static int make_dir(struct applier *ap, int pfd, const char *base, bool exists,
		    struct archive_entry *e, struct perr *err)
{
	/* Created private; the real mode, owner and mtime are set once all
	 * layers are in (a 0555 directory must still take children). */
	if (!exists && mkdirat(pfd, base, 0700) < 0)
		return perr_set(err, errno, "cannot create directory '/%s'", ap->path);
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	if (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		cleanup_close int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || set_xattrs(ap, fd, e, err) < 0)
			return fd < 0 ? perr_set(err, errno, "cannot open '/%s'", ap->path) : -1;
	}
	return record_dir(ap, e);
}

/* Remove lower-layer content of directory DIRPATH (fd DFD) that the current
 * layer did not write: the effect of an opaque whiteout, independent of
 * where the marker sits in the tar. */
static int hide_lower(struct applier *ap, int dfd, const char *dirpath, struct perr *err)
{
	cleanup_close int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return perr_set(err, errno, "cannot open '/%s'", dirpath);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int ret = 0;
	if (!d)
		return perr_set(err, errno, "cannot list '/%s'", dirpath);
	fd = -1; /* owned by d */
	while (ret == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child = *dirpath ? xasprintf("%s/%s", dirpath, de->d_name) : xstrdup(de->d_name);
		if (!strset_has(&ap->layer_paths, child)) {
			ret = remove_tree_at(dirfd(d), de->d_name, err);
		} else if (de->d_type == DT_DIR) {
			int sub = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ret = sub < 0 ? perr_set(err, errno, "cannot open '/%s'", child)
				      : hide_lower(ap, sub, child, err);
			if (sub >= 0)
				close(sub);
		}
		free(child);
	}
	closedir(d);
	return ret;
}

static bool whiteout_malformed(const char *name)
{
	return !*name || !strcmp(name, ".") || !strcmp(name, "..") ||
	       !strncmp(name, WH_PREFIX, strlen(WH_PREFIX));
}

static int apply_whiteout(struct applier *ap, const char *parent, const char *base,
			  struct perr *err)
{
	const char *victim = base + strlen(WH_PREFIX);
	cleanup_close int pfd = -1;
	ap->st.whiteouts++;
	if (strcmp(base, WH_OPAQUE) && whiteout_malformed(victim))
		return perr_set(err, 0, "'/%s': malformed whiteout", ap->path);
	pfd = root_open_dir(ap->rootfd, parent, err);
	if (pfd < 0) {
		if (err->errnum == ENOENT)
			return 0; /* nothing below to hide */
		return -1;
	}
	mark_layer_path(ap, parent);
	if (!strcmp(base, WH_OPAQUE))
		return hide_lower(ap, pfd, parent, err);
	char *vpath = *parent ? xasprintf("%s/%s", parent, victim) : xstrdup(victim);
	bool mine = strset_has(&ap->layer_paths, vpath);
	free(vpath);
	/* A whiteout hides lower layers only, never this layer's entry. */
	return mine ? 0 : remove_tree_at(pfd, victim, err);
}

static int apply_entry(struct applier *ap, struct archive *a, struct archive_entry *e,
		       struct perr *err)
{
	char parent[8192];
	struct stat st;
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (++ap->st.entries > ap->o.lim.max_entries)
		return perr_set(err, 0, "more than %llu entries (see --max-entries)",
				(unsigned long long)ap->o.lim.max_entries);
	if (clean_entry_path(archive_entry_pathname(e), ap->path, ap->o.lim.max_path, err) < 0)
		return -1;
	if (!ap->path[0]) {
		if (hardlink || type != AE_IFDIR)
			return perr_set(err, 0, "entry '%s' would replace the root directory",
					archive_entry_pathname(e));
		return record_dir(ap, e);
	}
	const char *base = split_parent(ap->path, parent, sizeof(parent));
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return apply_whiteout(ap, parent, base, err);
	cleanup_close int pfd = ensure_dir(ap, parent, err);
	if (pfd < 0)
		return perr_wrap(err, "'/%s'", ap->path);
	mark_layer_path(ap, ap->path);
	bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	bool keep_dir = exists && S_ISDIR(st.st_mode) && !hardlink && type == AE_IFDIR;
	if (exists && !keep_dir && remove_tree_at(pfd, base, err) < 0)
		return -1;
	if (hardlink)
		return make_hardlink(ap, pfd, base, hardlink, err);
	switch (type) {
	case AE_IFREG:
		return make_regular(ap, a, pfd, base, e, err);
	case AE_IFDIR:
		return make_dir(ap, pfd, base, keep_dir, e, err);
	case AE_IFLNK:
		return make_symlink(ap, pfd, base, e, err);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
	case AE_IFSOCK:
		return make_special(ap, pfd, base, e, err);
	default:
		return perr_set(err, 0, "'/%s': unknown entry type %o", ap->path, type);
	}
}

int applier_apply_layer(struct applier *ap, struct archive *a, struct perr *err)
{
	struct archive_entry *e;
	int r;
	strset_free(&ap->layer_paths);
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (apply_entry(ap, a, e, err) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return perr_set(err, 0, "%s", archive_error_string(a));
	return 0;
}

static int dirmeta_cmp(const void *a, const void *b)
{
	const struct dirmeta *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static int apply_dirmeta(struct applier *ap, const struct dirmeta *d, struct perr *err)
{
	char parent[8192];
	struct stat st;
	struct timespec times[2] = { d->mtime, d->mtime };
	const char *base = *d->path ? split_parent(d->path, parent, sizeof(parent)) : ".";
	cleanup_close int pfd = root_open_dir(ap->rootfd, *d->path ? parent : "", err);
	if (pfd < 0)
		return err->errnum == ENOENT || err->errnum == ENOTDIR ? 0 : -1;
	/* Removed or replaced by a later layer: nothing to do. */
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	snprintf(ap->path, sizeof(ap->path), "%s", d->path);
	if (fchownat(pfd, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    !(errno == EPERM && !ap->o.privileged))
		return perr_set(err, errno, "cannot set owner of '/%s'", d->path);
	if (fchmodat(pfd, base, d->mode, 0) < 0)
		return perr_set(err, errno, "cannot chmod '/%s'", d->path);
	if (utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
		return perr_set(err, errno, "cannot set times of '/%s'", d->path);
	return 0;
}

int applier_finish(struct applier *ap, struct perr *err)
{
	if (ap->ndirs)
		qsort(ap->dirs, ap->ndirs, sizeof(*ap->dirs), dirmeta_cmp);
	for (size_t i = 0; i < ap->ndirs; i++) {
		/* Several layers may describe one directory: the last wins. */
		if (i + 1 < ap->ndirs && !strcmp(ap->dirs[i].path, ap->dirs[i + 1].path))
			continue;
		if (apply_dirmeta(ap, &ap->dirs[i], err) < 0)
			return -1;
	}
	return 0;
}

/* ---------- whole image ---------- */

static int prepare_dest(const char *dir, bool *created, struct perr *err)
{
	struct stat st;
	*created = false;
	if (mkdir(dir, 0755) == 0) {
		*created = true;
		return 0;
	}
	if (errno != EEXIST)
		return perr_set(err, errno, "cannot create '%s'", dir);
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return perr_set(err, 0, "'%s' exists and is not a directory", dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = true;
	if (!d)
		return perr_set(err, errno, "cannot open '%s'", dir);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	if (!empty)
		return perr_set(err, 0, "'%s' is not empty", dir);
	return 0;
}

static int unpack_layers(struct image *img, int rootfd, const struct apply_opts *o,
			 struct apply_stats *stats, struct perr *err)
{
	struct applier *ap;
	uint64_t budget = o->lim.max_bytes;
	int r = 0;
	applier_new(rootfd, o, &ap, err);
	for (size_t i = 0; r == 0 && i < img->manifest.n_layers; i++) {
		struct layer_stream_opts lo = { &budget, -1, -1, true };
		cleanup_layer_stream struct layer_stream *ls = NULL;
		r = layer_stream_open(img, i, &lo, &ls, err);
		if (r == 0 && applier_apply_layer(ap, layer_stream_tar(ls), err) < 0)
			r = layer_stream_error(ls, NULL, err);
		if (r == 0)
			r = layer_stream_finish(ls, err);
		if (r < 0)
			perr_wrap(err, "layer %zu (%s)", i + 1, img->manifest.layers[i].digest);
		else if (o->layer_done)
			o->layer_done(o->ctx, i, img->manifest.n_layers);
	}
	if (r == 0)
		r = applier_finish(ap, err);
	if (stats)
		*stats = ap->st;
	applier_free(ap);
	return r;
}

int image_unpack(struct image *img, const char *dir, const struct apply_opts *o,
		 struct apply_stats *stats, struct perr *err)
{
	bool created;
	if (prepare_dest(dir, &created, err) < 0)
		return -1;
	int rootfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = rootfd < 0 ? perr_set(err, errno, "cannot open '%s'", dir)
			   : unpack_layers(img, rootfd, o, stats, err);
	if (rootfd >= 0)
		close(rootfd);
	if (r < 0) {
		/* Leave nothing half-written behind. */
		struct perr ignored;
		if (created) {
			remove_tree_at(AT_FDCWD, dir, &ignored);
		} else {
			int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
			struct dirent *de;
			while (d && (de = readdir(d)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					remove_tree_at(dirfd(d), de->d_name, &ignored);
			if (d)
				closedir(d);
		}
	}
	return r;
}
