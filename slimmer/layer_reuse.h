/* Slim layers kept beside their tree in the unpack cache (rootfs.h's
 * HEX.layers/), by a key over everything that goes into a layer's bytes:
 * the tree (HEX is the image's config digest), the paths, the compression
 * and its level, the mtime clamp, and the writer's format version. The
 * layer builder is deterministic, so a re-slim that keeps the same paths
 * may copy the layer instead of deflating it again: at 1 GB+ that deflate
 * is most of a warm slim. Nothing here fails a slim: an entry that cannot
 * be read or does not match its digest is a miss, and one that cannot be
 * stored is not. */
#ifndef PARE_LAYER_REUSE_H
#define PARE_LAYER_REUSE_H

#include "image/layer_write.h"

#define LAYER_REUSE_KEEP 4 /* layers kept per tree, the least recently used go */

/* The key of a layer of PATHS built with BO (from_upper must be NULL: what
 * a probe wrote is not part of the tree). */
void layer_reuse_key(const struct strv *paths, const struct build_opts *bo, char key[65]);
/* The layer stored under KEY in DIR copied to OUT_FD (empty, at its start),
 * its digests into *BL: true. False on a miss, OUT_FD empty again. */
bool layer_reuse_get(const char *dir, const char *key, int out_fd, struct built_layer *bl);
/* Store the layer in FD (all of it) as KEY, then drop the oldest past
 * LAYER_REUSE_KEEP. FD's offset is left at its end. */
void layer_reuse_put(const char *dir, const char *key, int fd, const struct built_layer *bl);

#endif
