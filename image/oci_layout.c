/* The OCI image layout transport (oci:DIR[:TAG]): index, nested indexes
 * and platforms, blobs opened beneath the layout without following links. */
#define _GNU_SOURCE
#include "image/transport.h"
#include "base/digest.h"
#include "base/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>


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

/* A file of the layout: below the directory, or a member of the
 * oci-archive's tar. */
static int layout_file(struct image *img, const char *rel, struct blob **out, struct perr *err)
{
	if (img->ref.transport == T_OCI_ARCHIVE)
		return tar_member_open(img, rel, out, err);
	int fd = open_regular_beneath(img->dir_fd, rel, err);
	if (fd < 0)
		return -1;
	*out = fd_blob_new(fd, err);
	return 0;
}

static int read_oci_file(struct image *img, const char *rel, char **buf, size_t *len,
			 struct perr *err)
{
	cleanup_blob struct blob *b = NULL;
	if (layout_file(img, rel, &b, err) < 0)
		return -1;
	return blob_slurp(b, img->lim.max_json, buf, len, err);
}

static int open_oci_blob(struct image *img, const char *digest, struct blob **out,
			 struct perr *err)
{
	if (!digest_valid(digest))
		return perr_set(err, 0, "malformed digest '%.80s'", digest);
	cleanup_free char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
	if (layout_file(img, rel, out, err) < 0)
		return perr_wrap(err, "blob %s", digest);
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
	if (img->ref.transport == T_OCI_ARCHIVE) {
		if (tar_archive_open(img, err) < 0)
			return -1;
	} else {
		img->dir_fd = open(img->ref.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (img->dir_fd < 0)
			return perr_set(err, errno, "cannot open '%s'", img->ref.path);
	}
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
	const struct media_type *top = r == 0 && n == 1 ? media_type_lookup(cand[0].media_type) : NULL;
	if (top && top->kind == MT_INDEX)
		snprintf(img->index_digest, sizeof(img->index_digest), "%s", cand[0].digest);
	if (r == 0)
		r = choose_manifest(img, cand, n, w, read_small_blob, &chosen, err);
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
	img->manifest_len = len;
	img->manifest_raw = steal_pointer(&buf);
	sha256_buf(img->manifest_raw, len, img->manifest_digest);
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

static int oci_open(struct image *img, const struct platform_want *w, struct perr *err)
{
	int r = open_oci(img, w, err);
	if (r == 0 && parse_config(img->config_raw, img->config_len, &img->lim, &img->config, err) < 0)
		r = perr_wrap(err, "config %s", img->config_digest);
	if (r == 0 && img->manifest.n_layers != img->config.diff_ids.n)
		r = perr_set(err, 0, "manifest has %zu layers but the config has %zu diff_ids",
			     img->manifest.n_layers, img->config.diff_ids.n);
	return r;
}

static int oci_open_layer(struct image *img, size_t idx, struct blob **out, struct perr *err)
{
	return open_oci_blob(img, img->manifest.layers[idx].digest, out, err);
}

static void oci_close(struct image *img)
{
	if (img->dir_fd >= 0)
		close(img->dir_fd);
	img->dir_fd = -1;
}

const struct transport_ops oci_layout_transport = { oci_open, oci_open_layer, oci_close };
/* oci-archive:FILE[:TAG]: the same layout as a tar (what `podman save
 * --format oci-archive` and buildah write), read in place. */
const struct transport_ops oci_archive_transport = { oci_open, oci_open_layer, docker_archive_close };
