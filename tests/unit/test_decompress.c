/* The two gzip engines (zlib, ISA-L) against each other: on the same
 * streams, valid and broken, fed and drained in any sizes, they must give
 * the same bytes and the same verdict. A layer must never read one way on
 * one build of pare and another way on the next. */
#include "tap.h"
#include "image/decompress.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct feed {
	const unsigned char *p;
	size_t len, pos, step; /* STEP bytes per pull at most */
};

static ssize_t pull(void *ctx, void *buf, size_t n)
{
	struct feed *f = ctx;
	size_t k = f->len - f->pos;
	if (k > n)
		k = n;
	if (k > f->step)
		k = f->step;
	memcpy(buf, f->p + f->pos, k);
	f->pos += k;
	return (ssize_t)k;
}

struct outcome {
	unsigned char *out;
	size_t len;
	char verdict[32]; /* "ok", or the error's first words */
};

static void read_all(enum inflate_engine e, const unsigned char *p, size_t len, size_t step, size_t chunk,
		     struct outcome *o)
{
	struct feed f = { p, len, 0, step };
	struct decompressor *d;
	struct perr err = { 0 };
	memset(o, 0, sizeof(*o));
	if (decompressor_new_with(COMP_GZIP, e, pull, &f, &d, &err) < 0) {
		snprintf(o->verdict, sizeof(o->verdict), "new: %.20s", err.msg);
		return;
	}
	size_t cap = 1 << 16;
	o->out = malloc(cap);
	unsigned char *buf = malloc(chunk);
	ssize_t r;
	while ((r = decompressor_read(d, buf, chunk, &err)) > 0) {
		if (o->len + (size_t)r > cap)
			o->out = realloc(o->out, cap = 2 * (o->len + (size_t)r));
		memcpy(o->out + o->len, buf, (size_t)r);
		o->len += (size_t)r;
	}
	/* The kind of failure, not zlib's or ISA-L's own words for it. */
	const char *kinds[] = { "truncated", "bytes after the end", "corrupt" };
	strcpy(o->verdict, "ok");
	for (size_t i = 0; r < 0 && i < sizeof(kinds) / sizeof(*kinds); i++)
		if (strstr(err.msg, kinds[i]))
			snprintf(o->verdict, sizeof(o->verdict), "%.20s", kinds[i]);
	if (r < 0 && !strcmp(o->verdict, "ok"))
		snprintf(o->verdict, sizeof(o->verdict), "other: %.20s", err.msg);
	free(buf);
	decompressor_free(d);
}

static size_t gz(const unsigned char *in, size_t n, unsigned char *out, size_t cap, const char *name)
{
	z_stream z = { 0 };
	deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	gz_header h = { 0 };
	if (name) { /* the optional header fields: extra, name, comment, header CRC */
		h.extra = (Bytef *)"xx";
		h.extra_len = 2;
		h.name = (Bytef *)name;
		h.comment = (Bytef *)"a comment";
		h.hcrc = 1;
		deflateSetHeader(&z, &h);
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	return len;
}

static bool same(const struct outcome *a, const struct outcome *b)
{
	/* What came out before a failure depends on the feeding: only the verdict counts then. */
	if (strcmp(a->verdict, "ok"))
		return !strcmp(a->verdict, b->verdict);
	return !strcmp(a->verdict, b->verdict) && a->len == b->len && !memcmp(a->out, b->out, a->len);
}

/* Every engine and feeding against zlib's whole-buffer read of STREAM. */
static int agree(const char *what, const unsigned char *s, size_t len, const char *want)
{
	struct outcome ref, o;
	read_all(INFLATE_ZLIB, s, len, len, 1 << 16, &ref);
	int bad = strcmp(ref.verdict, want) != 0;
	if (bad)
		tap_diag("%s: zlib says %s, want %s", what, ref.verdict, want);
	const size_t steps[][2] = { { 1 << 20, 1 << 16 }, { 7, 3 }, { 4096, 100000 }, { 1, 1 << 16 }, { 65536, 1 } };
	size_t nsteps = len < 8192 ? ARRAY_SIZE(steps) : 3; /* the 1-byte ones cost valgrind minutes */
	for (size_t i = 0; i < nsteps; i++) {
		for (int e = INFLATE_ZLIB; e <= INFLATE_ISAL; e++) {
			if (e == INFLATE_ISAL && !decompress_have_isal())
				continue;
			read_all((enum inflate_engine)e, s, len, steps[i][0], steps[i][1], &o);
			if (!same(&ref, &o)) {
				tap_diag("%s: engine %d, pulls of %zu, reads of %zu: %s, %zu bytes (zlib: %s, %zu)", what, e,
					 steps[i][0], steps[i][1], o.verdict, o.len, ref.verdict, ref.len);
				bad = 1;
			}
			free(o.out);
		}
	}
	free(ref.out);
	return bad;
}

int main(void)
{
	/* Text-like data that compresses, and 50 kB of noise that does not
	 * (stored blocks), so both kinds of deflate block are crossed. */
	size_t n = 100000;
	unsigned char *data = malloc(n);
	unsigned int x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		data[i] = i < n / 2 ? (unsigned char)("pare slims images "[i % 18] + (x >> 30)) : (unsigned char)(x >> 16);
	}
	size_t cap = n + n / 10 + 1024;
	unsigned char *a = malloc(cap), *b = malloc(cap), *s = malloc(3 * cap);
	size_t la = gz(data, n, a, cap, NULL), lb = gz(data, 1000, b, cap, "layer.tar");

	ok(decompress_have_isal() || getenv("PARE_NO_ISAL"), "built with ISA-L (x86_64 with libisal-dev)");
	ok(!agree("one member", a, la, "ok"), "one member: same bytes from both engines, any feeding");
	ok(!agree("header fields", b, lb, "ok"), "extra, name, comment and header CRC: same");
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	ok(!agree("two members", s, la + lb, "ok"), "two members: one stream for both");
	memcpy(s + la, "PK\3\4junk", 8);
	ok(!agree("trailing junk", s, la + 8, "bytes after the end"), "junk after the member: refused by both");
	memset(s + la, 0, 512);
	ok(!agree("trailing zeros", s, la + 512, "bytes after the end"), "zeros after the member: refused by both");
	int bad = 0;
	/* Cut anywhere: in the header, the data, the CRC, the size. */
	const size_t cuts[] = { 1, 5, 10, 11, 100, la / 2, la - 9, la - 8, la - 5, la - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(*cuts); i++)
		bad |= agree("cut", a, cuts[i], "truncated");
	ok(!bad, "cut inside the member, anywhere: truncated for both");
	/* A wrong CRC, a wrong size, a bad block type, a bad header. */
	const struct {
		size_t at;
		unsigned char xor;
	} flips[] = { { la - 6, 1 }, { la - 2, 1 }, { 10, 0x06 }, { 2, 1 }, { 0, 0xff } };
	bad = 0;
	for (size_t i = 0; i < sizeof(flips) / sizeof(*flips); i++) {
		memcpy(s, a, la);
		s[flips[i].at] ^= flips[i].xor;
		bad |= agree("flip", s, la, "corrupt");
	}
	ok(!bad, "a wrong CRC, size, block type or magic: corrupt for both");
	memcpy(s, b, lb);
	s[34] ^= 1; /* the header's CRC: 10 fixed bytes, 4 of extra, a name and a comment of 10 */
	bad = agree("header CRC", s, lb, "corrupt");
	memcpy(s, b, lb);
	s[30] ^= 1; /* in the comment the CRC covers */
	bad |= agree("header CRC", s, lb, "corrupt");
	/* A name longer than the reader's buffer: zlib reads on, ISA-L hands over. */
	char *longname = malloc(70000);
	memset(longname, 'n', 69999);
	longname[69999] = 0;
	size_t ll = gz(data, 1000, s, 3 * cap, longname);
	memcpy(s + ll, b, lb);
	bad |= agree("long name", s, ll + lb, "ok");
	free(longname);
	ok(!bad, "a header CRC that does not match: corrupt; a 70 kB name, then another member: ok; both");
	free(data);
	free(a);
	free(b);
	free(s);
	return tap_done();
}
