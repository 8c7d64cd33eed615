#define _GNU_SOURCE
#include "image/layer_write.h"
#include "base/resolve.h"
#include "image/pgzip.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

struct sink {
	struct sha256 diff, blob;
	uint64_t diff_bytes, blob_bytes;
	int out_fd;
	struct archive *comp; /* zstd: raw + filter, or NULL */
	struct pgzip *gz;     /* gzip: deflated on every core */
	struct perr gz_err;   /* why gz failed, when it did */
	bool gz_failed;
	int werr;
};

static la_ssize_t blob_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;
	(void)a;
	sha256_update(&s->blob, p, n);
	s->blob_bytes += n;
	if (write_all(s->out_fd, p, n) < 0) {
		s->werr = errno;
		return -1;
	}
	return (la_ssize_t)n;
}

static la_ssize_t tar_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;
	sha256_update(&s->diff, p, n);
	s->diff_bytes += n;
	if (s->gz) {
		if (pgzip_write(s->gz, p, n, &s->gz_err) == 0)
			return (la_ssize_t)n;
		s->gz_failed = true;
		return -1;
	}
	if (!s->comp)
		return blob_cb(a, ctx, p, n);
	return archive_write_data(s->comp, p, n) == (la_ssize_t)n ? (la_ssize_t)n : -1;
}

static int gz_out(void *ctx, const void *p, size_t n)
{
	return blob_cb(NULL, ctx, p, n) == (la_ssize_t)n ? 0 : -1;
}

/* gzip: our own parallel deflate (pgzip.h), whose bytes no thread count
 * changes; zstd: libarchive's filter. */
static int open_comp(struct sink *s, enum compression c, int level, int threads, struct perr *err)
{
	if (c == COMP_GZIP)
		return pgzip_new(level, threads, gz_out, s, &s->gz, err);
	struct archive_entry *e = archive_entry_new();
	const char *filter = "zstd";
	s->comp = archive_write_new();
	archive_write_set_format_raw(s->comp);
	archive_write_add_filter_zstd(s->comp);
	if (level) {
		char v[8];
		snprintf(v, sizeof(v), "%d", level);
		if (archive_write_set_filter_option(s->comp, filter, "compression-level", v) != ARCHIVE_OK)
			return perr_set(err, 0, "%s level %d: %s", filter, level, archive_error_string(s->comp));
	}
	archive_write_set_bytes_per_block(s->comp, 0);
	archive_entry_set_pathname(e, "layer.tar");
	archive_entry_set_filetype(e, AE_IFREG);
	int r = archive_write_open(s->comp, s, NULL, blob_cb, NULL);
	if (r == ARCHIVE_OK)
		r = archive_write_header(s->comp, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return perr_set(err, 0, "cannot start %s stream: %s", compression_name(c),
				archive_error_string(s->comp));
	return 0;
}

static int close_comp(struct sink *s, struct perr *err)
{
	if (s->gz && pgzip_finish(s->gz, err) < 0)
		return -1;
	if (s->comp && archive_write_close(s->comp) != ARCHIVE_OK)
		return perr_set(err, s->werr, "cannot finish compression: %s", archive_error_string(s->comp));
	return 0;
}

static void free_comp(struct sink *s)
{
	pgzip_free(s->gz);
	if (s->comp)
		archive_write_free(s->comp);
}

struct inode_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct builder {
	int rootfd;
	const struct build_opts *o;
	struct archive *tar;
	struct inode_seen *inodes;
	size_t ninodes;
	char buf[65536];
};

static const char *first_link(struct builder *b, const struct stat *st, const char *path)
{
	for (size_t i = 0; i < b->ninodes; i++)
		if (b->inodes[i].dev == st->st_dev && b->inodes[i].ino == st->st_ino)
			return b->inodes[i].path;
	b->inodes = xrealloc(b->inodes, (b->ninodes + 1) * sizeof(*b->inodes));
	b->inodes[b->ninodes++] = (struct inode_seen){ st->st_dev, st->st_ino, xstrdup(path) };
	return NULL;
}

bool layer_keeps_xattr(const char *name)
{
	/* user.overlay.*: a rootless overlay's own */
	return !strcmp(name, "security.capability") ||
	       (!strncmp(name, "user.", 5) && strncmp(name, "user.overlay.", 13));
}

static void add_xattrs(struct archive_entry *e, int fd)
{
	char names[4096], value[4096];
	ssize_t n = flistxattr(fd, names, sizeof(names));
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *name = names + off;
		if (!layer_keeps_xattr(name))
			continue;
		ssize_t vn = fgetxattr(fd, name, value, sizeof(value));
		if (vn >= 0)
			archive_entry_xattr_add_entry(e, name, value, (size_t)vn);
	}
}

static int write_data(struct builder *b, int fd, const char *path, struct perr *err)
{
	ssize_t n;
	while ((n = read(fd, b->buf, sizeof(b->buf))) > 0)
		if (archive_write_data(b->tar, b->buf, (size_t)n) != n)
			return perr_set(err, 0, "'/%s': %s", path, archive_error_string(b->tar));
	return n < 0 ? perr_set(err, errno, "cannot read '/%s'", path) : 0;
}

/* The parent directory to read PATH from: the upper one when it holds
 * PATH (and not as a whiteout, a 0/0 character device), else the root. */
static int pick_parent(struct builder *b, const char *path, const char *parent, const char *base,
		       struct perr *err)
{
	if (b->o->from_upper && strset_has(b->o->from_upper, path)) {
		struct perr ignored;
		struct stat st;
		int ufd = root_open_dir(b->o->upper_fd, parent, &ignored);
		if (ufd >= 0 && fstatat(ufd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !(S_ISCHR(st.st_mode) && st.st_rdev == 0))
			return ufd;
		if (ufd >= 0)
			close(ufd);
	}
	return root_open_dir(b->rootfd, parent, err);
}

static int add_path(struct builder *b, const char *path, struct perr *err)
{
	char parent[8192], target[4097];
	const char *base = split_parent(path, parent, sizeof(parent));
	cleanup_close int pfd = pick_parent(b, path, parent, base, err);
	cleanup_close int fd = -1;
	struct stat st;
	if (pfd < 0 || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return pfd < 0 ? -1 : perr_set(err, errno, "cannot stat '/%s'", path);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_copy_stat(e, &st);
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	int64_t mtime;
	if (b->o->mtime_of && b->o->mtime_of(b->o->mtime_ctx, path, &mtime))
		archive_entry_set_mtime(e, mtime, 0);
	if (b->o->clamp_mtime && archive_entry_mtime(e) > b->o->epoch)
		archive_entry_set_mtime(e, b->o->epoch, 0);
	const char *link = S_ISREG(st.st_mode) && st.st_nlink > 1 ? first_link(b, &st, path) : NULL;
	if (link) {
		archive_entry_set_hardlink(e, link);
		archive_entry_set_size(e, 0);
	} else if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		archive_entry_set_symlink(e, target);
	} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0) {
			archive_entry_free(e);
			return perr_set(err, errno, "cannot open '/%s'", path);
		}
		add_xattrs(e, fd);
	}
	int r = archive_write_header(b->tar, e);
	archive_entry_free(e);
	/* A name that is not UTF-8 is written as its bytes, with a pax
	 * hdrcharset=BINARY header for that entry alone: a warning, not a
	 * failure (names in an image are bytes, not text). */
	if (r == ARCHIVE_WARN && !strncmp(archive_error_string(b->tar), "Can't translate", 15))
		r = ARCHIVE_OK;
	if (r != ARCHIVE_OK)
		return perr_set(err, 0, "'/%s': %s", path, archive_error_string(b->tar));
	return fd >= 0 && S_ISREG(st.st_mode) && !link ? write_data(b, fd, path, err) : 0;
}

static int build_entries(struct builder *b, const struct strv *paths, uint64_t *count,
			 struct perr *err)
{
	cleanup_free char **sorted = xmalloc((paths->n + 1) * sizeof(char *));
	if (paths->n)
		memcpy(sorted, paths->v, paths->n * sizeof(char *));
	qsort(sorted, paths->n, sizeof(char *), strp_cmp);
	for (size_t i = 0; i < paths->n; i++) {
		if (i && !strcmp(sorted[i], sorted[i - 1]))
			continue;
		if (add_path(b, sorted[i], err) < 0)
			return -1;
		(*count)++;
	}
	return 0;
}

int layer_build(int rootfd, const struct strv *paths, int out_fd, const struct build_opts *o,
		struct built_layer *out, struct perr *err)
{
	struct sink s = { .out_fd = out_fd };
	struct builder b = { .rootfd = rootfd, .o = o };
	int r = 0;
	memset(out, 0, sizeof(*out));
	sha256_init(&s.diff);
	sha256_init(&s.blob);
	if (o->comp != COMP_NONE)
		r = open_comp(&s, o->comp, o->level, o->threads, err);
	/* Restricted pax: a ustar header alone for most entries, a pax header
	 * only where one is needed (long or non-ASCII names, big numbers,
	 * xattrs). Names are converted from our locale to UTF-8 for pax: read
	 * them as UTF-8 (what images hold), whatever the caller's locale, so
	 * a CA bundle's "Főtanúsítvány.pem" is written as UTF-8, not refused. */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t saved = utf8 ? uselocale(utf8) : (locale_t)0;
	b.tar = archive_write_new();
	archive_write_set_format_pax_restricted(b.tar);
	/* SCHILY.xattr.* only: GNU tar warns about LIBARCHIVE.xattr.* */
	archive_write_set_format_option(b.tar, "pax", "xattrheader", "SCHILY");
	archive_write_set_bytes_in_last_block(b.tar, 1);
	if (r == 0 && archive_write_open(b.tar, &s, NULL, tar_cb, NULL) != ARCHIVE_OK)
		r = perr_set(err, 0, "cannot start layer: %s", archive_error_string(b.tar));
	if (r == 0)
		r = build_entries(&b, paths, &out->entries, err);
	if (r == 0 && archive_write_close(b.tar) != ARCHIVE_OK)
		r = perr_set(err, s.werr, "cannot finish layer: %s", archive_error_string(b.tar));
	if (r < 0 && s.gz_failed) /* the compressor's reason, not the tar writer's */
		*err = s.gz_err;
	if (r == 0)
		r = close_comp(&s, err);
	archive_write_free(b.tar);
	if (saved) {
		uselocale(saved);
		freelocale(utf8);
	}
	free_comp(&s);
	for (size_t i = 0; i < b.ninodes; i++)
		free(b.inodes[i].path);
	free(b.inodes);
	sha256_final(&s.diff, out->diff_id);
	sha256_final(&s.blob, out->digest);
	out->size = (int64_t)s.blob_bytes;
	out->uncompressed = s.diff_bytes;
	return r;
}

int layer_compress(int in_fd, int out_fd, const struct compress_spec *c, struct built_layer *out,
		   struct perr *err)
{
	struct sink s = { .out_fd = out_fd };
	char buf[65536];
	ssize_t n = 0;
	sha256_init(&s.diff);
	sha256_init(&s.blob);
	int r = c->comp == COMP_NONE ? 0 : open_comp(&s, c->comp, c->level, c->threads, err);
	if (r == 0 && lseek(in_fd, 0, SEEK_SET) < 0)
		r = perr_set(err, errno, "cannot rewind the layer");
	while (r == 0 && (n = read(in_fd, buf, sizeof(buf))) > 0)
		if (tar_cb(NULL, &s, buf, (size_t)n) != n)
			r = s.gz_failed ? (*err = s.gz_err, -1)
					: perr_set(err, s.werr, "cannot compress the layer: %s",
						   s.comp ? archive_error_string(s.comp) : "write failed");
	if (r == 0 && n < 0)
		r = perr_set(err, errno, "cannot read the layer");
	if (r == 0)
		r = close_comp(&s, err);
	free_comp(&s);
	char ignored[DIGEST_STR_LEN + 1];
	sha256_final(&s.diff, ignored);
	sha256_final(&s.blob, out->digest);
	out->size = (int64_t)s.blob_bytes;
	return r;
}

bool source_date_epoch(int64_t *out)
{
	uint64_t v;
	const char *s = getenv("SOURCE_DATE_EPOCH");
	if (!s || parse_u64(s, &v) < 0 || v > INT64_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}
