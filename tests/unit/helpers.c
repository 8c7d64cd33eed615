#define _GNU_SOURCE
#include "helpers.h"
#include <sys/wait.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include "base/digest.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static int buf_write(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;
	(void)a;
	b->p = xrealloc(b->p, b->len + n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return (int)n;
}

static la_ssize_t buf_write_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
	return buf_write(a, ctx, p, n);
}

struct buf build_tar(const struct tent *ents, size_t n, size_t pad)
{
	struct buf out = { 0 };
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, &out, NULL, buf_write_cb, NULL);
	for (size_t i = 0; i < n; i++) {
		const struct tent *t = &ents[i];
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, t->path);
		archive_entry_set_mtime(e, 1000000000 + (time_t)i, 0);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_perm(e, t->mode ? t->mode : (t->type == 'd' ? 0755 : 0644));
		switch (t->type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, t->data ? (la_int64_t)strlen(t->data) : 0);
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, t->data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, t->data);
			break;
		case 'p':
			archive_entry_set_filetype(e, AE_IFIFO);
			break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdev(e, makedev(1, 3));
			break;
		}
		if (t->xattr) {
			const char *eq = strchr(t->xattr, '=');
			char *name = strndup(t->xattr, (size_t)(eq - t->xattr));
			archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
			free(name);
		}
		archive_write_header(a, e);
		if (t->type == 'f' && t->data)
			archive_write_data(a, t->data, strlen(t->data));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	if (pad) {
		out.p = xrealloc(out.p, out.len + pad);
		memset(out.p + out.len, 0, pad);
		out.len += pad;
	}
	return out;
}

struct buf compress_buf(struct buf in, enum compression c)
{
	struct buf out = { 0 };
	if (c == COMP_NONE) {
		out.p = xmalloc(in.len);
		memcpy(out.p, in.p, in.len);
		out.len = in.len;
		return out;
	}
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	archive_write_set_format_raw(a);
	if (c == COMP_GZIP)
		archive_write_add_filter_gzip(a);
	else
		archive_write_add_filter_zstd(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, &out, NULL, buf_write_cb, NULL);
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)in.len);
	archive_write_header(a, e);
	archive_write_data(a, in.p, in.len);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return out;
}

static int put(const char *dir, const char *name, const void *p, size_t n)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -1;
	int r = write_all(fd, p, n);
	close(fd);
	return r;
}

static void put_blob(const char *dir, const char *data, size_t n, char digest[80])
{
	sha256_buf(data, n, digest);
	char *name = xasprintf("blobs/sha256/%s", digest_hex(digest));
	put(dir, name, data, n);
	free(name);
}

int make_layout(const char *dir, struct layer_spec *layers, size_t n, const char *config_override)
{
	char *blobs = xasprintf("%s/blobs/sha256", dir);
	char *cmd = xasprintf("mkdir -p '%s'", blobs);
	if (system(cmd) != 0)
		return -1;
	free(cmd);
	put(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	char *ldesc = xstrdup(""), *diffs = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		struct layer_spec *l = &layers[i];
		struct buf blob = l->raw_blob.p ? compress_buf(l->raw_blob, COMP_NONE) : compress_buf(l->tar, l->comp);
		if (l->append.len) { /* inside the blob's digest: only the decoder can object */
			blob.p = xrealloc(blob.p, blob.len + l->append.len);
			memcpy(blob.p + blob.len, l->append.p, l->append.len);
			blob.len += l->append.len;
		}
		char digest[80], diff[80];
		sha256_buf(l->tar.p, l->tar.len, diff);
		if (l->bad_diff_id)
			diff[10] = diff[10] == 'a' ? 'b' : 'a';
		put_blob(dir, blob.p, blob.len, digest);
		if (l->corrupt_blob || l->blob_as_symlink || l->blob_as_fifo) {
			char *path = xasprintf("%s/%s", blobs, digest_hex(digest));
			if (l->corrupt_blob) {
				blob.p[blob.len / 2] ^= 0x55;
				put(dir, path + strlen(dir) + 1, blob.p, blob.len);
			} else {
				char *real = xasprintf("%s.real", path);
				rename(path, real);
				if (l->blob_as_symlink)
					symlink(real, path);
				else
					mkfifo(path, 0644);
				free(real);
			}
			free(path);
		}
		char *nd = xasprintf("%s%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}", ldesc,
				     i ? "," : "", l->media_type ? l->media_type : oci_layer_media_type(l->comp),
				     digest, (long long)((int64_t)blob.len + l->size_delta));
		char *nf = xasprintf("%s%s\"%s\"", diffs, i ? "," : "", diff);
		free(ldesc);
		free(diffs);
		ldesc = nd;
		diffs = nf;
		free(blob.p);
	}
	char *config = config_override ? xstrdup(config_override)
		: xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
			    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}", diffs);
	char cdigest[80], mdigest[80];
	put_blob(dir, config, strlen(config), cdigest);
	char *manifest = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
				   "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
				   "\"layers\":[%s]}", cdigest, strlen(config), ldesc);
	put_blob(dir, manifest, strlen(manifest), mdigest);
	char *index = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
				"\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
				mdigest, strlen(manifest));
	put(dir, "index.json", index, strlen(index));
	free(index);
	free(manifest);
	free(config);
	free(ldesc);
	free(diffs);
	free(blobs);
	return 0;
}

void sentinel_setup(const char *dir)
{
	mkdir(dir, 0755);
	char *p = xasprintf("%s/sentinel", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	write_all(fd, "untouched\n", 10);
	close(fd);
	free(p);
}

bool sentinel_intact(const char *dir)
{
	char *p = xasprintf("%s/sentinel", dir);
	struct stat st;
	bool okk = file_has(p, "untouched\n") && lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		   st.st_nlink == 1;
	free(p);
	/* Nothing else may appear next to it. */
	char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1", dir);
	okk = okk && system(cmd) == 0;
	free(cmd);
	return okk;
}

char *test_tempdir(void)
{
	struct perr err;
	char *d = make_tempdir("pare-test", &err);
	if (!d) {
		fprintf(stderr, "%s\n", err.msg);
		exit(99);
	}
	return d;
}

void rm_rf(const char *path)
{
	struct perr err;
	remove_tree_at(AT_FDCWD, path, &err);
}

bool file_has(const char *path, const char *content)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	return !strcmp(buf, content);
}

int errno_under_filter(const struct sock_fprog *prog, long (*call)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0)
			_exit(255);
		_exit(call() < 0 ? (errno & 0x7f) : 0);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) != 255 ? WEXITSTATUS(st) : -1;
}

void put_file(const char *base, const char *rel, const char *text)
{
	char p[8400];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	char *slash = strrchr(p, '/');
	*slash = 0;
	struct perr e;
	mkdir_p(p, 0755, &e);
	*slash = '/';
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	(void)!write(fd, text, strlen(text));
	close(fd);
}

bool kept_for(const struct keepset *k, const char *path, enum keep_why why)
{
	const struct keep_entry *e = keepset_find(k, path);
	for (size_t i = 0; e && i < e->nr; i++)
		if (e->r[i].why == why)
			return true;
	return false;
}

void str_append(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *add = NULL;
	if (vasprintf(&add, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *next = xasprintf("%s%s%s", *s ? *s : "", *s && **s ? " " : "", add);
	free(add);
	free(*s);
	*s = next;
}
