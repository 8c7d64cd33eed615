/* Decompression of layer blobs, strictly: gzip member after member (ISA-L's
 * inflate where pare is built with it, several times zlib's speed; zlib),
 * zstd frame after frame (libzstd), and nothing else. Bytes after the last
 * member that are not another member are an error, not something to skip:
 * two readers of one blob must never see two different layers. */
#ifndef PARE_DECOMPRESS_H
#define PARE_DECOMPRESS_H

#include "image/image.h"

/* Where compressed bytes come from: up to N into BUF, 0 at the end, -1 on
 * an error (the source keeps its own). */
typedef ssize_t (*decompress_pull_fn)(void *ctx, void *buf, size_t n);

struct decompressor;

enum inflate_engine { INFLATE_ZLIB, INFLATE_ISAL };
bool decompress_have_isal(void);

/* With the fastest gzip engine built in. */
int decompressor_new(enum compression c, decompress_pull_fn pull, void *ctx,
		     struct decompressor **out, struct perr *err);
/* With ENGINE for gzip: the tests hold the two to the same verdicts. */
int decompressor_new_with(enum compression c, enum inflate_engine engine, decompress_pull_fn pull, void *ctx,
			  struct decompressor **out, struct perr *err);
/* Up to N uncompressed bytes into BUF: the count, 0 at the end of the
 * last member, -1 with ERR set (or -2 when the pull failed: its own error
 * stands). */
ssize_t decompressor_read(struct decompressor *d, void *buf, size_t n, struct perr *err);
void decompressor_free(struct decompressor *d);

#endif
