#include "image/pgzip.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>

#define DICT (32u << 10) /* deflate's window: what a block may refer back to */
#define MAX_THREADS 16

enum slot_state { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

/* One block on its way: DICT bytes of the block before, then its own. */
struct slot {
	enum slot_state state;
	bool last;
	unsigned char in[DICT + PGZIP_BLOCK];
	size_t dict_len, len;
	unsigned char *out;
	size_t out_len, out_cap;
	uLong crc;
	int zerr; /* deflate's error, 0 when it went well */
};

struct pgzip {
	int level, nthreads;
	pgzip_write_fn write;
	void *ctx;
	struct slot *slots; /* a ring of 2 per thread: one deflating, one filling */
	size_t nslots;
	uint64_t next_block;  /* the one being filled */
	uint64_t next_taken;  /* the next a worker takes */
	uLong crc;
	uint64_t total;
	bool header_done, finished, stopping;
	pthread_mutex_t mu;
	pthread_cond_t ready, done;
	pthread_t threads[MAX_THREADS];
	int started;
};

int pgzip_threads(int threads)
{
	if (threads > 0)
		return threads < MAX_THREADS ? threads : MAX_THREADS;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* Raw deflate of one block, primed with its dictionary; a sync flush
 * leaves it on a byte boundary, so blocks concatenate. */
static void deflate_slot(z_stream *z, struct slot *s)
{
	s->zerr = deflateReset(z);
	if (!s->zerr && s->dict_len)
		s->zerr = deflateSetDictionary(z, s->in + DICT - s->dict_len, (uInt)s->dict_len);
	uLong bound = deflateBound(z, (uLong)s->len) + 16;
	if (s->out_cap < bound)
		s->out = xrealloc(s->out, s->out_cap = bound);
	z->next_in = s->in + DICT;
	z->avail_in = (uInt)s->len;
	z->next_out = s->out;
	z->avail_out = (uInt)s->out_cap;
	int r = s->zerr ? s->zerr : deflate(z, s->last ? Z_FINISH : Z_SYNC_FLUSH);
	if (r != Z_OK && r != Z_STREAM_END)
		s->zerr = r;
	else if (z->avail_in || (s->last && r != Z_STREAM_END))
		s->zerr = Z_BUF_ERROR; /* the bound was not one */
	s->out_len = s->out_cap - z->avail_out;
	s->crc = crc32(crc32(0, NULL, 0), s->in + DICT, (uInt)s->len);
}

static void *worker(void *arg)
{
	struct pgzip *p = arg;
	z_stream z = { 0 };
	bool zok = deflateInit2(&z, p->level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct slot *s = &p->slots[p->next_taken % p->nslots];
		while (!p->stopping && s->state != SLOT_READY) {
			pthread_cond_wait(&p->ready, &p->mu);
			s = &p->slots[p->next_taken % p->nslots];
		}
		if (p->stopping)
			break;
		s->state = SLOT_BUSY;
		p->next_taken++;
		pthread_mutex_unlock(&p->mu);
		if (zok)
			deflate_slot(&z, s);
		else
			s->zerr = Z_MEM_ERROR;
		pthread_mutex_lock(&p->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	if (zok)
		deflateEnd(&z);
	return NULL;
}

int pgzip_new(int level, int threads, pgzip_write_fn w, void *ctx, struct pgzip **out, struct perr *err)
{
	struct pgzip *p = xcalloc(1, sizeof(*p));
	p->level = level ? level : Z_DEFAULT_COMPRESSION;
	p->nthreads = pgzip_threads(threads);
	p->write = w;
	p->ctx = ctx;
	p->nslots = 2 * (size_t)p->nthreads;
	p->slots = xcalloc(p->nslots, sizeof(*p->slots));
	p->crc = crc32(0, NULL, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->ready, NULL);
	pthread_cond_init(&p->done, NULL);
	for (; p->started < p->nthreads; p->started++) {
		int e = pthread_create(&p->threads[p->started], NULL, worker, p);
		if (e) {
			pgzip_free(p);
			return perr_set(err, e, "cannot start a compression thread");
		}
	}
	*out = p;
	return 0;
}

static int put(struct pgzip *p, const void *b, size_t n, struct perr *err)
{
	if (p->write(p->ctx, b, n) < 0)
		return perr_set(err, errno, "cannot write the compressed layer");
	return 0;
}

/* Wait for S's block, then write it out: blocks leave in the order they
 * came, whichever thread finished first. */
static int drain(struct pgzip *p, struct slot *s, struct perr *err)
{
	pthread_mutex_lock(&p->mu);
	while (s->state == SLOT_READY || s->state == SLOT_BUSY)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (s->state != SLOT_DONE)
		return 0;
	s->state = SLOT_FREE;
	if (s->zerr)
		return perr_set(err, 0, "deflate failed: %s", zError(s->zerr));
	p->crc = crc32_combine(p->crc, s->crc, (z_off_t)s->len);
	p->total += s->len;
	return put(p, s->out, s->out_len, err);
}

static struct slot *filling(struct pgzip *p)
{
	return &p->slots[p->next_block % p->nslots];
}

/* Hand the filling block to the workers and start the next: its
 * dictionary is this block's tail. */
static int submit(struct pgzip *p, bool last, struct perr *err)
{
	struct slot *s = filling(p);
	s->last = last;
	pthread_mutex_lock(&p->mu);
	s->state = SLOT_READY;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->mu);
	p->next_block++;
	if (last)
		return 0;
	struct slot *n = filling(p);
	if (drain(p, n, err) < 0)
		return -1;
	size_t tail = s->len < DICT ? s->len : DICT;
	n->dict_len = tail;
	memcpy(n->in + DICT - tail, s->in + DICT + s->len - tail, tail);
	n->len = 0;
	return 0;
}

static int header(struct pgzip *p, struct perr *err)
{
	/* No name, no mtime (same input, same bytes); XFL as gzip sets it; OS Unix. */
	unsigned char h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	h[8] = p->level == 9 ? 2 : p->level == 1 ? 4 : 0;
	p->header_done = true;
	return put(p, h, sizeof(h), err);
}

int pgzip_write(struct pgzip *p, const void *b, size_t n, struct perr *err)
{
	const unsigned char *in = b;
	if (!p->header_done && header(p, err) < 0)
		return -1;
	while (n) {
		struct slot *s = filling(p);
		size_t k = PGZIP_BLOCK - s->len < n ? PGZIP_BLOCK - s->len : n;
		memcpy(s->in + DICT + s->len, in, k);
		s->len += k;
		in += k;
		n -= k;
		/* A full block waits for more input: only then is it known not to be the last. */
		if (n && s->len == PGZIP_BLOCK && submit(p, false, err) < 0)
			return -1;
	}
	return 0;
}

int pgzip_finish(struct pgzip *p, struct perr *err)
{
	if (!p->header_done && header(p, err) < 0)
		return -1;
	if (submit(p, true, err) < 0)
		return -1;
	/* The blocks still out, oldest first. */
	for (uint64_t i = p->next_block > p->nslots ? p->next_block - p->nslots : 0; i < p->next_block; i++)
		if (drain(p, &p->slots[i % p->nslots], err) < 0)
			return -1;
	unsigned char t[8];
	uint32_t size = (uint32_t)p->total; /* ISIZE: the length modulo 2^32 */
	for (int i = 0; i < 4; i++) {
		t[i] = (unsigned char)(p->crc >> (8 * i));
		t[4 + i] = (unsigned char)(size >> (8 * i));
	}
	p->finished = true;
	return put(p, t, sizeof(t), err);
}

void pgzip_free(struct pgzip *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < p->nslots; i++)
		free(p->slots[i].out);
	free(p->slots);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->ready);
	pthread_cond_destroy(&p->done);
	free(p);
}
