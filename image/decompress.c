#include "image/decompress.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct decompressor {
	enum compression comp;
	decompress_pull_fn pull;
	void *ctx;
	unsigned char in[65536];
	size_t in_len, in_pos;
	bool in_eof;
	bool done;
	uint64_t members, trailing_at; /* bytes of input consumed, for messages */
	z_stream z;
	bool z_ready;
	ZSTD_DStream *zs;
	size_t zs_last; /* ZSTD_decompressStream's last hint: 0 = between frames */
};

/* More input when what is left is under WANT bytes. -2 on a pull error. */
static int refill(struct decompressor *d, size_t want)
{
	while (!d->in_eof && d->in_len - d->in_pos < want) {
		if (d->in_pos) {
			memmove(d->in, d->in + d->in_pos, d->in_len - d->in_pos);
			d->in_len -= d->in_pos;
			d->in_pos = 0;
		}
		ssize_t r = d->pull(d->ctx, d->in + d->in_len, sizeof(d->in) - d->in_len);
		if (r < 0)
			return -2;
		if (r == 0)
			d->in_eof = true;
		d->in_len += (size_t)r;
	}
	return 0;
}

static int trailing(struct decompressor *d, const char *what, struct perr *err)
{
	return perr_set(err, 0, "bytes after the end of the %s stream (at %llu) that are not another %s",
			compression_name(d->comp), (unsigned long long)d->trailing_at, what);
}

static ssize_t gzip_read(struct decompressor *d, unsigned char *out, size_t n, struct perr *err)
{
	d->z.next_out = out;
	d->z.avail_out = (uInt)n;
	while (d->z.avail_out == n && !d->done) {
		int r = refill(d, 1);
		if (r < 0)
			return r;
		if (d->in_pos == d->in_len) /* inside a member: the data stops short */
			return perr_set(err, 0, "truncated gzip stream");
		d->z.next_in = d->in + d->in_pos;
		d->z.avail_in = (uInt)(d->in_len - d->in_pos);
		int zr = inflate(&d->z, Z_NO_FLUSH);
		size_t used = (d->in_len - d->in_pos) - d->z.avail_in;
		d->in_pos += used;
		d->trailing_at += used;
		if (zr == Z_STREAM_END) {
			d->members++;
			/* The end, or another member: its magic, nothing else. */
			if ((r = refill(d, 2)) < 0)
				return r;
			size_t left = d->in_len - d->in_pos;
			if (!left) {
				d->done = true;
			} else if (left >= 2 && d->in[d->in_pos] == 0x1f && d->in[d->in_pos + 1] == 0x8b) {
				inflateReset(&d->z);
			} else {
				return trailing(d, "gzip member", err);
			}
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return perr_set(err, 0, "corrupt gzip stream: %s", d->z.msg ? d->z.msg : zError(zr));
		}
	}
	return (ssize_t)(n - d->z.avail_out);
}

static ssize_t zstd_read(struct decompressor *d, unsigned char *out, size_t n, struct perr *err)
{
	ZSTD_outBuffer ob = { out, n, 0 };
	while (ob.pos == 0 && !d->done) {
		int r = refill(d, 1);
		if (r < 0)
			return r;
		if (d->in_pos == d->in_len) {
			if (d->zs_last != 0) /* in the middle of a frame */
				return perr_set(err, 0, "truncated zstd stream");
			d->done = true;
			break;
		}
		ZSTD_inBuffer ib = { d->in + d->in_pos, d->in_len - d->in_pos, 0 };
		size_t zr = ZSTD_decompressStream(d->zs, &ob, &ib);
		d->in_pos += ib.pos;
		d->trailing_at += ib.pos;
		if (ZSTD_isError(zr)) {
			/* Between frames, what follows must be a frame: say so. */
			if (d->zs_last == 0 && d->members)
				return trailing(d, "zstd frame", err);
			return perr_set(err, 0, "corrupt zstd stream: %s", ZSTD_getErrorName(zr));
		}
		if (zr == 0 && d->zs_last != 0)
			d->members++;
		d->zs_last = zr;
	}
	return (ssize_t)ob.pos;
}

int decompressor_new(enum compression c, decompress_pull_fn pull, void *ctx,
		     struct decompressor **out, struct perr *err)
{
	struct decompressor *d = xcalloc(1, sizeof(*d));
	d->comp = c;
	d->pull = pull;
	d->ctx = ctx;
	d->zs_last = 1; /* before the first frame: one is expected */
	if (c == COMP_GZIP) {
		/* 16 + 15: gzip only (no zlib or raw deflate), the largest window. */
		if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK) {
			free(d);
			return perr_set(err, 0, "cannot start gzip decompression");
		}
		d->z_ready = true;
	} else if (c == COMP_ZSTD) {
		d->zs = ZSTD_createDStream();
		if (!d->zs || ZSTD_isError(ZSTD_initDStream(d->zs))) {
			decompressor_free(d);
			return perr_set(err, 0, "cannot start zstd decompression");
		}
	} else {
		free(d);
		return perr_set(err, 0, "not a compressed stream");
	}
	*out = d;
	return 0;
}

ssize_t decompressor_read(struct decompressor *d, void *buf, size_t n, struct perr *err)
{
	if (d->done || n == 0)
		return 0;
	return d->comp == COMP_GZIP ? gzip_read(d, buf, n, err) : zstd_read(d, buf, n, err);
}

void decompressor_free(struct decompressor *d)
{
	if (!d)
		return;
	if (d->z_ready)
		inflateEnd(&d->z);
	if (d->zs)
		ZSTD_freeDStream(d->zs);
	free(d);
}
