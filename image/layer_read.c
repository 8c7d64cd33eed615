#include "image/layer_read.h"
#include "image/decompress.h"
#include "base/digest.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

/* The reading half of a layer (the blob read, both digests, the inflate)
 * runs on a thread of its own, up to PIPE_SLOTS chunks ahead of the tar
 * reader and the file writes: at 1 GB+ each half is seconds of work. */
#define PIPE_SLOTS 16
#define PIPE_CHUNK 65536

struct chunk {
	ssize_t len; /* bytes; 0 at the end; negative: the reading half failed */
	char buf[PIPE_CHUNK];
};

struct layer_stream {
	struct image *img;
	size_t idx;
	struct layer_stream_opts o;
	struct blob *blob;
	enum compression comp;
	struct sha256 blob_hash, diff_hash;
	uint64_t blob_bytes, diff_bytes;
	bool blob_eof;
	bool padded;
	struct decompressor *dec; /* gzip or zstd, strictly */
	struct archive *tar;
	struct perr cb_err;    /* what a callback saw; libarchive only says "fatal" */
	bool cb_failed;
	bool decode_failed;    /* cb_err is the decompressor's: maybe a symptom */
	char diff_id[DIGEST_STR_LEN + 1];
	char diff_buf[512];    /* the padding tar_read_cb() may add */
	/* The reading half, when the tar is parsed: cb_err, cb_failed,
	 * decode_failed and the counts are its own until it is joined. */
	bool piped, joined, holding, stop, saw_failure;
	pthread_t reader;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t head, tail; /* chunks filled by the reader, chunks the tar reader is done with */
	struct chunk ring[PIPE_SLOTS];
};

static int cb_fail(struct layer_stream *ls)
{
	ls->cb_failed = true;
	return -1;
}

/* Account R bytes of BUF to one of the two streams: hash, and copy to its
 * tee when there is one. Returns R, or -1 when the copy fails. */
static ssize_t hash_and_tee(struct layer_stream *ls, struct sha256 *h, int tee_fd, const void *buf,
			    ssize_t r)
{
	sha256_update(h, buf, (size_t)r);
	if (tee_fd >= 0 && write_all(tee_fd, buf, (size_t)r) < 0) {
		perr_set(&ls->cb_err, errno, "cannot write copy");
		return cb_fail(ls);
	}
	return r;
}

static ssize_t read_blob(struct layer_stream *ls, void *buf, size_t n)
{
	const struct descriptor *d = &ls->img->manifest.layers[ls->idx];
	if (ls->blob_eof)
		return 0;
	ssize_t r = ls->blob->read(ls->blob, buf, n);
	if (r < 0) /* the blob filled cb_err */
		return cb_fail(ls);
	if (r == 0) {
		ls->blob_eof = true;
		return 0;
	}
	ls->blob_bytes += (uint64_t)r;
	/* Stop as soon as the blob is longer than its descriptor says. */
	if (ls->blob_bytes > (uint64_t)d->size) {
		perr_set(&ls->cb_err, 0, "size mismatch (descriptor says %lld, blob is longer)",
			 (long long)d->size);
		return cb_fail(ls);
	}
	return hash_and_tee(ls, &ls->blob_hash, ls->o.tee_blob_fd, buf, r);
}

static ssize_t pull_blob(void *ctx, void *buf, size_t n)
{
	return read_blob(ctx, buf, n);
}

/* A layer may expand to max(1 GiB, --max-expansion x its compressed
 * size): a decompression bomb trips it before it costs time or disk. */
static int check_expansion(struct layer_stream *ls)
{
	uint64_t ratio = ls->img->lim.max_expansion;
	uint64_t packed = (uint64_t)ls->img->manifest.layers[ls->idx].size;
	if (!ratio || ls->comp == COMP_NONE)
		return 0;
	uint64_t cap = packed > UINT64_MAX / ratio ? UINT64_MAX : packed * ratio;
	if (cap < ls->img->lim.expansion_floor)
		cap = ls->img->lim.expansion_floor;
	if (ls->diff_bytes <= cap)
		return 0;
	perr_set(&ls->cb_err, 0, "expands past %llu bytes, %llux its compressed %llu (a decompression "
		 "bomb?); see --max-expansion", (unsigned long long)cap, (unsigned long long)ratio,
		 (unsigned long long)packed);
	return cb_fail(ls);
}

/* The uncompressed stream: what the tar reader consumes. */
static ssize_t read_diff(struct layer_stream *ls, void *buf, size_t n)
{
	ssize_t r;
	if (ls->comp == COMP_NONE) {
		r = read_blob(ls, buf, n);
	} else {
		r = decompressor_read(ls->dec, buf, n, &ls->cb_err);
		if (r == -1) {
			ls->decode_failed = true;
			return cb_fail(ls);
		}
		if (r < 0) /* the blob's read failed: its error stands */
			return -1;
	}
	if (r <= 0)
		return r;
	ls->diff_bytes += (uint64_t)r;
	if (check_expansion(ls) < 0)
		return -1;
	if (ls->o.budget) {
		if ((uint64_t)r > *ls->o.budget) {
			perr_set(&ls->cb_err, 0, "uncompressed size exceeds the limit (see --max-bytes)");
			return cb_fail(ls);
		}
		*ls->o.budget -= (uint64_t)r;
	}
	return hash_and_tee(ls, &ls->diff_hash, ls->o.tee_diff_fd, buf, r);
}

static void *reader_main(void *arg)
{
	struct layer_stream *ls = arg;
	for (;;) {
		pthread_mutex_lock(&ls->mu);
		while (!ls->stop && ls->head - ls->tail == PIPE_SLOTS)
			pthread_cond_wait(&ls->cv, &ls->mu);
		bool stop = ls->stop;
		pthread_mutex_unlock(&ls->mu);
		if (stop)
			return NULL;
		/* The slot at head is the reader's alone until head moves. */
		struct chunk *c = &ls->ring[ls->head % PIPE_SLOTS];
		c->len = read_diff(ls, c->buf, sizeof(c->buf));
		pthread_mutex_lock(&ls->mu);
		ls->head++;
		pthread_cond_broadcast(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
		if (c->len <= 0)
			return NULL;
	}
}

/* The next chunk from the reading half; the one before goes back to it.
 * Its end or failure stays: every later call returns it again. */
static ssize_t next_chunk(struct layer_stream *ls, const void **out)
{
	pthread_mutex_lock(&ls->mu);
	if (ls->holding) {
		ls->tail++;
		ls->holding = false;
		pthread_cond_broadcast(&ls->cv);
	}
	while (ls->head == ls->tail && !ls->joined)
		pthread_cond_wait(&ls->cv, &ls->mu);
	/* Stopped before it read on: nothing more comes. */
	struct chunk *c = &ls->ring[ls->tail % PIPE_SLOTS];
	ssize_t r = ls->head == ls->tail ? -1 : c->len;
	pthread_mutex_unlock(&ls->mu);
	if (r > 0) {
		ls->holding = true;
		*out = c->buf;
	} else if (r < 0) {
		ls->saw_failure = true;
	}
	return r;
}

/* Stop the reading half and wait for it: after this its state is ours. */
static void join_reader(struct layer_stream *ls)
{
	if (!ls->piped || ls->joined)
		return;
	pthread_mutex_lock(&ls->mu);
	ls->stop = true;
	pthread_cond_broadcast(&ls->cv);
	pthread_mutex_unlock(&ls->mu);
	pthread_join(ls->reader, NULL);
	ls->joined = true;
}

static la_ssize_t tar_read_cb(struct archive *a, void *ctx, const void **out)
{
	struct layer_stream *ls = ctx;
	(void)a;
	ssize_t r = next_chunk(ls, out);
	if (r == 0)
		join_reader(ls); /* done: diff_bytes is ours to read */
	/* Some writers (umoci 0.4 `insert`) end a layer right after the last
	 * file's data, without its block padding or the end marker; docker
	 * and umoci accept such layers. Give the parser the missing padding
	 * up to the block boundary - outside the digests, which cover only
	 * the real bytes. A cut deeper inside the data still fails. */
	if (r == 0 && !ls->padded && ls->diff_bytes % 512) {
		ls->padded = true;
		r = (ssize_t)(512 - ls->diff_bytes % 512);
		memset(ls->diff_buf, 0, (size_t)r);
		*out = ls->diff_buf;
	}
	return r;
}

/* Read the rest of the blob, then check its size and digest against the
 * descriptor: 0 when both match, else -1 with ERR saying which. */
static int check_blob(struct layer_stream *ls, struct perr *err)
{
	const struct descriptor *d = &ls->img->manifest.layers[ls->idx];
	char buf[65536], got[DIGEST_STR_LEN + 1];
	ssize_t r;
	while ((r = read_blob(ls, buf, sizeof(buf))) > 0)
		;
	if (r < 0) { /* read_blob failed through cb_fail() */
		*err = ls->cb_err;
		return -1;
	}
	if (ls->blob_bytes != (uint64_t)d->size)
		return perr_set(err, 0, "size mismatch (descriptor says %lld, blob has %llu)",
				(long long)d->size, (unsigned long long)ls->blob_bytes);
	sha256_final(&ls->blob_hash, got);
	if (strcmp(got, d->digest))
		return perr_set(err, 0, "digest mismatch (descriptor says %s, content is %s)",
				d->digest, got);
	return 0;
}

int layer_stream_error(struct layer_stream *ls, struct archive *a, struct perr *err)
{
	struct perr cause;
	join_reader(ls);
	if (ls->cb_failed) {
		*err = ls->cb_err;
		/* A blob that does not decode may simply not be the blob its
		 * descriptor names: say that, the cause, if so. */
		if (ls->decode_failed && ls->blob_hash.ctx && check_blob(ls, &cause) < 0)
			*err = cause;
		return -1;
	}
	if (a)
		perr_set(err, 0, "%s", archive_error_string(a));
	/* A decoding error often has a simpler cause: a blob that is not
	 * what its descriptor says. Report that instead of the symptom. */
	if (ls->blob_hash.ctx && check_blob(ls, &cause) < 0)
		*err = cause;
	return -1; /* with A NULL, the caller's error stands unless diagnosed */
}

int layer_stream_open(struct image *img, size_t idx, const struct layer_stream_opts *o,
		      struct layer_stream **out, struct perr *err)
{
	cleanup_layer_stream struct layer_stream *ls = xcalloc(1, sizeof(*ls));
	ls->img = img;
	ls->idx = idx;
	ls->o = *o;
	ls->comp = image_layer_compression(img, idx);
	sha256_init(&ls->blob_hash);
	sha256_init(&ls->diff_hash);
	if (image_open_layer_blob(img, idx, &ls->blob, &ls->cb_err) < 0) {
		*err = ls->cb_err;
		return -1;
	}
	/* Only the decompressor the media type names: a blob that is not what
	 * its descriptor claims is an error, not something to guess about. */
	if (ls->comp != COMP_NONE && decompressor_new(ls->comp, pull_blob, ls, &ls->dec, err) < 0)
		return -1;
	if (o->want_tar) {
		pthread_mutex_init(&ls->mu, NULL);
		pthread_cond_init(&ls->cv, NULL);
		int e = pthread_create(&ls->reader, NULL, reader_main, ls);
		if (e) {
			pthread_mutex_destroy(&ls->mu);
			pthread_cond_destroy(&ls->cv);
			return perr_set(err, e, "cannot start the layer's reader");
		}
		ls->piped = true;
		ls->tar = archive_read_new();
		archive_read_support_format_tar(ls->tar);
		if (archive_read_open(ls->tar, ls, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
			return layer_stream_error(ls, ls->tar, err);
	}
	*out = steal_pointer(&ls);
	return 0;
}

int layer_stream_next(struct layer_stream *ls, struct archive_entry **e, struct perr *err)
{
	int r = archive_read_next_header(ls->tar, e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r == ARCHIVE_OK)
		return 1;
	if (r == ARCHIVE_WARN && !ls->saw_failure)
		return 1;
	return layer_stream_error(ls, ls->tar, err);
}

struct archive *layer_stream_tar(struct layer_stream *ls)
{
	return ls->tar;
}

int layer_stream_finish(struct layer_stream *ls, struct perr *err)
{
	const char *want_diff = ls->img->config.diff_ids.v[ls->idx];
	char buf[65536];
	ssize_t r;
	/* Drain: the digests cover every byte, including padding after the
	 * tar end marker and after the compressed stream. */
	const void *chunk;
	if (ls->piped)
		while ((r = next_chunk(ls, &chunk)) > 0)
			;
	else
		while ((r = read_diff(ls, buf, sizeof(buf))) > 0)
			;
	join_reader(ls);
	if (r < 0)
		return layer_stream_error(ls, NULL, err);
	if (check_blob(ls, err) < 0)
		return -1;
	sha256_final(&ls->diff_hash, ls->diff_id);
	if (strcmp(ls->diff_id, want_diff))
		return perr_set(err, 0, "diff_id mismatch (config says %s, content is %s)", want_diff,
				ls->diff_id);
	return 0;
}

uint64_t layer_stream_uncompressed_size(const struct layer_stream *ls)
{
	return ls->diff_bytes;
}

const char *layer_stream_diff_id(const struct layer_stream *ls)
{
	return ls->diff_id;
}

void layer_stream_free(struct layer_stream *ls)
{
	join_reader(ls);
	if (ls->piped) {
		pthread_mutex_destroy(&ls->mu);
		pthread_cond_destroy(&ls->cv);
	}
	if (ls->tar)
		archive_read_free(ls->tar);
	decompressor_free(ls->dec);
	if (ls->blob)
		ls->blob->close(ls->blob);
	if (ls->blob_hash.ctx)
		sha256_free(&ls->blob_hash);
	if (ls->diff_hash.ctx)
		sha256_free(&ls->diff_hash);
	free(ls);
}
