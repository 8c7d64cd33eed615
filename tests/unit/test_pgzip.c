/* The parallel gzip writer: one member per block, which a gzip reader
 * takes back to the input as one stream, and the same bytes whatever the
 * thread count and however the input was handed over. */
#include "tap.h"
#include "image/pgzip.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

struct mem {
	unsigned char *p;
	size_t len, cap;
	size_t fail_after; /* a write error once this much is written; 0: never */
};

static int to_mem(void *ctx, const void *b, size_t n)
{
	struct mem *m = ctx;
	if (m->fail_after && m->len + n > m->fail_after) {
		errno = ENOSPC;
		return -1;
	}
	if (m->len + n > m->cap)
		m->p = xrealloc(m->p, m->cap = 2 * (m->len + n));
	memcpy(m->p + m->len, b, n);
	m->len += n;
	return 0;
}

static int pgz(const unsigned char *in, size_t n, int level, int threads, size_t chunk, struct mem *m)
{
	struct pgzip *z;
	struct perr err = { 0 };
	if (pgzip_new(level, threads, to_mem, m, &z, &err) < 0)
		return -1;
	int r = 0;
	for (size_t at = 0; r == 0 && at < n; at += chunk)
		r = pgzip_write(z, in + at, n - at < chunk ? n - at : chunk, &err);
	if (r == 0)
		r = pgzip_finish(z, &err);
	pgzip_free(z);
	return r;
}

/* zlib's gzip reader over the whole of M, member after member as gzip(1)
 * and Go's reader go on (RFC 1952: a gzip file is a series of members);
 * *MEMBERS counts them. */
static bool inflates_to(const struct mem *m, const unsigned char *want, size_t n, size_t *members)
{
	z_stream z = { 0 };
	inflateInit2(&z, 16 + MAX_WBITS);
	unsigned char *out = xmalloc(n + 1);
	z.next_in = m->p;
	z.avail_in = (uInt)m->len;
	z.next_out = out;
	z.avail_out = (uInt)n + 1;
	size_t k = 0;
	int r;
	while ((r = inflate(&z, Z_NO_FLUSH)) == Z_STREAM_END) {
		k++;
		if (!z.avail_in)
			break;
		inflateReset(&z);
	}
	bool good = r == Z_STREAM_END && z.avail_in == 0 && z.total_out + 0 <= n &&
		    (size_t)(z.next_out - out) == n && !memcmp(out, want, n);
	inflateEnd(&z);
	free(out);
	if (members)
		*members = k;
	return good;
}

int main(void)
{
	size_t n = 5 * PGZIP_BLOCK + 17;
	unsigned char *data = xmalloc(n);
	unsigned int x = 1;
	for (size_t i = 0; i < n; i++) { /* text that repeats across blocks, then noise */
		x = x * 1103515245 + 12345;
		data[i] = i < 3 * PGZIP_BLOCK ? (unsigned char)("layers share "[i % 13] + (x >> 31)) : (unsigned char)(x >> 16);
	}
	const size_t sizes[] = { 0, 1, PGZIP_BLOCK - 1, PGZIP_BLOCK, PGZIP_BLOCK + 1, n };
	const int threads[] = { 1, 2, 3, 8 };
	const size_t chunks[] = { 1 << 20, 65536, 1000 };
	bool round_trips = true, same = true, one_per_block = true;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct mem ref = { 0 };
		size_t members = 0, blocks = sizes[i] ? (sizes[i] + PGZIP_BLOCK - 1) / PGZIP_BLOCK : 1;
		if (pgz(data, sizes[i], 6, 1, sizes[i] ? sizes[i] : 1, &ref) < 0 ||
		    !inflates_to(&ref, data, sizes[i], &members)) {
			tap_diag("%zu bytes: does not round-trip", sizes[i]);
			round_trips = false;
		}
		if (members != blocks) {
			tap_diag("%zu bytes: %zu members, not %zu", sizes[i], members, blocks);
			one_per_block = false;
		}
		for (size_t t = 0; t < ARRAY_SIZE(threads); t++) {
			for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
				struct mem m = { 0 };
				pgz(data, sizes[i], 6, threads[t], chunks[c], &m);
				if (m.len != ref.len || memcmp(m.p, ref.p, m.len)) {
					tap_diag("%zu bytes, %d threads, writes of %zu: other bytes", sizes[i], threads[t],
						 chunks[c]);
					same = false;
				}
				free(m.p);
			}
		}
		free(ref.p);
	}
	ok(round_trips, "read back as one stream by zlib, from 0 bytes to 5 blocks and a bit");
	ok(one_per_block, "one member per block, and one for an empty input");
	ok(same, "byte-identical with 1, 2, 3 or 8 threads, written in any pieces");

	/* Blocks on their own cost little: a real file (this test's C
	 * library), against one zlib stream of it at the same level. */
	FILE *f = fopen("/lib/x86_64-linux-gnu/libc.so.6", "rb");
	unsigned char *lib = xmalloc(3 * PGZIP_BLOCK);
	size_t tn = f ? fread(lib, 1, 3 * PGZIP_BLOCK, f) : 0;
	if (f)
		fclose(f);
	if (tn < 2 * PGZIP_BLOCK) {
		tap_diag("skip: no C library to compress");
	} else {
		struct mem par = { 0 };
		pgz(lib, tn, 6, 4, 65536, &par);
		uLongf one_len = compressBound(tn);
		unsigned char *one = xmalloc(one_len);
		compress2(one, &one_len, lib, tn, 6);
		ok(inflates_to(&par, lib, tn, NULL) && par.len < one_len + one_len / 20,
		   "blocks compressed on their own: within 5%% of one zlib stream (%zu vs %lu bytes)", par.len, one_len);
		free(one);
		free(par.p);
	}
	free(lib);

	struct mem l9 = { 0 }, l1 = { 0 };
	pgz(data, n, 9, 2, n, &l9);
	pgz(data, n, 1, 2, n, &l1);
	ok(inflates_to(&l9, data, n, NULL) && inflates_to(&l1, data, n, NULL) && l9.len < l1.len && l9.p[8] == 2 && l1.p[8] == 4,
	   "levels 9 and 1: both read back, 9 smaller, XFL set as gzip sets it");
	free(l9.p);
	free(l1.p);

	struct mem full = { .fail_after = 1000 };
	ok(pgz(data, n, 6, 3, 65536, &full) < 0, "a write error is reported, the threads stopped");
	free(full.p);
	free(data);
	return tap_done();
}
