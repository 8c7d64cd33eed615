/* A layer as a verified stream: the blob is hashed and counted as it is
 * read, decompressed according to its media type (never sniffed), and the
 * whole uncompressed stream, bytes after the tar end marker included, is
 * hashed for the diff_id. Nothing is trusted until layer_stream_finish()
 * returns 0. */
#ifndef PARE_LAYER_READ_H
#define PARE_LAYER_READ_H

#include "image/source.h"

struct archive;
struct archive_entry;
struct layer_stream;

struct layer_stream_opts {
	uint64_t *budget;     /* uncompressed bytes still allowed; decremented */
	int tee_blob_fd;      /* -1, or where to copy the blob bytes */
	int tee_diff_fd;      /* -1, or where to copy the uncompressed bytes */
	bool want_tar;        /* parse entries (else only raw reads) */
};

int layer_stream_open(struct image *img, size_t idx, const struct layer_stream_opts *o,
		      struct layer_stream **out, struct perr *err);
/* Next tar entry: 1 = got one, 0 = end of archive, -1 = error. */
int layer_stream_next(struct layer_stream *ls, struct archive_entry **e, struct perr *err);
/* The tar reader, for archive_read_data_block() on the current entry. */
struct archive *layer_stream_tar(struct layer_stream *ls);
/* Turn a libarchive failure into an error, preferring what a callback saw
 * (digest, size, budget); with A NULL, ERR is kept unless a callback failed. */
int layer_stream_error(struct layer_stream *ls, struct archive *a, struct perr *err);
/* Read everything left, then check blob size and digest and the diff_id. */
int layer_stream_finish(struct layer_stream *ls, struct perr *err);
uint64_t layer_stream_uncompressed_size(const struct layer_stream *ls);
const char *layer_stream_diff_id(const struct layer_stream *ls); /* after finish */
void layer_stream_free(struct layer_stream *ls);
static inline void layer_stream_freep(struct layer_stream **ls)
{
	if (*ls)
		layer_stream_free(*ls);
}
#define cleanup_layer_stream __attribute__((cleanup(layer_stream_freep)))

#endif
