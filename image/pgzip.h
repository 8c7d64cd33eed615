/* gzip on several cores, bgzip's way: the input is cut in blocks of
 * PGZIP_BLOCK bytes, each compressed on its own by libdeflate into a whole
 * gzip member, and the members are written in order. RFC 1952 makes a
 * gzip file a series of members, and every reader here reads them as one
 * stream (zlib's and Go's, so docker, containerd, podman, skopeo, umoci;
 * GNU gzip and tar; Python). libdeflate compresses 2.8 times as fast as
 * zlib at the same level, and independent 512 KiB blocks lose less than
 * pigz's 128 KiB blocks primed with the 32 KiB before them gained
 * (bench/big.sh). The bytes depend on the input, the level and
 * libdeflate's version only: never on how many threads did the work (a
 * unit test) nor, by libdeflate's design, on the CPU: its vector code
 * fills tables and computes checksums and picks no other matches (one
 * CPU model here, so that half is read, not tested). A layer has one
 * digest on every machine with the same libdeflate. */
#ifndef PARE_PGZIP_H
#define PARE_PGZIP_H

#include "base/util.h"

#include <stddef.h>

#define PGZIP_BLOCK (512u << 10)
#define PGZIP_DEFAULT_LEVEL 6

/* Where the compressed bytes go, in order: 0, or -1 with errno set. */
typedef int (*pgzip_write_fn)(void *ctx, const void *p, size_t n);

struct pgzip;

/* LEVEL 1-9 (libdeflate's scale goes on to 12), or 0 for the default (6);
 * THREADS 0 for one per core. */
int pgzip_new(int level, int threads, pgzip_write_fn w, void *ctx, struct pgzip **out, struct perr *err);
int pgzip_write(struct pgzip *z, const void *p, size_t n, struct perr *err);
/* The last block. */
int pgzip_finish(struct pgzip *z, struct perr *err);
/* Stops and joins the threads, finished or not. */
void pgzip_free(struct pgzip *z);
/* The thread count THREADS asks for (0: the cores, at most 16). */
int pgzip_threads(int threads);

#endif
