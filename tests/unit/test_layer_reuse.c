/* Reused slim layers: the key follows every input of the layer's bytes,
 * a stored layer comes back whole, and a broken one is a miss that leaves
 * the output empty. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/layer_reuse.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int tmpfile_with(const char *text)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (text)
		(void)!write(fd, text, strlen(text));
	return fd;
}

static char *contents(int fd)
{
	static char buf[256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

int main(void)
{
	struct strv a = { 0 }, b = { 0 };
	strv_push(&a, xstrdup("usr/bin/python3"));
	strv_push(&a, xstrdup("etc/passwd"));
	strv_push(&b, xstrdup("etc/passwd"));
	strv_push(&b, xstrdup("usr/bin/python3"));
	struct build_opts bo = { .comp = COMP_GZIP };
	char ka[65], kb[65], k2[65];
	layer_reuse_key(&a, &bo, ka);
	layer_reuse_key(&b, &bo, kb);
	ok(!strcmp(ka, kb), "the key does not depend on the order of the paths (the builder sorts)");
	bool differs = true;
	struct build_opts other[] = { { .comp = COMP_ZSTD }, { .comp = COMP_GZIP, .level = 9 },
				      { .comp = COMP_GZIP, .clamp_mtime = true, .epoch = 1 } };
	for (size_t i = 0; i < ARRAY_SIZE(other); i++) {
		layer_reuse_key(&a, &other[i], k2);
		differs &= strcmp(ka, k2) != 0;
	}
	strv_push(&b, xstrdup("usr/lib"));
	layer_reuse_key(&b, &bo, k2);
	ok(differs && strcmp(ka, k2), "another compression, level, mtime clamp or path: another key");

	char dir[] = "/tmp/pare-reuse.XXXXXX";
	mkdtemp(dir);
	char *cache = xasprintf("%s/HEX.layers", dir);
	struct built_layer bl = { .size = 11, .uncompressed = 20, .entries = 2 };
	sha256_buf("layer bytes", 11, bl.digest);
	strcpy(bl.diff_id, bl.digest);
	int src = tmpfile_with("layer bytes"), out = tmpfile_with(NULL);
	struct built_layer got;
	ok(!layer_reuse_get(cache, ka, out, &got), "nothing stored: a miss");
	layer_reuse_put(cache, ka, src, &bl);
	ok(lseek(src, 0, SEEK_CUR) == 11, "put leaves the layer's offset at its end");
	ok(layer_reuse_get(cache, ka, out, &got) && !strcmp(contents(out), "layer bytes") &&
	   !strcmp(got.digest, bl.digest) && got.entries == 2 && got.uncompressed == 20,
	   "stored, then copied back whole with its digests");
	char *blob = xasprintf("%s/%s.blob", cache, ka);
	int fd = open(blob, O_WRONLY);
	(void)!pwrite(fd, "X", 1, 0);
	close(fd);
	int out2 = tmpfile_with(NULL);
	struct stat st;
	ok(!layer_reuse_get(cache, ka, out2, &got) && fstat(out2, &st) == 0 && st.st_size == 0 &&
	   access(blob, F_OK) != 0, "a stored layer that does not match its digest: a miss, the output empty, the entry gone");
	/* More than LAYER_REUSE_KEEP: the least recently used go. */
	for (int i = 0; i < LAYER_REUSE_KEEP + 2; i++) {
		char k[65];
		snprintf(k, sizeof(k), "%064d", i);
		layer_reuse_put(cache, k, src, &bl);
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	char k0[65], klast[65];
	snprintf(k0, sizeof(k0), "%064d", 0);
	snprintf(klast, sizeof(klast), "%064d", LAYER_REUSE_KEEP + 1);
	int o3 = tmpfile_with(NULL), o4 = tmpfile_with(NULL);
	ok(!layer_reuse_get(cache, k0, o3, &got) && layer_reuse_get(cache, klast, o4, &got),
	   "past %d layers the oldest is dropped, the newest kept", LAYER_REUSE_KEEP);
	close(src);
	close(out);
	close(out2);
	close(o3);
	close(o4);
	free(blob);
	free(cache);
	char *rm = xasprintf("rm -rf %s", dir);
	(void)!system(rm);
	free(rm);
	strv_free(&a);
	strv_free(&b);
	return tap_done();
}
