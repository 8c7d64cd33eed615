/* One gzip member deflated on several cores, pigz's way: the input is cut
 * in blocks of PGZIP_BLOCK bytes, each deflated on its own (raw deflate,
 * primed with the 32 KiB before it, ended by a sync flush, the last by a
 * finish), and the blocks are written in order, their CRCs combined. The
 * bytes depend on the input and the level only: never on how many threads
 * did the work, so a layer has one digest on every machine. Any gzip
 * reader reads the result (it is one ordinary member). */
#ifndef PARE_PGZIP_H
#define PARE_PGZIP_H

#include "base/util.h"

#include <stddef.h>

#define PGZIP_BLOCK (128u << 10)

/* Where the compressed bytes go, in order: 0, or -1 with errno set. */
typedef int (*pgzip_write_fn)(void *ctx, const void *p, size_t n);

struct pgzip;

/* LEVEL 1-9, or 0 for zlib's default (6); THREADS 0 for one per core. */
int pgzip_new(int level, int threads, pgzip_write_fn w, void *ctx, struct pgzip **out, struct perr *err);
int pgzip_write(struct pgzip *z, const void *p, size_t n, struct perr *err);
/* The last block and the trailer. */
int pgzip_finish(struct pgzip *z, struct perr *err);
/* Stops and joins the threads, finished or not. */
void pgzip_free(struct pgzip *z);
/* The thread count THREADS asks for (0: the cores, at most 16). */
int pgzip_threads(int threads);

#endif
