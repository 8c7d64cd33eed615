/* Applying layers to a root directory, safely and exactly: whiteouts and
 * opaque directories, every path resolved inside the root, leaves created
 * with *at() calls that never follow a symlink, metadata preserved. */
#ifndef PARE_APPLY_H
#define PARE_APPLY_H

#include "image/image.h"
#include "image/source.h"

struct archive;

struct apply_opts {
	struct limits lim;
	bool privileged;  /* root: preserve owners, create device nodes */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
	/* Called after each layer with the layer index (progress). */
	void (*layer_done)(void *ctx, size_t idx, size_t n);
};

struct apply_stats {
	uint64_t entries, whiteouts, skipped;
};

struct applier;

int applier_new(int rootfd, const struct apply_opts *o, struct applier **out, struct perr *err);
/* Apply every entry of the tar reader A (one layer). */
int applier_apply_layer(struct applier *ap, struct archive *a, struct perr *err);
/* Set directory modes, owners and mtimes (after all layers). */
int applier_finish(struct applier *ap, struct perr *err);
const struct apply_stats *applier_stats(const struct applier *ap);
void applier_free(struct applier *ap);

/* Unpack all layers of IMG into DIR, which must be absent or empty. On
 * failure, DIR is removed (or emptied, if it existed). */
int image_unpack(struct image *img, const char *dir, const struct apply_opts *o,
		 struct apply_stats *stats, struct perr *err);

#endif
