/* The docker-archive transport (docker-archive:FILE[:NAME:TAG], "-" for
 * stdin): `docker save` tarballs, legacy and the OCI flavour docker 25+
 * writes, read in place through member offsets (spooled when not seekable). */
#define _GNU_SOURCE
#include "image/transport.h"
#include "base/digest.h"
#include "base/resolve.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_MEMBER_LINKS 8

struct archive_member {
	char *name;
	int64_t size;
	int64_t header_pos;
	mode_t type;     /* AE_IFREG, AE_IFLNK, ... ; 0 for hardlinks */
	char *link;      /* symlink or hardlink target, archive-relative */
};

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

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

/* ---------- docker-archive ---------- */

/* docker-archive readers need random access; pipes and stdin are spooled
 * to an anonymous temporary file first. */
int spool_to_tmpfile(int in, const struct limits *lim, struct perr *err)
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

int tar_member_open(struct image *img, const char *name, struct blob **out, struct perr *err)
{
	size_t idx;
	return find_member(img, name, &idx, err) < 0 ? -1 : open_member(img, idx, out, err);
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

int open_docker_archive(struct image *img, int fd, struct perr *err)
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

int tar_archive_open(struct image *img, struct perr *err)
{
	img->tar_fd = open_archive_fd(img, err);
	if (img->tar_fd < 0)
		return -1;
	return scan_members(img, err) < 0 ? perr_wrap(err, "'%s'", img->ref.path) : 0;
}

static int archive_open(struct image *img, const struct platform_want *w, struct perr *err)
{
	(void)w; /* an archive holds one platform: image_open() checks it */
	int fd = open_archive_fd(img, err);
	return fd < 0 ? -1 : open_docker_archive(img, fd, err);
}

int docker_archive_open_layer(struct image *img, size_t idx, struct blob **out, struct perr *err)
{
	return open_member(img, img->layer_member[idx], out, err);
}

void docker_archive_close(struct image *img)
{
	if (img->tar_fd >= 0)
		close(img->tar_fd);
	img->tar_fd = -1;
	for (size_t i = 0; i < img->n_members; i++) {
		free(img->members[i].name);
		free(img->members[i].link);
	}
	free(img->members);
	free(img->layer_member);
	img->members = NULL;
	img->layer_member = NULL;
	img->n_members = 0;
}

const struct transport_ops docker_archive_transport = { archive_open, docker_archive_open_layer,
							docker_archive_close };
