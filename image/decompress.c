#include "image/decompress.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

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
#ifdef HAVE_ISAL
	struct inflate_state *isal; /* the gzip engine when set, else zlib's */
	bool isal_at_member;        /* its next bytes are a member's header */
#endif
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

static int member_end(struct decompressor *d, struct perr *err);

/* 16 + 15: gzip only (no zlib or raw deflate), the largest window. */
static int zlib_start(struct decompressor *d, struct perr *err)
{
	if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK)
		return perr_set(err, 0, "cannot start gzip decompression");
	d->z_ready = true;
	return 0;
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
			if ((r = member_end(d, err)) < 0)
				return r;
			if (r)
				inflateReset(&d->z);
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return perr_set(err, 0, "corrupt gzip stream: %s", d->z.msg ? d->z.msg : zError(zr));
		}
	}
	return (ssize_t)(n - d->z.avail_out);
}

/* The end of a gzip member: the end of the blob, or the next member's
 * magic and nothing else. 1 when another member follows. */
static int member_end(struct decompressor *d, struct perr *err)
{
	d->members++;
	int r = refill(d, 2);
	if (r < 0)
		return r;
	size_t left = d->in_len - d->in_pos;
	if (!left) {
		d->done = true;
		return 0;
	}
	if (left >= 2 && d->in[d->in_pos] == 0x1f && d->in[d->in_pos + 1] == 0x8b)
		return 1;
	return trailing(d, "gzip member", err);
}

#ifdef HAVE_ISAL
static const struct {
	int code;
	const char *what;
} isal_errors[] = {
	{ ISAL_INVALID_BLOCK, "invalid block type" },
	{ ISAL_INVALID_SYMBOL, "invalid code" },
	{ ISAL_INVALID_LOOKBACK, "invalid distance too far back" },
	{ ISAL_INVALID_WRAPPER, "incorrect header check" },
	{ ISAL_UNSUPPORTED_METHOD, "unknown compression method" },
	{ ISAL_INCORRECT_CHECKSUM, "incorrect data check" },
	{ ISAL_NEED_DICT, "a preset dictionary" },
};

static int isal_error(int code, struct perr *err)
{
	for (size_t i = 0; i < sizeof(isal_errors) / sizeof(*isal_errors); i++)
		if (isal_errors[i].code == code)
			return perr_set(err, 0, "corrupt gzip stream: %s", isal_errors[i].what);
	return perr_set(err, 0, "corrupt gzip stream: ISA-L error %d", code);
}

static void isal_start(struct inflate_state *s)
{
	isal_inflate_init(s);
	s->crc_flag = ISAL_GZIP; /* the header parsed, the CRC and size checked */
}

/* The length of the gzip header at P (RFC 1952), or 0 when it does not
 * end within N bytes. Checking it is ISA-L's work. */
static size_t gzip_header_len(const unsigned char *p, size_t n)
{
	enum { FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16 };
	if (n < 10)
		return 0;
	size_t at = 10;
	if (p[3] & FEXTRA) {
		if (n < at + 2)
			return 0;
		at += 2 + (p[at] | (size_t)p[at + 1] << 8);
	}
	for (int f = FNAME; f <= FCOMMENT; f <<= 1) {
		if (!(p[3] & f))
			continue;
		const unsigned char *z = at < n ? memchr(p + at, 0, n - at) : NULL;
		if (!z)
			return 0;
		at = (size_t)(z - p) + 1;
	}
	if (p[3] & FHCRC)
		at += 2;
	return at <= n ? at : 0;
}

/* ISA-L 2.30 miscomputes a header CRC (FHCRC) read across two calls, so a
 * member starts only with its whole header in the buffer. A header longer
 * than the buffer (a name or comment of 64 KiB) is read by zlib instead,
 * with the rest of the stream: 1 then. */
static int isal_header_ready(struct decompressor *d, struct perr *err)
{
	while (!gzip_header_len(d->in + d->in_pos, d->in_len - d->in_pos)) {
		size_t have = d->in_len - d->in_pos;
		if (d->in_eof || have == sizeof(d->in))
			break;
		if (refill(d, have + 1) < 0)
			return -2;
	}
	d->isal_at_member = false;
	if (gzip_header_len(d->in + d->in_pos, d->in_len - d->in_pos) || d->in_eof)
		return 0;
	free(d->isal);
	d->isal = NULL;
	return zlib_start(d, err) < 0 ? -1 : 1;
}

/* ISA-L keeps bits and output of its own between calls, so the input's end
 * is not yet the member's: it is truncated only when a call with nothing
 * more to give it makes no progress. */
static ssize_t isal_gzip_read(struct decompressor *d, unsigned char *out, size_t n, struct perr *err)
{
	struct inflate_state *s = d->isal;
	uint32_t want = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	s->next_out = out;
	s->avail_out = want;
	while (s->avail_out == want && !d->done) {
		int r = d->isal_at_member ? isal_header_ready(d, err) : 0;
		if (r < 0)
			return r;
		if (r > 0) /* nothing out yet in this call: zlib takes it from here */
			return gzip_read(d, out, n, err);
		if ((r = refill(d, 1)) < 0)
			return r;
		size_t avail = d->in_len - d->in_pos;
		s->next_in = d->in + d->in_pos;
		s->avail_in = (uint32_t)avail;
		int zr = isal_inflate(s);
		size_t used = avail - s->avail_in;
		d->in_pos += used;
		d->trailing_at += used;
		if (zr < 0)
			return isal_error(zr, err);
		if (s->block_state == ISAL_BLOCK_FINISH) {
			if ((r = member_end(d, err)) < 0)
				return r;
			if (r) { /* init forgets where the output goes */
				uint8_t *next_out = s->next_out;
				uint32_t avail_out = s->avail_out;
				isal_start(s);
				d->isal_at_member = true;
				s->next_out = next_out;
				s->avail_out = avail_out;
			}
		} else if (!avail && s->avail_out == want) {
			return perr_set(err, 0, "truncated gzip stream");
		}
	}
	return (ssize_t)(want - s->avail_out);
}
#endif

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

bool decompress_have_isal(void)
{
#ifdef HAVE_ISAL
	return true;
#else
	return false;
#endif
}

int decompressor_new(enum compression c, decompress_pull_fn pull, void *ctx,
		     struct decompressor **out, struct perr *err)
{
	return decompressor_new_with(c, decompress_have_isal() ? INFLATE_ISAL : INFLATE_ZLIB, pull, ctx, out, err);
}

int decompressor_new_with(enum compression c, enum inflate_engine engine, decompress_pull_fn pull, void *ctx,
			  struct decompressor **out, struct perr *err)
{
	struct decompressor *d = xcalloc(1, sizeof(*d));
	d->comp = c;
	d->pull = pull;
	d->ctx = ctx;
	d->zs_last = 1; /* before the first frame: one is expected */
	if (c == COMP_GZIP && engine == INFLATE_ISAL) {
#ifdef HAVE_ISAL
		d->isal = xcalloc(1, sizeof(*d->isal));
		isal_start(d->isal);
		d->isal_at_member = true;
#else
		free(d);
		return perr_set(err, 0, "this pare was built without ISA-L");
#endif
	} else if (c == COMP_GZIP) {
		if (zlib_start(d, err) < 0) {
			free(d);
			return -1;
		}
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
	if (d->comp == COMP_ZSTD)
		return zstd_read(d, buf, n, err);
#ifdef HAVE_ISAL
	if (d->isal)
		return isal_gzip_read(d, buf, n, err);
#endif
	return gzip_read(d, buf, n, err);
}

void decompressor_free(struct decompressor *d)
{
	if (!d)
		return;
	if (d->z_ready)
		inflateEnd(&d->z);
	if (d->zs)
		ZSTD_freeDStream(d->zs);
#ifdef HAVE_ISAL
	free(d->isal);
#endif
	free(d);
}
