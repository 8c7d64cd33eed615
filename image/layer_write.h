/* Building one new layer from a rootfs directory and a list of paths.
 * Entries are written in sorted order with numeric owners and no
 * atime/ctime, so the same inputs give byte-identical layers. */
#ifndef PARE_LAYER_WRITE_H
#define PARE_LAYER_WRITE_H

#include "base/digest.h"
#include "image/image.h"

struct build_opts {
	enum compression comp;
	int level;          /* 0 = the compressor's default */
	int threads;        /* gzip's: 0 = one per core; the bytes never depend on it */
	bool clamp_mtime;   /* clamp mtimes to EPOCH (SOURCE_DATE_EPOCH) */
	int64_t epoch;
	/* Paths (in FROM_UPPER) read from an overlay upper directory instead
	 * of ROOTFD: what a program wrote. A whiteout there is ignored. */
	const struct strset *from_upper;
	int upper_fd;
	/* The mtime to write for PATH instead of its own, when it returns
	 * true (a fleet's shared directories, whose mtimes differ by image). */
	bool (*mtime_of)(void *ctx, const char *path, int64_t *mtime);
	void *mtime_ctx;
};

struct built_layer {
	char digest[DIGEST_STR_LEN + 1];  /* of the blob written to OUT_FD */
	char diff_id[DIGEST_STR_LEN + 1]; /* of the uncompressed tar */
	int64_t size;
	uint64_t uncompressed, entries;
};

/* PATHS are relative to ROOTFD ("usr/bin/python3"), resolved inside it;
 * parents are not added implicitly (the caller's keep-set decides). */
int layer_build(int rootfd, const struct strv *paths, int out_fd, const struct build_opts *o,
		struct built_layer *out, struct perr *err);

/* Compress the whole of IN_FD (from its start) into OUT_FD as C; the
 * blob's digest and size into OUT (its diff_id is left as it is). */
int layer_compress(int in_fd, int out_fd, const struct compress_spec *c, struct built_layer *out,
		   struct perr *err);

/* The extended attributes a layer carries: file capabilities and user.*. */
bool layer_keeps_xattr(const char *name);

/* SOURCE_DATE_EPOCH from the environment, when set and valid. */
bool source_date_epoch(int64_t *out);

#endif
