/* Whole-image operations behind `pare copy` and `pare inspect`. */
#ifndef PARE_OPS_H
#define PARE_OPS_H

#include "image/source.h"
#include "image/writer.h"

struct progress {
	void (*layer_done)(void *ctx, size_t idx, size_t n);
	void *ctx;
};

/* Copy SRC to DST, layer blobs byte-identical unless DST needs them
 * uncompressed, or C (NULL: keep) asks for another compression or a
 * level; every blob is verified on the way. */
int image_copy(struct image *src, const struct imgref *dst, const struct compress_spec *c,
	       const struct progress *p, struct perr *err);

#define INSPECT_TOP 20

struct file_info {
	char *path;
	uint64_t size;
	mode_t mode;
	size_t layer;
};

struct layer_summary {
	uint64_t uncompressed, entries, files, whiteouts;
};

struct inspect_result {
	struct layer_summary *layers;
	uint64_t total_compressed, total_uncompressed, total_entries;
	struct file_info top[INSPECT_TOP]; /* largest regular files, largest first */
	size_t ntop;
	struct file_info *setid;           /* setuid/setgid files */
	size_t nsetid;
	struct file_info *whiteouts;       /* whiteout entries (size unused) */
	size_t nwhiteouts;
};

int image_inspect(struct image *img, const struct progress *p, struct inspect_result *out,
		  struct perr *err);
void inspect_result_free(struct inspect_result *r);

#endif
