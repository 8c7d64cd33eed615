#define _GNU_SOURCE
#include "image/writer.h"
#include "base/digest.h"
#include "base/resolve.h"
#include "image/registry.h"
#include "image/source.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

struct image_writer {
	struct imgref dst;
	char *tag;             /* OCI ref name or docker name:tag */
	/* OCI */
	char *final_dir;       /* the layout directory */
	char *stage_dir;       /* temporary sibling when the layout is new */
	int layout_fd;         /* where blobs go (stage or final) */
	struct strv tmp_names; /* temporaries below layout_fd to clean up */
	/* docker-archive */
	char *tmp_file;        /* temporary sibling of the archive */
	int out_fd;
	pid_t docker_pid;
	int docker_errfd;
	struct archive *tar;
	struct strv layer_paths;
	/* docker:// */
	struct registry *reg;
	/* all */
	struct descriptor *layers;
	size_t n_layers;
	struct strv diff_ids;
	char config_digest[DIGEST_STR_LEN + 1];
	char manifest_digest[DIGEST_STR_LEN + 1];
	size_t config_len;
	/* the source's manifest, written as it is when it still describes
	 * what was added (writer_keep_manifest) */
	char *kept_raw, *kept_type;
	size_t kept_len;
	struct strv kept_layers;
	char *kept_config;
	bool committed;
};

const char *writer_dest(const struct image_writer *w)
{
	return w->dst.text;
}

const char *writer_manifest_digest(const struct image_writer *w)
{
	return w->committed && w->manifest_digest[0] ? w->manifest_digest : NULL;
}

bool writer_wants_uncompressed(const struct image_writer *w)
{
	return w->dst.transport == T_DOCKER_ARCHIVE || w->dst.transport == T_DOCKER_DAEMON;
}

/* Blobs go into an OCI layout: a directory, or one staged for a tar. */
static bool writes_layout(const struct image_writer *w)
{
	return w->dst.transport == T_OCI || w->dst.transport == T_OCI_ARCHIVE;
}

static int tmp_sibling(const char *path, char **out, bool dir, struct perr *err)
{
	char *t = xasprintf("%s.pare-tmp-XXXXXX", path);
	int fd = -1;
	if (dir ? mkdtemp(t) == NULL : (fd = mkostemp(t, O_CLOEXEC)) < 0) {
		perr_set(err, errno, "cannot create a temporary file next to '%s'", path);
		free(t);
		return -1;
	}
	/* It becomes the output: the user's umask, not mkstemp's 0600. */
	if (dir ? chmod(t, umask_mode(0777)) : fchmod(fd, umask_mode(0666))) {
		perr_set(err, errno, "cannot set the mode of '%s'", t);
		if (dir)
			rmdir(t);
		else
			close(fd), unlink(t);
		free(t);
		return -1;
	}
	*out = t;
	return dir ? 0 : fd;
}

/* ---------- OCI ---------- */

static int mkdirs_at(int dfd, const char *rel, struct perr *err)
{
	cleanup_free char *p = xstrdup(rel);
	for (char *s = strchr(p, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = 0;
		if (mkdirat(dfd, p, 0777) < 0 && errno != EEXIST)
			return perr_set(err, errno, "cannot create '%s'", p);
		if (!s)
			return 0;
		*s = '/';
	}
}

static int open_oci(struct image_writer *w, struct perr *err)
{
	struct stat st;
	const char *dir = w->dst.path;
	w->final_dir = xstrdup(dir);
	if (stat(dir, &st) == 0) {
		cleanup_free char *marker = xasprintf("%s/oci-layout", dir);
		if (!S_ISDIR(st.st_mode))
			return perr_set(err, 0, "'%s' exists and is not a directory", dir);
		if (access(marker, F_OK) == 0) {
			/* An existing layout: add blobs (immutable, by digest),
			 * then replace index.json atomically at commit. */
			w->layout_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (w->layout_fd < 0)
				return perr_set(err, errno, "cannot open '%s'", dir);
			return mkdirs_at(w->layout_fd, "blobs/sha256", err);
		}
		if (rmdir(dir) < 0)
			return perr_set(err, errno == ENOTEMPTY || errno == EEXIST ? 0 : errno,
					"'%s' exists and is not an OCI layout%s", dir,
					errno == ENOTEMPTY || errno == EEXIST ? " (nor empty)" : "");
	}
	if (tmp_sibling(dir, &w->stage_dir, true, err) < 0)
		return -1;
	w->layout_fd = open(w->stage_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->layout_fd < 0)
		return perr_set(err, errno, "cannot open '%s'", w->stage_dir);
	return mkdirs_at(w->layout_fd, "blobs/sha256", err);
}

/* Write a small file below the layout atomically (temp + rename). */
static int oci_put_file(struct image_writer *w, const char *rel, const char *data, size_t len,
			struct perr *err)
{
	cleanup_free char *tmp = xasprintf("%s.pare-tmp", rel);
	cleanup_close int fd = openat(w->layout_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0)
		return perr_set(err, errno, "cannot create '%s'", rel);
	strv_push(&w->tmp_names, xstrdup(tmp));
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0)
		return perr_set(err, errno, "cannot write '%s'", rel);
	if (renameat(w->layout_fd, tmp, w->layout_fd, rel) < 0)
		return perr_set(err, errno, "cannot rename '%s'", rel);
	return 0;
}

static int oci_put_blob_bytes(struct image_writer *w, const char *data, size_t len, char *digest,
			      struct perr *err)
{
	sha256_buf(data, len, digest);
	cleanup_free char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
	return oci_put_file(w, rel, data, len, err);
}

/* The index.json of an existing layout, without the entry named TAG. An
 * index that exists but cannot be read is an error: rewriting it would
 * drop every other image of the layout. */
static int oci_old_entries(struct image_writer *w, struct descriptor **out, size_t *n,
			   struct perr *err)
{
	struct index idx = { 0 };
	cleanup_free char *buf = NULL;
	size_t len;
	*n = 0;
	*out = NULL;
	if (read_file_beneath(w->layout_fd, "index.json", default_limits.max_json, &buf, &len, err) < 0) {
		if (err->errnum != ENOENT)
			return perr_wrap(err, "existing index.json");
	} else if (parse_index(buf, len, &default_limits, &idx, err) < 0) {
		index_free(&idx);
		return perr_wrap(err, "existing index.json");
	}
	*out = xcalloc(idx.n + 1, sizeof(**out));
	for (size_t i = 0; i < idx.n; i++) {
		if (idx.m[i].ref_name && !strcmp(idx.m[i].ref_name, w->tag)) {
			descriptor_free(&idx.m[i]);
			continue;
		}
		(*out)[(*n)++] = idx.m[i];
	}
	free(idx.m);
	return 0;
}

/* ---------- oci-archive ---------- */

/* The layout is staged in a temporary directory, then written as one tar
 * (deterministic: sorted, mtime 0, root-owned) next to the file, renamed
 * into place. */
static int open_oci_archive(struct image_writer *w, struct perr *err)
{
	struct stat st;
	if (!strcmp(w->dst.path, "-"))
		return perr_set(err, 0, "oci-archive: to standard output is not supported; name a file");
	if (stat(w->dst.path, &st) == 0 && !S_ISREG(st.st_mode))
		return perr_set(err, 0, "'%s' exists and is %s", w->dst.path, file_kind_name(st.st_mode));
	w->stage_dir = make_tempdir("pare-oci-archive", err);
	if (!w->stage_dir)
		return -1;
	w->layout_fd = open(w->stage_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->layout_fd < 0)
		return perr_set(err, errno, "cannot open '%s'", w->stage_dir);
	return mkdirs_at(w->layout_fd, "blobs/sha256", err);
}

static int tar_add(struct archive *a, const char *name, int fd, int64_t size, bool dir, struct perr *err)
{
	struct archive_entry *e = archive_entry_new();
	char buf[65536];
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : size);
	archive_entry_set_mtime(e, 0, 0);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return perr_set(err, 0, "cannot write '%s': %s", name, archive_error_string(a));
	for (int64_t done = 0; !dir && done < size;) {
		ssize_t n = pread(fd, buf, sizeof(buf), done);
		if (n <= 0)
			return perr_set(err, n < 0 ? errno : EIO, "cannot read back '%s'", name);
		if (archive_write_data(a, buf, (size_t)n) != n)
			return perr_set(err, 0, "cannot write '%s': %s", name, archive_error_string(a));
		done += n;
	}
	return 0;
}

static int tar_add_file(struct archive *a, int dfd, const char *rel, struct perr *err)
{
	cleanup_close int fd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return perr_set(err, errno, "cannot read '%s'", rel);
	return tar_add(a, rel, fd, st.st_size, false, err);
}

static int oci_archive_tar(struct image_writer *w, int out_fd, struct perr *err)
{
	struct archive *a = archive_write_new();
	cleanup_strv struct strv blobs = { 0 };
	int r = 0;
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
		r = perr_set(err, 0, "cannot write archive: %s", archive_error_string(a));
	strv_push(&blobs, xasprintf("blobs/sha256/%s", digest_hex(w->config_digest)));
	for (size_t i = 0; i < w->n_layers; i++)
		strv_push(&blobs, xasprintf("blobs/sha256/%s", digest_hex(w->layers[i].digest)));
	strv_push(&blobs, xasprintf("blobs/sha256/%s", digest_hex(w->manifest_digest)));
	strv_sort(&blobs);
	if (r == 0)
		r = tar_add_file(a, w->layout_fd, "oci-layout", err);
	if (r == 0)
		r = tar_add_file(a, w->layout_fd, "index.json", err);
	if (r == 0)
		r = tar_add(a, "blobs/", -1, 0, true, err);
	if (r == 0)
		r = tar_add(a, "blobs/sha256/", -1, 0, true, err);
	for (size_t i = 0; r == 0 && i < blobs.n; i++)
		if (i == 0 || strcmp(blobs.v[i], blobs.v[i - 1]))
			r = tar_add_file(a, w->layout_fd, blobs.v[i], err);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = perr_set(err, 0, "cannot finish archive: %s", archive_error_string(a));
	archive_write_free(a);
	return r;
}

static int oci_archive_commit(struct image_writer *w, struct perr *err)
{
	int fd = tmp_sibling(w->dst.path, &w->tmp_file, false, err);
	if (fd < 0)
		return -1;
	w->out_fd = fd;
	if (oci_archive_tar(w, fd, err) < 0)
		return -1;
	if (fsync(fd) < 0)
		return perr_set(err, errno, "cannot write '%s'", w->tmp_file);
	if (rename(w->tmp_file, w->dst.path) < 0)
		return perr_set(err, errno, "cannot rename to '%s'", w->dst.path);
	free(w->tmp_file);
	w->tmp_file = NULL;
	return 0;
}

/* ---------- docker:// ---------- */

static int open_registry(struct image_writer *w, const struct imgref *dst, struct perr *err)
{
	if (dst->digest)
		return perr_set(err, 0, "cannot push to a digest; name a tag (docker://%s/%s:TAG)", dst->host,
				dst->repo);
	return registry_open(dst->host, dst->repo, &dst->reg, true, &w->reg, err);
}

#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"

void writer_keep_manifest(struct image_writer *w, const char *raw, size_t len, const struct manifest *m)
{
	const char *type = m->media_type ? m->media_type : OCI_MANIFEST_TYPE;
	/* Only layouts and registries hold manifests; a layout holds OCI
	 * ones, a registry docker's too. */
	if (!raw || !(writes_layout(w) || w->dst.transport == T_REGISTRY) ||
	    (writes_layout(w) && strcmp(type, OCI_MANIFEST_TYPE)))
		return;
	w->kept_raw = xmalloc(len + 1);
	memcpy(w->kept_raw, raw, len);
	w->kept_raw[len] = 0;
	w->kept_len = len;
	w->kept_type = xstrdup(type);
	w->kept_config = xstrdup(m->config.digest);
	for (size_t i = 0; i < m->n_layers; i++)
		strv_push(&w->kept_layers, xstrdup(m->layers[i].digest));
}

/* The kept manifest, if the config and every layer are the ones it names. */
static bool kept_manifest_fits(const struct image_writer *w)
{
	if (!w->kept_raw || strcmp(w->kept_config, w->config_digest) || w->kept_layers.n != w->n_layers)
		return false;
	for (size_t i = 0; i < w->n_layers; i++)
		if (strcmp(w->kept_layers.v[i], w->layers[i].digest))
			return false;
	return true;
}

/* The manifest to write and its media type: the kept one, or the OCI
 * manifest of what was added (the config, then the layers). */
static char *writer_manifest_json(const struct image_writer *w, const char **type)
{
	if (kept_manifest_fits(w)) {
		*type = w->kept_type;
		return xstrdup(w->kept_raw);
	}
	struct manifest m = { 0 };
	m.media_type = OCI_MANIFEST_TYPE;
	m.config.media_type = "application/vnd.oci.image.config.v1+json";
	m.config.digest = (char *)w->config_digest;
	m.config.size = (int64_t)w->config_len;
	m.layers = w->layers;
	m.n_layers = w->n_layers;
	*type = OCI_MANIFEST_TYPE;
	return manifest_to_json(&m);
}

static int registry_commit(struct image_writer *w, struct perr *err)
{
	const char *type;
	cleanup_free char *mjson = writer_manifest_json(w, &type);
	sha256_buf(mjson, strlen(mjson), w->manifest_digest);
	/* Last: until the manifest is in, nothing is tagged. */
	return registry_put_manifest(w->reg, w->tag, type, mjson, strlen(mjson), err);
}

static int oci_commit(struct image_writer *w, struct perr *err)
{
	char mdigest[DIGEST_STR_LEN + 1];
	const char *type;
	cleanup_free char *mjson = writer_manifest_json(w, &type);
	if (oci_put_blob_bytes(w, mjson, strlen(mjson), mdigest, err) < 0)
		return -1;
	snprintf(w->manifest_digest, sizeof(w->manifest_digest), "%s", mdigest);
	struct descriptor *descs;
	size_t n;
	if (oci_old_entries(w, &descs, &n, err) < 0)
		return -1;
	descs[n] = (struct descriptor){ .media_type = xstrdup(type), .digest = xstrdup(mdigest),
					.size = (int64_t)strlen(mjson), .ref_name = xstrdup(w->tag) };
	n++;
	cleanup_free char *ijson = index_to_json(descs, n);
	for (size_t i = 0; i < n; i++)
		descriptor_free(&descs[i]);
	free(descs);
	if (oci_put_file(w, "oci-layout", OCI_LAYOUT_JSON, strlen(OCI_LAYOUT_JSON), err) < 0 ||
	    oci_put_file(w, "index.json", ijson, strlen(ijson), err) < 0)
		return -1;
	if (w->dst.transport == T_OCI_ARCHIVE)
		return oci_archive_commit(w, err);
	if (w->stage_dir) {
		if (rename(w->stage_dir, w->final_dir) < 0)
			return perr_set(err, errno, "cannot rename '%s' to '%s'", w->stage_dir, w->final_dir);
		free(w->stage_dir);
		w->stage_dir = NULL;
	}
	return 0;
}

/* ---------- docker-archive ---------- */

static int open_docker(struct image_writer *w, struct perr *err)
{
	w->tar = archive_write_new();
	archive_write_set_format_pax_restricted(w->tar);
	if (w->dst.transport == T_DOCKER_DAEMON) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return perr_set(err, errno, "pipe");
		char *argv[] = { "docker", "load", "--quiet", NULL };
		int r = docker_spawn(argv, p[0], true, &w->docker_pid, &w->docker_errfd, err);
		close(p[0]);
		w->out_fd = p[1];
		if (r < 0)
			return -1;
	} else if (!strcmp(w->dst.path, "-")) {
		if (isatty(STDOUT_FILENO))
			return perr_set(err, 0, "refusing to write an image to a terminal");
		w->out_fd = dup(STDOUT_FILENO);
	} else {
		struct stat st;
		if (stat(w->dst.path, &st) == 0 && S_ISDIR(st.st_mode))
			return perr_set(err, 0, "'%s' is a directory", w->dst.path);
		w->out_fd = tmp_sibling(w->dst.path, &w->tmp_file, false, err);
		if (w->out_fd < 0)
			return -1;
	}
	if (archive_write_open_fd(w->tar, w->out_fd) != ARCHIVE_OK)
		return perr_set(err, 0, "cannot write archive: %s", archive_error_string(w->tar));
	return 0;
}

static struct archive_entry *docker_entry(const char *name, int64_t size)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, 0, 0); /* deterministic archives */
	return e;
}

static int docker_put_fd(struct image_writer *w, const char *name, int fd, int64_t size,
			 struct perr *err)
{
	struct archive_entry *e = docker_entry(name, size);
	char buf[65536];
	int64_t done = 0;
	int r = archive_write_header(w->tar, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return perr_set(err, 0, "cannot write '%s': %s", name, archive_error_string(w->tar));
	while (done < size) {
		ssize_t n = pread(fd, buf, sizeof(buf), done);
		if (n <= 0)
			return perr_set(err, n < 0 ? errno : EIO, "cannot read back '%s'", name);
		if (archive_write_data(w->tar, buf, (size_t)n) != n)
			return perr_set(err, 0, "cannot write '%s': %s", name, archive_error_string(w->tar));
		done += n;
	}
	return 0;
}

static int docker_put_bytes(struct image_writer *w, const char *name, const char *data,
			    size_t len, struct perr *err)
{
	struct archive_entry *e = docker_entry(name, (int64_t)len);
	int r = archive_write_header(w->tar, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK || archive_write_data(w->tar, data, len) != (la_ssize_t)len)
		return perr_set(err, 0, "cannot write '%s': %s", name, archive_error_string(w->tar));
	return 0;
}

static int docker_commit(struct image_writer *w, struct perr *err)
{
	cleanup_free char *cfg = xasprintf("%s.json", digest_hex(w->config_digest));
	cleanup_free char *man = docker_manifest_to_json(cfg, w->tag, &w->layer_paths);
	if (docker_put_bytes(w, "manifest.json", man, strlen(man), err) < 0)
		return -1;
	if (w->tag && w->n_layers) {
		cleanup_free char *repos = docker_repositories_to_json(
			w->tag, digest_hex(w->diff_ids.v[w->n_layers - 1]));
		if (docker_put_bytes(w, "repositories", repos, strlen(repos), err) < 0)
			return -1;
	}
	if (archive_write_close(w->tar) != ARCHIVE_OK)
		return perr_set(err, 0, "cannot finish archive: %s", archive_error_string(w->tar));
	if (w->tmp_file && fsync(w->out_fd) < 0)
		return perr_set(err, errno, "cannot write '%s'", w->tmp_file);
	close(w->out_fd);
	w->out_fd = -1;
	if (w->docker_pid > 0) {
		pid_t pid = w->docker_pid;
		w->docker_pid = 0;
		return docker_wait(pid, w->docker_errfd, "docker load", err);
	}
	if (w->tmp_file) {
		if (rename(w->tmp_file, w->dst.path) < 0)
			return perr_set(err, errno, "cannot rename to '%s'", w->dst.path);
		free(w->tmp_file);
		w->tmp_file = NULL;
	}
	return 0;
}

/* ---------- public ---------- */

int writer_open(const struct imgref *dst, struct image_writer **out, struct perr *err)
{
	struct image_writer *w = xcalloc(1, sizeof(*w));
	int r;
	w->layout_fd = w->out_fd = w->docker_errfd = -1;
	imgref_copy(&w->dst, dst);
	if (dst->transport == T_OCI || dst->transport == T_OCI_ARCHIVE || dst->transport == T_REGISTRY)
		w->tag = xstrdup(dst->tag ? dst->tag : "latest");
	else
		w->tag = dst->tag ? xstrdup(dst->tag) : NULL;
	switch (dst->transport) {
	case T_OCI:
		r = open_oci(w, err);
		break;
	case T_OCI_ARCHIVE:
		r = open_oci_archive(w, err);
		break;
	case T_REGISTRY:
		r = open_registry(w, dst, err);
		break;
	default:
		r = open_docker(w, err);
	}
	if (r < 0) {
		writer_free(w);
		return perr_wrap(err, "%s", dst->text);
	}
	*out = w;
	return 0;
}

int writer_layer_tmpfile(struct image_writer *w, struct perr *err)
{
	if (writes_layout(w)) {
		/* Named, below the layout, so that the final step is a rename. */
		char name[] = "blobs/sha256/.pare-tmp-XXXXXX";
		char *path = xasprintf("/proc/self/fd/%d/%s", w->layout_fd, name);
		int fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0 || fchmod(fd, umask_mode(0666)) < 0) {
			perr_set(err, errno, "cannot create a temporary blob in '%s'", w->dst.text);
			if (fd >= 0)
				close(fd), unlink(path);
			free(path);
			return -1;
		}
		strv_push(&w->tmp_names, xstrdup(path + strlen(path) - strlen(name)));
		free(path);
		return fd;
	}
	const char *dir = getenv("TMPDIR");
	int fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return perr_set(err, errno, "cannot create a temporary file");
	return fd;
}

static void note_layer(struct image_writer *w, const char *digest, int64_t size, enum compression comp,
		       const char *diff_id)
{
	w->layers = xrealloc(w->layers, (w->n_layers + 1) * sizeof(*w->layers));
	w->layers[w->n_layers++] = (struct descriptor){ .media_type = xstrdup(oci_layer_media_type(comp)),
							.digest = xstrdup(digest), .size = size };
	strv_push(&w->diff_ids, xstrdup(diff_id));
}

int writer_reuse_layer(struct image_writer *w, const char *digest, int64_t size, enum compression comp,
		       const char *diff_id, struct perr *err)
{
	if (w->dst.transport != T_REGISTRY)
		return 0;
	int rc = registry_reuse_blob(w->reg, digest, err);
	if (rc == 1)
		note_layer(w, digest, size, comp, diff_id);
	return rc;
}

int writer_add_layer(struct image_writer *w, int fd, const char *digest, int64_t size,
		     enum compression comp, const char *diff_id, struct perr *err)
{
	cleanup_close int cfd = fd;
	note_layer(w, digest, size, comp, diff_id);
	if (w->dst.transport == T_REGISTRY)
		return registry_push_blob(w->reg, fd, digest, size, err);
	if (writes_layout(w)) {
		cleanup_free char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
		const char *tmp = w->tmp_names.v[w->tmp_names.n - 1];
		if (fsync(fd) < 0 || renameat(w->layout_fd, tmp, w->layout_fd, rel) < 0)
			return perr_set(err, errno, "cannot store blob %s", digest);
		return 0;
	}
	if (comp != COMP_NONE)
		return perr_set(err, 0, "docker-archive layers must be uncompressed");
	char *name = xasprintf("%s.tar", digest_hex(diff_id));
	bool seen = false;
	for (size_t i = 0; i < w->layer_paths.n; i++)
		seen |= !strcmp(w->layer_paths.v[i], name);
	strv_push(&w->layer_paths, name);
	/* Identical layers (empty ones, say) are stored once. */
	return seen ? 0 : docker_put_fd(w, name, fd, size, err);
}

int writer_set_config(struct image_writer *w, const char *raw, size_t len, struct perr *err)
{
	w->config_len = len;
	if (writes_layout(w))
		return oci_put_blob_bytes(w, raw, len, w->config_digest, err);
	if (w->dst.transport == T_REGISTRY) {
		sha256_buf(raw, len, w->config_digest);
		return registry_push_bytes(w->reg, raw, len, w->config_digest, err);
	}
	sha256_buf(raw, len, w->config_digest);
	cleanup_free char *name = xasprintf("%s.json", digest_hex(w->config_digest));
	return docker_put_bytes(w, name, raw, len, err);
}

int writer_commit(struct image_writer *w, struct perr *err)
{
	int r;
	if (!w->config_len)
		return perr_set(err, 0, "%s: no config written", w->dst.text);
	r = writes_layout(w) ? oci_commit(w, err)
	    : w->dst.transport == T_REGISTRY ? registry_commit(w, err)
					     : docker_commit(w, err);
	if (r < 0)
		return perr_wrap(err, "%s", w->dst.text);
	w->committed = true;
	return 0;
}

void writer_free(struct image_writer *w)
{
	struct perr ignored;
	for (size_t i = 0; w->layout_fd >= 0 && i < w->tmp_names.n; i++)
		unlinkat(w->layout_fd, w->tmp_names.v[i], 0);
	if (w->stage_dir)
		remove_tree_at(AT_FDCWD, w->stage_dir, &ignored);
	if (w->tar) {
		/* A stream to docker load must end truncated, so that it fails;
		 * a temporary file is removed below, and closing it normally
		 * lets libarchive free its filters (after a fail it leaks them). */
		if (!w->committed && w->docker_pid > 0)
			archive_write_fail(w->tar);
		archive_write_free(w->tar);
	}
	if (w->out_fd >= 0)
		close(w->out_fd);
	if (w->tmp_file)
		unlink(w->tmp_file);
	if (w->docker_pid > 0) {
		/* Aborted: docker load sees a truncated stream and fails. */
		docker_wait(w->docker_pid, w->docker_errfd, "docker load", &ignored);
	}
	if (w->layout_fd >= 0)
		close(w->layout_fd);
	if (w->reg)
		registry_free(w->reg);
	for (size_t i = 0; i < w->n_layers; i++)
		descriptor_free(&w->layers[i]);
	free(w->layers);
	strv_free(&w->tmp_names);
	strv_free(&w->layer_paths);
	strv_free(&w->diff_ids);
	imgref_free(&w->dst);
	free(w->tag);
	free(w->final_dir);
	free(w->stage_dir);
	free(w->tmp_file);
	free(w->kept_raw);
	free(w->kept_type);
	free(w->kept_config);
	strv_free(&w->kept_layers);
	free(w);
}
