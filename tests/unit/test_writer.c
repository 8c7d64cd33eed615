/* The image writer: a layer and a config written to an OCI layout and to
 * a docker-archive read back by pare's own reader with every blob
 * verified; a writer freed before its commit leaves nothing behind; an
 * existing layout keeps its other tags. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "base/digest.h"
#include "image/source.h"
#include "image/writer.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static struct buf tar, blob;
static char diff_id[DIGEST_STR_LEN + 1], digest[DIGEST_STR_LEN + 1];

static int write_image(const char *ref_text, bool commit, struct perr *err)
{
	struct imgref ref;
	if (imgref_parse(ref_text, true, &ref, err) < 0)
		return -1;
	cleanup_writer struct image_writer *w = NULL;
	int r = writer_open(&ref, &w, err);
	imgref_free(&ref);
	if (r < 0)
		return -1;
	bool plain = writer_wants_uncompressed(w);
	const struct buf *b = plain ? &tar : &blob;
	char d[DIGEST_STR_LEN + 1];
	sha256_buf(b->p, b->len, d);
	int fd = writer_layer_tmpfile(w, err);
	if (fd < 0 || write_all(fd, b->p, b->len) < 0 ||
	    writer_add_layer(w, fd, d, (int64_t)b->len, plain ? COMP_NONE : COMP_GZIP, diff_id, err) < 0)
		return -1;
	cleanup_free char *cfg = xasprintf(
		"{\"architecture\": \"amd64\", \"os\": \"linux\", \"config\": {\"Cmd\": [\"/hello\"]}, "
		"\"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"%s\"]}}", diff_id);
	if (writer_set_config(w, cfg, strlen(cfg), err) < 0)
		return -1;
	return commit ? writer_commit(w, err) : 0;
}

static bool reads_back(const char *ref_text)
{
	struct imgref ref;
	struct perr err;
	if (imgref_parse(ref_text, false, &ref, &err) < 0)
		return false;
	struct open_opts o = { .lim = default_limits };
	struct image *img = NULL;
	int r = image_open(&ref, &o, &img, &err);
	imgref_free(&ref);
	if (r < 0) {
		tap_diag("%s", err.msg);
		return false;
	}
	bool good = img->manifest.n_layers == 1 && img->config.diff_ids.n == 1 &&
		    !strcmp(img->config.diff_ids.v[0], diff_id) && img->config.cmd.n == 1;
	image_close(img);
	return good;
}

static size_t entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	struct tent ents[] = { { 'f', "hello", "hi\n", 0755, NULL } };
	tar = build_tar(ents, 1, 0);
	blob = compress_buf(tar, COMP_GZIP);
	sha256_buf(tar.p, tar.len, diff_id);
	sha256_buf(blob.p, blob.len, digest);
	char *tmp = test_tempdir();
	char ref[4300];
	struct perr err;

	snprintf(ref, sizeof(ref), "oci:%s/layout:one", tmp);
	ok(write_image(ref, true, &err) == 0, "an OCI layout is written");
	ok(reads_back(ref), "... and reads back: one layer, its diff_id, the config");
	snprintf(ref, sizeof(ref), "oci:%s/layout:two", tmp);
	ok(write_image(ref, true, &err) == 0, "a second tag in the same layout");
	snprintf(ref, sizeof(ref), "oci:%s/layout:one", tmp);
	ok(reads_back(ref), "... and the first tag is still there");

	snprintf(ref, sizeof(ref), "docker-archive:%s/img.tar:pare/x:1", tmp);
	ok(write_image(ref, true, &err) == 0, "a docker-archive is written");
	ok(reads_back(ref), "... and reads back by its tag");

	size_t before = entries(tmp);
	snprintf(ref, sizeof(ref), "oci:%s/never:x", tmp);
	ok(write_image(ref, false, &err) == 0 && entries(tmp) == before,
	   "a writer freed before its commit leaves nothing behind");
	snprintf(ref, sizeof(ref), "docker-archive:%s/never.tar", tmp);
	ok(write_image(ref, false, &err) == 0 && entries(tmp) == before, "... a docker-archive neither");

	free(tar.p);
	free(blob.p);
	rm_rf(tmp);
	free(tmp);
	return tap_done();
}
