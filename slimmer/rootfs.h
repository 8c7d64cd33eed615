/* An unpacked root filesystem for running an image, cached by config
 * digest (the config names every layer's diff_id) so that repeated runs
 * and probes of one image unpack it once. The sandbox only ever uses it as
 * a read-only overlay lower dir. */
#ifndef PARE_ROOTFS_H
#define PARE_ROOTFS_H

#include "apply.h"

struct rootfs {
	char *path;     /* the unpacked tree */
	bool temporary; /* remove in rootfs_release (no cache) */
	bool cached;    /* it was there already */
};

/* Cache directory: $PARE_CACHE_DIR, else /var/cache/pare for root, else
 * $XDG_CACHE_HOME/pare or ~/.cache/pare. NULL cache_dir = no cache. */
char *rootfs_default_cache(void);
int rootfs_get(struct image *img, const char *cache_dir, const struct apply_opts *ao,
	       struct rootfs *out, struct perr *err);
void rootfs_release(struct rootfs *r);

#endif
