#define _GNU_SOURCE
#include "image/source.h"
#include "base/digest.h"
#include "base/resolve.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

#define MAX_INDEX_NESTING 4
#define MAX_MEMBER_LINKS 8

struct archive_member {
	char *name;
	int64_t size;
	int64_t header_pos;
	mode_t type;     /* AE_IFREG, AE_IFLNK, ... ; 0 for hardlinks */
	char *link;      /* symlink or hardlink target, archive-relative */
};

/* ---------- small helpers ---------- */

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

/* Read a whole blob into memory, at most MAX bytes. */
static int blob_slurp(struct blob *b, uint64_t max, char **buf, size_t *len, struct perr *err)
{
	size_t cap = 4096, n = 0;
	cleanup_free char *p = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap > max)
				return perr_set(err, 0, "larger than the limit of %llu bytes",
						(unsigned long long)max);
			cap *= 2;
			p = xrealloc(p, cap);
		}
		ssize_t r = b->read(b, p + n, cap - n);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		return perr_set(err, 0, "larger than the limit of %llu bytes", (unsigned long long)max);
	*buf = steal_pointer(&p);
	*len = n;
	return 0;
}

/* ---------- file-descriptor blobs (OCI layout) ---------- */

struct fd_blob {
	struct blob b;
	int fd;
	struct perr *err;
};

static ssize_t fd_blob_read(struct blob *b, void *buf, size_t n)
{
	struct fd_blob *f = (struct fd_blob *)b;
	ssize_t r;
	do
		r = read(f->fd, buf, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		perr_set(f->err, errno, "read error");
	return r;
}

static void fd_blob_close(struct blob *b)
{
	struct fd_blob *f = (struct fd_blob *)b;
	close(f->fd);
	free(f);
}

/* Open a regular file below DIRFD without following any symlink: a blob
 * that is a symlink, FIFO or device is refused, never followed or read. */
static int open_regular_beneath(int dirfd, const char *rel, struct perr *err)
{
	int fd = open_beneath_nofollow(dirfd, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC, err);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return perr_set(err, 0, "'%s' is not a regular file", rel);
	}
	/* Back to blocking reads now that it is known to be a file. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static struct blob *fd_blob_new(int fd, struct perr *err)
{
	struct fd_blob *f = xcalloc(1, sizeof(*f));
	f->b.read = fd_blob_read;
	f->b.close = fd_blob_close;
	f->fd = fd;
	f->err = err;
	return &f->b;
}

/* ---------- docker-archive members ---------- */

/* libarchive reads the archive file with pread from a start offset, so
 * several readers can share one fd and open a member straight at its
 * header. */
struct pread_src {
	int fd;
	int64_t off, end;
	char buf[65536];
};

static la_ssize_t pread_cb(struct archive *a, void *ctx, const void **out)
{
	struct pread_src *s = ctx;
	ssize_t r;
	do
		r = pread(s->fd, s->buf, sizeof(s->buf), s->off);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		archive_set_error(a, errno, "read error");
		return -1;
	}
	s->off += r;
	*out = s->buf;
	return r;
}

static la_int64_t pskip_cb(struct archive *a, void *ctx, la_int64_t req)
{
	struct pread_src *s = ctx;
	(void)a;
	if (req > s->end - s->off)
		req = s->end - s->off;
	if (req < 0)
		req = 0;
	s->off += req;
	return req;
}

static struct archive *tar_reader_at(struct pread_src *src, struct perr *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	if (archive_read_open2(a, src, NULL, pread_cb, pskip_cb, NULL) != ARCHIVE_OK) {
		perr_set(err, 0, "not a tar archive: %s", archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Member names are compared in a canonical form: no leading "./" or "/". */
static const char *member_canon(const char *n)
{
	while (*n == '/' || (n[0] == '.' && n[1] == '/'))
		n += (*n == '/') ? 1 : 2;
	return n;
}

/* A name inside the archive: relative, without "..", not empty. */
static bool member_path_inside(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *c = p;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return false;
		if (!slash)
			return true;
		c = slash + 1;
	}
}

/* DIR/LINK with "." and ".." resolved by name, as docker's legacy
 * archives link layers ("../ID/layer.tar"); NULL when it climbs out. */
static char *member_join(const char *dir, size_t dir_len, const char *link)
{
	cleanup_free char *joined = dir_len ? xasprintf("%.*s/%s", (int)dir_len, dir, link) : xstrdup(link);
	char *out = xmalloc(strlen(joined) + 1);
	size_t o = 0;
	for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (!o) {
				free(out);
				return NULL;
			}
			while (o > 0 && out[o - 1] != '/')
				o--;
			o = o ? o - 1 : 0;
			continue;
		}
		o += (size_t)sprintf(out + o, "%s%s", o ? "/" : "", c);
	}
	out[o] = 0;
	return out;
}

/* Two members of one name: tar readers disagree on which one counts
 * (the first, the last), so an archive must not hold such a pair. */
static int check_unique_members(const struct image *img, struct perr *err)
{
	struct strset seen = { 0 };
	int r = 0;
	for (size_t i = 0; i < img->n_members && r == 0; i++)
		if (img->members[i].type != AE_IFDIR && !strset_add(&seen, img->members[i].name))
			r = perr_set(err, 0, "member '%s' appears twice in the archive: readers would "
					     "disagree on which one counts", img->members[i].name);
	strset_free(&seen);
	return r;
}

static int scan_members(struct image *img, struct perr *err)
{
	struct stat st;
	if (fstat(img->tar_fd, &st) < 0)
		return perr_set(err, errno, "cannot stat");
	cleanup_free struct pread_src *src = xcalloc(1, sizeof(*src));
	src->fd = img->tar_fd;
	src->end = st.st_size;
	cleanup_archive struct archive *a = tar_reader_at(src, err);
	struct archive_entry *e;
	size_t cap = 0;
	int r;
	if (!a)
		return -1;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (img->n_members >= 100000)
			return perr_set(err, 0, "too many members for a docker-archive");
		if (img->n_members == cap) {
			cap = cap ? cap * 2 : 32;
			img->members = xrealloc(img->members, cap * sizeof(*img->members));
		}
		struct archive_member *m = &img->members[img->n_members++];
		const char *hl = archive_entry_hardlink(e), *sl = archive_entry_symlink(e);
		m->name = xstrdup(member_canon(archive_entry_pathname(e)));
		m->size = archive_entry_size(e);
		m->header_pos = archive_read_header_position(a);
		m->type = hl ? 0 : archive_entry_filetype(e);
		m->link = hl ? xstrdup(member_canon(hl)) : sl ? xstrdup(sl) : NULL;
	}
	if (r != ARCHIVE_EOF)
		return perr_set(err, 0, "corrupt tar: %s", archive_error_string(a));
	return check_unique_members(img, err);
}

/* Find member NAME, following hard and symbolic links inside the archive
 * (docker save links identical layers); returns its index. */
static int find_member(const struct image *img, const char *name, size_t *idx, struct perr *err)
{
	cleanup_free char *want = xstrdup(member_canon(name));
	for (int hops = 0; hops <= MAX_MEMBER_LINKS; hops++) {
		size_t i;
		for (i = img->n_members; i-- > 0;)
			if (!strcmp(img->members[i].name, want))
				break;
		if (i == (size_t)-1)
			return perr_set(err, 0, "member '%s' not found in the archive", want);
		const struct archive_member *m = &img->members[i];
		if (m->type == AE_IFREG) {
			*idx = i;
			return 0;
		}
		if (m->type == 0 || (m->type == AE_IFLNK && m->link[0] != '/')) {
			const char *slash = strrchr(want, '/');
			char *next = m->type == 0 ? member_join("", 0, m->link)
						  : member_join(want, slash ? (size_t)(slash - want) : 0, m->link);
			if (!next)
				return perr_set(err, 0, "member '%s' links to '%s', outside the archive", want, m->link);
			free(want);
			want = next;
			continue;
		}
		return perr_set(err, 0, "member '%s' is not a regular file", want);
	}
	return perr_set(err, 0, "member '%s': too many links", name);
}

struct member_blob {
	struct blob b;
	struct archive *a;
	struct pread_src src;
	struct perr *err;
};

static ssize_t member_blob_read(struct blob *b, void *buf, size_t n)
{
	struct member_blob *m = (struct member_blob *)b;
	la_ssize_t r = archive_read_data(m->a, buf, n);
	if (r < 0)
		perr_set(m->err, 0, "read error: %s", archive_error_string(m->a));
	return r;
}

static void member_blob_close(struct blob *b)
{
	struct member_blob *m = (struct member_blob *)b;
	archive_read_free(m->a);
	free(m);
}

static int open_member(struct image *img, size_t idx, struct blob **out, struct perr *err)
{
	struct member_blob *m = xcalloc(1, sizeof(*m));
	struct archive_entry *e;
	struct stat st;
	fstat(img->tar_fd, &st);
	m->src.fd = img->tar_fd;
	m->src.off = img->members[idx].header_pos;
	m->src.end = st.st_size;
	m->err = err;
	m->b.read = member_blob_read;
	m->b.close = member_blob_close;
	m->a = tar_reader_at(&m->src, err);
	if (!m->a || archive_read_next_header(m->a, &e) != ARCHIVE_OK) {
		if (m->a)
			perr_set(err, 0, "cannot re-read member '%s'", img->members[idx].name);
		member_blob_close(&m->b);
		return -1;
	}
	*out = &m->b;
	return 0;
}

static int read_member(struct image *img, const char *name, char **buf, size_t *len,
		       struct perr *err)
{
	size_t idx;
	cleanup_blob struct blob *b = NULL;
	if (find_member(img, name, &idx, err) < 0 || open_member(img, idx, &b, err) < 0)
		return -1;
	if (blob_slurp(b, img->lim.max_json, buf, len, err) < 0)
		return perr_wrap(err, "'%s'", name);
	return 0;
}

/* ---------- OCI layout ---------- */

int read_file_beneath(int dirfd, const char *rel, uint64_t max, char **buf, size_t *len,
		      struct perr *err)
{
	int fd = open_regular_beneath(dirfd, rel, err);
	if (fd < 0)
		return -1;
	cleanup_blob struct blob *b = fd_blob_new(fd, err);
	return blob_slurp(b, max, buf, len, err);
}

static int read_oci_file(struct image *img, const char *rel, char **buf, size_t *len,
			 struct perr *err)
{
	return read_file_beneath(img->dir_fd, rel, img->lim.max_json, buf, len, err);
}

static int open_oci_blob(struct image *img, const char *digest, struct blob **out,
			 struct perr *err)
{
	if (!digest_valid(digest))
		return perr_set(err, 0, "malformed digest '%.80s'", digest);
	cleanup_free char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
	int fd = open_regular_beneath(img->dir_fd, rel, err);
	if (fd < 0)
		return perr_wrap(err, "blob %s", digest);
	*out = fd_blob_new(fd, err);
	return 0;
}

/* Small JSON blobs (index, manifest, config): checked against their
 * descriptor's size and digest before anything parses them. */
static int read_small_blob(struct image *img, const struct descriptor *d, char **buf,
			   size_t *len, struct perr *err)
{
	char got[DIGEST_STR_LEN + 1];
	cleanup_blob struct blob *b = NULL;
	cleanup_free char *p = NULL;
	if ((uint64_t)d->size > img->lim.max_json)
		return perr_set(err, 0, "blob %s: size %lld exceeds the JSON limit of %llu",
				d->digest, (long long)d->size, (unsigned long long)img->lim.max_json);
	if (open_oci_blob(img, d->digest, &b, err) < 0)
		return -1;
	if (blob_slurp(b, img->lim.max_json, &p, len, err) < 0)
		return perr_wrap(err, "blob %s", d->digest);
	if ((int64_t)*len != d->size)
		return perr_set(err, 0, "blob %s: size mismatch (descriptor says %lld, blob has %zu)",
				d->digest, (long long)d->size, *len);
	sha256_buf(p, *len, got);
	if (strcmp(got, d->digest))
		return perr_set(err, 0, "blob %s: digest mismatch (content is %s)", d->digest, got);
	*buf = steal_pointer(&p);
	return 0;
}

struct platform_want {
	char os[64], arch[64], variant[64];
};

static int parse_platform_want(const char *s, struct platform_want *w, struct perr *err)
{
	memset(w, 0, sizeof(*w));
	if (!s)
		s = "linux/amd64";
	if (sscanf(s, "%63[^/]/%63[^/]/%63s", w->os, w->arch, w->variant) < 2)
		return perr_set(err, 0, "invalid platform '%s' (expected os/arch[/variant])", s);
	return 0;
}

static bool platform_matches(const struct descriptor *d, const struct platform_want *w)
{
	if (!d->has_platform)
		return false;
	return !strcmp(d->platform.os, w->os) && !strcmp(d->platform.arch, w->arch) &&
	       (!w->variant[0] || (d->platform.variant && !strcmp(d->platform.variant, w->variant)));
}

static void describe_platforms(const struct descriptor *c, size_t n, char *out, size_t sz)
{
	size_t len = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && len < sz; i++) {
		if (!c[i].has_platform || !strcmp(c[i].platform.os, "unknown"))
			continue;
		len += (size_t)snprintf(out + len, sz - len, "%s%s/%s%s%s", len ? ", " : "",
					c[i].platform.os, c[i].platform.arch,
					c[i].platform.variant ? "/" : "",
					c[i].platform.variant ? c[i].platform.variant : "");
	}
	if (!out[0])
		snprintf(out, sz, "none");
}

/* From a set of candidate descriptors to one manifest descriptor, going
 * through nested indexes and choosing by platform. */
static int choose_manifest(struct image *img, const struct descriptor *c, size_t n,
			   const struct platform_want *w, int depth, struct descriptor *out,
			   struct perr *err)
{
	const struct descriptor *pick = NULL;
	if (depth > MAX_INDEX_NESTING)
		return perr_set(err, 0, "image indexes nested too deeply");
	if (n == 1 && !c[0].has_platform) {
		pick = &c[0];
	} else {
		for (size_t i = 0; i < n && !pick; i++)
			if (platform_matches(&c[i], w))
				pick = &c[i];
		if (!pick) {
			char avail[512];
			describe_platforms(c, n, avail, sizeof(avail));
			return perr_set(err, 0, "no manifest for platform %s/%s%s%s (available: %s)",
					w->os, w->arch, w->variant[0] ? "/" : "", w->variant, avail);
		}
	}
	const struct media_type *mt = media_type_lookup(pick->media_type);
	if (!mt || (mt->kind != MT_INDEX && mt->kind != MT_MANIFEST))
		return perr_set(err, 0, "descriptor %s: unsupported media type '%s'", pick->digest,
				pick->media_type);
	if (mt->kind == MT_MANIFEST) {
		out->digest = xstrdup(pick->digest);
		out->media_type = xstrdup(pick->media_type);
		out->size = pick->size;
		return 0;
	}
	cleanup_free char *buf = NULL;
	size_t len;
	struct index sub;
	if (read_small_blob(img, pick, &buf, &len, err) < 0)
		return -1;
	if (parse_index(buf, len, &img->lim, &sub, err) < 0) {
		index_free(&sub);
		return perr_wrap(err, "index %s", pick->digest);
	}
	int r = choose_manifest(img, sub.m, sub.n, w, depth + 1, out, err);
	index_free(&sub);
	return r;
}

/* Candidates of index.json for the requested tag; error listing tags. */
static int select_by_tag(const struct index *idx, const char *tag, struct descriptor **cand,
			 size_t *n, struct perr *err)
{
	char tags[1024] = "";
	size_t len = 0;
	const char *first_tag = NULL;
	bool several = false;
	*cand = xcalloc(idx->n, sizeof(**cand));
	*n = 0;
	for (size_t i = 0; i < idx->n; i++) {
		const char *rn = idx->m[i].ref_name;
		if (rn && len < sizeof(tags))
			len += (size_t)snprintf(tags + len, sizeof(tags) - len, "%s%s",
						len ? ", " : "", rn);
		if (!tag && rn && first_tag && strcmp(first_tag, rn))
			several = true;
		if (!tag && rn && !first_tag)
			first_tag = rn;
		if (!tag || (rn && !strcmp(rn, tag)))
			(*cand)[(*n)++] = idx->m[i];
	}
	if (several)
		return perr_set(err, 0, "the layout holds several images; name one with oci:DIR:TAG (tags: %s)", tags);
	if (*n == 0)
		return perr_set(err, 0, tag ? "no image tagged '%s' (tags: %s)" : "%sthe layout holds no image%s",
				tag ? tag : "", tag ? (tags[0] ? tags : "none") : "");
	return 0;
}

static int open_oci(struct image *img, const struct platform_want *w, struct perr *err)
{
	cleanup_free char *buf = NULL;
	cleanup_free struct descriptor *cand = NULL;
	struct descriptor chosen = { 0 };
	struct index idx;
	size_t len, n;
	int r;
	img->dir_fd = open(img->ref.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (img->dir_fd < 0)
		return perr_set(err, errno, "cannot open '%s'", img->ref.path);
	if (read_oci_file(img, "oci-layout", &buf, &len, err) < 0)
		return perr_wrap(err, "not an OCI layout");
	free(steal_pointer(&buf));
	if (read_oci_file(img, "index.json", &buf, &len, err) < 0)
		return perr_wrap(err, "index.json");
	if (parse_index(buf, len, &img->lim, &idx, err) < 0) {
		index_free(&idx);
		return perr_wrap(err, "index.json");
	}
	r = select_by_tag(&idx, img->ref.tag, &cand, &n, err);
	if (r == 0 && n && cand[0].ref_name)
		img->tag = xstrdup(cand[0].ref_name);
	if (r == 0)
		r = choose_manifest(img, cand, n, w, 0, &chosen, err);
	index_free(&idx);
	if (r < 0) {
		descriptor_free(&chosen);
		return -1;
	}
	free(steal_pointer(&buf));
	r = read_small_blob(img, &chosen, &buf, &len, err);
	if (r == 0 && parse_manifest(buf, len, &img->lim, &img->manifest, err) < 0)
		r = perr_wrap(err, "manifest %s", chosen.digest);
	descriptor_free(&chosen);
	if (r < 0)
		return -1;
	const struct media_type *cmt = media_type_lookup(img->manifest.config.media_type);
	if (!cmt || cmt->kind != MT_CONFIG)
		return perr_set(err, 0, "config: unsupported media type '%s'",
				img->manifest.config.media_type);
	if (read_small_blob(img, &img->manifest.config, &img->config_raw, &img->config_len, err) < 0)
		return -1;
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", img->manifest.config.digest);
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		const struct media_type *mt = media_type_lookup(img->manifest.layers[i].media_type);
		if (!mt || mt->kind != MT_LAYER)
			return perr_set(err, 0, "layer %zu: unsupported media type '%s'", i,
					img->manifest.layers[i].media_type);
	}
	return 0;
}

/* ---------- docker-archive ---------- */

/* docker-archive readers need random access; pipes and stdin are spooled
 * to an anonymous temporary file first. */
static int spool_to_tmpfile(int in, const struct limits *lim, struct perr *err)
{
	const char *dir = getenv("TMPDIR");
	cleanup_close int fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	char buf[65536];
	uint64_t total = 0;
	if (fd < 0)
		return perr_set(err, errno, "cannot create a temporary file");
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return perr_set(err, errno, "read error");
		if (r == 0)
			break;
		total += (uint64_t)r;
		if (total > lim->max_bytes)
			return perr_set(err, 0, "input exceeds the limit of %llu bytes",
					(unsigned long long)lim->max_bytes);
		if (write_all(fd, buf, (size_t)r) < 0)
			return perr_set(err, errno, "cannot write temporary file");
	}
	return steal_fd(&fd);
}

static int open_archive_fd(struct image *img, struct perr *err)
{
	struct stat st;
	cleanup_close int fd = -1;
	if (!strcmp(img->ref.path, "-"))
		fd = dup(STDIN_FILENO);
	else
		fd = open(img->ref.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return perr_set(err, errno, "cannot open '%s'", img->ref.path);
	if (fstat(fd, &st) < 0)
		return perr_set(err, errno, "cannot stat '%s'", img->ref.path);
	if (S_ISDIR(st.st_mode))
		return perr_set(err, 0, "'%s' is a directory (use oci:%s for an OCI layout)",
				img->ref.path, img->ref.path);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (S_ISREG(st.st_mode))
		return steal_fd(&fd);
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode))
		return perr_set(err, 0, "'%s' is not a file", img->ref.path);
	int spooled = spool_to_tmpfile(fd, &img->lim, err);
	return spooled < 0 ? perr_wrap(err, "'%s'", img->ref.path) : spooled;
}

static int select_docker_entry(const struct docker_manifest *dm, const char *tag, size_t *out,
			       struct perr *err)
{
	char tags[1024] = "";
	size_t len = 0;
	for (size_t i = 0; i < dm->n; i++)
		for (size_t t = 0; t < dm->e[i].repo_tags.n; t++) {
			const char *rt = dm->e[i].repo_tags.v[t];
			if (tag && docker_ref_equal(rt, tag)) {
				*out = i;
				return 0;
			}
			if (len < sizeof(tags))
				len += (size_t)snprintf(tags + len, sizeof(tags) - len, "%s%s",
							len ? ", " : "", rt);
		}
	if (!tag && dm->n == 1) {
		*out = 0;
		return 0;
	}
	if (tag)
		return perr_set(err, 0, "no image tagged '%s' (tags: %s)", tag, tags[0] ? tags : "none");
	return perr_set(err, 0, "the archive holds %zu images; name one with docker-archive:FILE:NAME:TAG (tags: %s)",
			dm->n, tags);
}

/* "blobs/sha256/HEX" (docker 25+) or "HEX.json" / "HEX/layer.tar"-style
 * names tell the expected digest; others do not. */
static char *digest_from_member_name(const char *name)
{
	char hex[65];
	if (!strncmp(name, "blobs/sha256/", 13) && strlen(name) == 13 + 64)
		snprintf(hex, sizeof(hex), "%s", name + 13);
	else if (!strchr(name, '/') && strlen(name) == 64 + 5 && !strcmp(name + 64, ".json"))
		snprintf(hex, sizeof(hex), "%.64s", name);
	else
		return NULL;
	char *d = xasprintf("sha256:%s", hex);
	if (!digest_valid(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static int docker_layers(struct image *img, const struct docker_entry *e, struct perr *err)
{
	struct manifest *m = &img->manifest;
	if (e->layers.n != img->config.diff_ids.n)
		return perr_set(err, 0, "manifest.json lists %zu layers but the config has %zu diff_ids",
				e->layers.n, img->config.diff_ids.n);
	m->n_layers = e->layers.n;
	m->layers = xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*m->layers));
	img->layer_member = xcalloc(m->n_layers ? m->n_layers : 1, sizeof(size_t));
	for (size_t i = 0; i < m->n_layers; i++) {
		struct descriptor *d = &m->layers[i];
		if (find_member(img, e->layers.v[i], &img->layer_member[i], err) < 0)
			return perr_wrap(err, "layer %zu", i);
		d->media_type = xstrdup(oci_layer_media_type(COMP_NONE));
		/* Layers of a docker-archive are uncompressed tars: the blob
		 * digest is the diff_id unless the name says otherwise. */
		d->digest = digest_from_member_name(e->layers.v[i]);
		if (!d->digest)
			d->digest = xstrdup(img->config.diff_ids.v[i]);
		d->size = img->members[img->layer_member[i]].size;
	}
	return 0;
}

/* manifest.json names members of this archive, nothing else: a "../" or
 * absolute path is refused even when a member of that very name exists. */
static int check_entry_paths(const struct docker_entry *e, struct perr *err)
{
	if (!member_path_inside(e->config))
		return perr_set(err, 0, "manifest.json: Config '%s' is not a path inside the archive", e->config);
	for (size_t i = 0; i < e->layers.n; i++)
		if (!member_path_inside(e->layers.v[i]))
			return perr_set(err, 0, "manifest.json: Layers[%zu] '%s' is not a path inside the archive",
					i, e->layers.v[i]);
	return 0;
}

static int open_docker_archive(struct image *img, int fd, struct perr *err)
{
	cleanup_free char *buf = NULL;
	struct docker_manifest dm;
	size_t len, which;
	int r;
	img->tar_fd = fd;
	if (scan_members(img, err) < 0)
		return perr_wrap(err, "'%s'", img->ref.path);
	if (read_member(img, "manifest.json", &buf, &len, err) < 0)
		return perr_wrap(err, "'%s': not a docker-archive", img->ref.path);
	r = parse_docker_manifest(buf, len, &img->lim, &dm, err);
	if (r < 0)
		perr_wrap(err, "manifest.json");
	else
		r = select_docker_entry(&dm, img->ref.tag, &which, err);
	if (r == 0)
		r = check_entry_paths(&dm.e[which], err);
	if (r == 0) {
		const struct docker_entry *e = &dm.e[which];
		cleanup_free char *want = digest_from_member_name(e->config);
		for (size_t t = 0; t < e->repo_tags.n; t++)
			strv_push(&img->repo_tags, xstrdup(e->repo_tags.v[t]));
		if (!img->ref.tag && e->repo_tags.n)
			img->tag = xstrdup(e->repo_tags.v[0]);
		r = read_member(img, e->config, &img->config_raw, &img->config_len, err);
		if (r == 0) {
			sha256_buf(img->config_raw, img->config_len, img->config_digest);
			if (want && strcmp(want, img->config_digest))
				r = perr_set(err, 0, "config '%s': digest mismatch (content is %s)",
					     e->config, img->config_digest);
		}
		if (r == 0 && parse_config(img->config_raw, img->config_len, &img->lim, &img->config, err) < 0)
			r = perr_wrap(err, "config '%s'", e->config);
		if (r == 0)
			r = docker_layers(img, e, err);
		if (r == 0) {
			img->manifest.media_type = xstrdup("application/vnd.oci.image.manifest.v1+json");
			img->manifest.config.media_type = xstrdup("application/vnd.oci.image.config.v1+json");
			img->manifest.config.digest = xstrdup(img->config_digest);
			img->manifest.config.size = (int64_t)img->config_len;
		}
	}
	docker_manifest_free(&dm);
	return r;
}

/* ---------- docker daemon ---------- */

int docker_spawn(char *const argv[], int fd, bool fd_is_stdin, pid_t *pid, int *errfd,
		 struct perr *err)
{
	posix_spawn_file_actions_t fa;
	const char *dir = getenv("TMPDIR");
	cleanup_close int efd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int r;
	if (efd < 0)
		return perr_set(err, errno, "cannot create a temporary file");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, fd_is_stdin ? 0 : 1);
	posix_spawn_file_actions_addopen(&fa, fd_is_stdin ? 1 : 0, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, efd, 2);
	r = posix_spawnp(pid, "docker", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return perr_set(err, r, "cannot run docker");
	*errfd = steal_fd(&efd);
	return 0;
}

int docker_wait(pid_t pid, int errfd, const char *what, struct perr *err)
{
	int status;
	char msg[512] = "";
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ssize_t n = pread(errfd, msg, sizeof(msg) - 1, 0);
	close(errfd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg[n > 0 ? n : 0] = 0;
	char *nl = strchr(msg, '\n');
	if (nl)
		*nl = 0;
	return perr_set(err, 0, "%s failed: %s", what, msg[0] ? msg : "docker exited with an error");
}

static int docker_save(struct image *img, struct perr *err)
{
	int pfd[2];
	pid_t pid;
	int efd;
	char *argv[] = { "docker", "save", img->ref.tag, NULL };
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return perr_set(err, errno, "pipe");
	if (docker_spawn(argv, pfd[1], false, &pid, &efd, err) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	close(pfd[1]);
	int fd = spool_to_tmpfile(pfd[0], &img->lim, err);
	close(pfd[0]);
	if (fd < 0)
		kill(pid, SIGTERM);
	int r = docker_wait(pid, efd, "docker save", fd < 0 ? NULL : err);
	if (fd < 0 || r < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---------- public ---------- */

int image_open(const struct imgref *ref, const struct open_opts *opts, struct image **out,
	       struct perr *err)
{
	cleanup_image struct image *img = xcalloc(1, sizeof(*img));
	struct platform_want w;
	int r, fd;
	img->dir_fd = img->tar_fd = -1;
	img->lim = opts->lim;
	img->ref.transport = ref->transport;
	img->ref.path = ref->path ? xstrdup(ref->path) : NULL;
	img->ref.tag = ref->tag ? xstrdup(ref->tag) : NULL;
	img->ref.text = xstrdup(ref->text);
	if (parse_platform_want(opts->platform, &w, err) < 0)
		return -1;
	switch (ref->transport) {
	case T_OCI:
		r = open_oci(img, &w, err);
		if (r == 0 && parse_config(img->config_raw, img->config_len, &img->lim, &img->config, err) < 0)
			r = perr_wrap(err, "config %s", img->config_digest);
		if (r == 0 && img->manifest.n_layers != img->config.diff_ids.n)
			r = perr_set(err, 0, "manifest has %zu layers but the config has %zu diff_ids",
				     img->manifest.n_layers, img->config.diff_ids.n);
		break;
	case T_DOCKER_ARCHIVE:
		fd = open_archive_fd(img, err);
		r = fd < 0 ? -1 : open_docker_archive(img, fd, err);
		break;
	case T_DOCKER_DAEMON:
		fd = docker_save(img, err);
		r = fd < 0 ? -1 : open_docker_archive(img, fd, err);
		break;
	default:
		r = perr_set(err, 0, "unknown transport");
	}
	/* An index without platforms gives no choice: then the config must
	 * match what the user asked for. */
	if (r == 0 && opts->platform &&
	    (strcmp(img->config.platform.os, w.os) || strcmp(img->config.platform.arch, w.arch) ||
	     (w.variant[0] && (!img->config.platform.variant ||
			       strcmp(img->config.platform.variant, w.variant)))))
		r = perr_set(err, 0, "image is for platform %s/%s, not %s", img->config.platform.os,
			     img->config.platform.arch, opts->platform);
	if (r < 0)
		return perr_wrap(err, "%s", ref->text);
	*out = steal_pointer(&img);
	return 0;
}

enum compression image_layer_compression(const struct image *img, size_t idx)
{
	const struct media_type *mt = media_type_lookup(img->manifest.layers[idx].media_type);
	return mt ? mt->comp : COMP_NONE;
}

int image_open_layer_blob(struct image *img, size_t idx, struct blob **out, struct perr *err)
{
	if (idx >= img->manifest.n_layers)
		return perr_set(err, 0, "no layer %zu", idx);
	if (img->ref.transport == T_OCI)
		return open_oci_blob(img, img->manifest.layers[idx].digest, out, err);
	return open_member(img, img->layer_member[idx], out, err);
}

void image_close(struct image *img)
{
	imgref_free(&img->ref);
	manifest_free(&img->manifest);
	image_config_free(&img->config);
	free(img->config_raw);
	strv_free(&img->repo_tags);
	free(img->tag);
	if (img->dir_fd >= 0)
		close(img->dir_fd);
	if (img->tar_fd >= 0)
		close(img->tar_fd);
	for (size_t i = 0; i < img->n_members; i++) {
		free(img->members[i].name);
		free(img->members[i].link);
	}
	free(img->members);
	free(img->layer_member);
	free(img);
}
