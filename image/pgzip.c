#include "image/pgzip.h"

#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16

enum slot_state { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

/* One block on its way to becoming a gzip member. */
struct slot {
	enum slot_state state;
	unsigned char in[PGZIP_BLOCK];
	size_t len;
	unsigned char *out;
	size_t out_len, out_cap;
	bool failed; /* libdeflate made nothing: out of memory, or a bound that was not one */
};

struct pgzip {
	int level, nthreads;
	pgzip_write_fn write;
	void *ctx;
	struct slot *slots; /* a ring of 2 per thread: one compressing, one filling */
	size_t nslots;
	uint64_t next_block;  /* the one being filled */
	uint64_t next_taken;  /* the next a worker takes */
	bool stopping;
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

/* One block as a whole gzip member: libdeflate's header (no name, mtime
 * 0) and trailer, its bytes a function of the block and the level. */
static void compress_slot(struct libdeflate_compressor *c, struct slot *s)
{
	size_t bound = libdeflate_gzip_compress_bound(c, s->len);
	if (s->out_cap < bound)
		s->out = xrealloc(s->out, s->out_cap = bound);
	s->out_len = libdeflate_gzip_compress(c, s->in, s->len, s->out, s->out_cap);
	s->failed = s->out_len == 0;
}

static void *worker(void *arg)
{
	struct pgzip *p = arg;
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(p->level);
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
		if (c)
			compress_slot(c, s);
		else
			s->failed = true;
		pthread_mutex_lock(&p->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	libdeflate_free_compressor(c);
	return NULL;
}

int pgzip_new(int level, int threads, pgzip_write_fn w, void *ctx, struct pgzip **out, struct perr *err)
{
	struct pgzip *p = xcalloc(1, sizeof(*p));
	p->level = level ? level : PGZIP_DEFAULT_LEVEL;
	p->nthreads = pgzip_threads(threads);
	p->write = w;
	p->ctx = ctx;
	p->nslots = 2 * (size_t)p->nthreads;
	p->slots = xcalloc(p->nslots, sizeof(*p->slots));
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
	if (s->failed)
		return perr_set(err, ENOMEM, "cannot compress a block of the layer");
	return put(p, s->out, s->out_len, err);
}

static struct slot *filling(struct pgzip *p)
{
	return &p->slots[p->next_block % p->nslots];
}

/* Hand the filling block to the workers and start the next. */
static int submit(struct pgzip *p, struct perr *err)
{
	struct slot *s = filling(p);
	pthread_mutex_lock(&p->mu);
	s->state = SLOT_READY;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->mu);
	p->next_block++;
	struct slot *n = filling(p);
	if (drain(p, n, err) < 0)
		return -1;
	n->len = 0;
	return 0;
}

int pgzip_write(struct pgzip *p, const void *b, size_t n, struct perr *err)
{
	const unsigned char *in = b;
	while (n) {
		struct slot *s = filling(p);
		size_t k = PGZIP_BLOCK - s->len < n ? PGZIP_BLOCK - s->len : n;
		memcpy(s->in + s->len, in, k);
		s->len += k;
		in += k;
		n -= k;
		if (s->len == PGZIP_BLOCK && submit(p, err) < 0)
			return -1;
	}
	return 0;
}

int pgzip_finish(struct pgzip *p, struct perr *err)
{
	/* The last, partial block; an empty input is one empty member. */
	if ((filling(p)->len || p->next_block == 0) && submit(p, err) < 0)
		return -1;
	/* The blocks still out, oldest first. */
	for (uint64_t i = p->next_block > p->nslots ? p->next_block - p->nslots : 0; i < p->next_block; i++)
		if (drain(p, &p->slots[i % p->nslots], err) < 0)
			return -1;
	return 0;
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
