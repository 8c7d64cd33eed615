/* Write hostile OCI layouts for the CLI tests: mkhostile OUTDIR SENTINELDIR.
 * Each subdirectory of OUTDIR is one layout; its name says what it tries.
 * Names starting with "refuse-" must make `pare unpack` fail; "contain-"
 * ones must succeed while keeping every write inside the destination. */
#define _GNU_SOURCE
#include "../unit/helpers.h"

#include <stdio.h>
#include <string.h>

static void one(const char *out, const char *name, const struct tent *t, size_t n,
		void (*tweak)(struct layer_spec *))
{
	struct layer_spec s = { .tar = build_tar(t, n, 0), .comp = COMP_GZIP };
	if (tweak)
		tweak(&s);
	char *dir = xasprintf("%s/%s", out, name);
	make_layout(dir, &s, 1, NULL);
	free(dir);
	free(s.tar.p);
}

static void corrupt(struct layer_spec *s) { s->corrupt_blob = true; }
static void fifo(struct layer_spec *s) { s->blob_as_fifo = true; }
static void symlinked(struct layer_spec *s) { s->blob_as_symlink = true; }
static void badsize(struct layer_spec *s) { s->size_delta = 7; }
static void truncated(struct layer_spec *s) { s->tar.len = 2048; } /* inside big's data */

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkhostile OUTDIR SENTINELDIR\n");
		return 2;
	}
	const char *out = argv[1], *sd = argv[2];
	char *abs_file = xasprintf("%s/sentinel", sd);
	char *rel = xasprintf("../../../../../../../../../..%s", sd);
	const struct tent traversal[] = { { 'f', "../../../../../../../../../tmp/pare-escape", "x", 0, NULL } };
	const struct tent escape[] = { { 'l', "evil", sd, 0, NULL }, { 'f', "evil/pwned", "x", 0, NULL },
				       { 'l', "evil2", rel, 0, NULL }, { 'f', "evil2/pwned2", "x", 0, NULL },
				       { 'l', "leaf", abs_file, 0, NULL }, { 'f', "leaf", "replaced", 0, NULL } };
	const struct tent hardlink[] = { { 'l', "evil", sd, 0, NULL }, { 'h', "hl", "evil/sentinel", 0, NULL } };
	const struct tent rootlink[] = { { 'l', "./", sd, 0, NULL } };
	const struct tent badwh[] = { { 'f', "a/.wh..", "", 0, NULL } };
	const struct tent ok_tar[] = { { 'f', "a", "hello", 0, NULL } };
	char bigdata[8192];
	memset(bigdata, 'B', sizeof(bigdata) - 1);
	bigdata[sizeof(bigdata) - 1] = 0;
	const struct tent big[] = { { 'f', "big", bigdata, 0, NULL } };
	one(out, "refuse-traversal", traversal, 1, NULL);
	one(out, "contain-symlink-escape", escape, 6, NULL);
	one(out, "refuse-hardlink-escape", hardlink, 2, NULL);
	one(out, "refuse-root-symlink", rootlink, 1, NULL);
	one(out, "refuse-bad-whiteout", badwh, 1, NULL);
	one(out, "refuse-corrupt-blob", ok_tar, 1, corrupt);
	one(out, "refuse-fifo-blob", ok_tar, 1, fifo);
	one(out, "refuse-symlink-blob", ok_tar, 1, symlinked);
	one(out, "refuse-size-mismatch", ok_tar, 1, badsize);
	one(out, "refuse-truncated-tar", big, 1, truncated);
	free(abs_file);
	free(rel);
	return 0;
}
