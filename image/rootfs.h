/* An unpacked root filesystem for running an image, cached by config
 * digest (the config names every layer's diff_id) so that repeated runs
 * and probes of one image unpack it once. The sandbox only ever uses it as
 * a read-only overlay lower dir.
 *
 * The cache, below DIR/rootfs/:
 *   HEX/        the tree of the image whose config digest is sha256:HEX
 *   HEX.lock    flock()ed shared while a tree is in use, exclusively to
 *               unpack or remove it; its mtime is the tree's last use
 *   HEX.json    {"image", "bytes", "entries", "unpacked"}: what list and
 *               eviction show and sum, written once the tree is complete
 *   HEX.tmp-PID a tree being unpacked (or left by a crash)
 *   HEX.layers/ slim layers of that tree, for re-slims (slimmer/layer_reuse.h)
 * Eviction (after each new unpack, past the size limit) and `pare cache
 * prune` take the least recently used trees first and never one whose
 * lock another process holds. */
#ifndef PARE_ROOTFS_H
#define PARE_ROOTFS_H

#include "image/apply.h"

struct rootfs {
	char *path;     /* the unpacked tree */
	bool temporary; /* remove in rootfs_release (no cache) */
	bool cached;    /* it was there already */
	int lock_fd;    /* with a cached path: held shared until rootfs_release, else -1 */
};

/* Cache directory: $PARE_CACHE_DIR, else /var/cache/pare for root, else
 * $XDG_CACHE_HOME/pare or ~/.cache/pare, else (no writable home: an
 * arbitrary uid in a container) $TMPDIR/pare-cache-UID, private to the
 * uid. NULL cache_dir = no cache. */
char *rootfs_default_cache(void);
/* The size limit: $PARE_CACHE_MAX (K/M/G/T suffixes; 0 = none), else
 * ROOTFS_CACHE_MAX_DEFAULT. */
#define ROOTFS_CACHE_MAX_DEFAULT (10ull << 30)
int rootfs_cache_max(uint64_t *out, struct perr *err);

/* Get IMG's tree from CACHE_DIR (unpacking it when missing, then evicting
 * least recently used trees past MAX_BYTES, 0 = no limit), or into a
 * temporary directory when CACHE_DIR is NULL. */
/* A cache size limit not given: $PARE_CACHE_MAX, else the default. */
#define CACHE_MAX_UNSET UINT64_MAX

int rootfs_get(struct image *img, const char *cache_dir, uint64_t max_bytes,
	       const struct apply_opts *ao, struct rootfs *out, struct perr *err);
/* rootfs_get() with CACHE_MAX_UNSET resolved, errors naming the image,
 * and *ROOTFD opened on the tree (O_PATH): what every runner of an image
 * needs first. */
int rootfs_open(struct image *img, const char *cache_dir, uint64_t max_bytes,
		const struct apply_opts *ao, struct rootfs *out, int *rootfd, struct perr *err);
void rootfs_release(struct rootfs *r);
/* Where slim layers of a cached tree are kept (HEX.layers, removed with
 * the tree); NULL for a temporary tree. */
char *rootfs_layer_dir(const struct rootfs *r);

struct cache_entry {
	char hex[65];
	char *image;      /* the reference it was unpacked from, or NULL */
	uint64_t bytes;   /* disk usage of the tree and the slim layers kept with it */
	int64_t last_used; /* seconds since the epoch */
	bool in_use;      /* another process holds it */
	bool partial;     /* an unpack in progress, or left by a crash */
	char *name;       /* the directory's name below rootfs/ */
};

/* The trees in CACHE_DIR, least recently used first. */
int cache_list(const char *cache_dir, struct cache_entry **out, size_t *n, struct perr *err);
void cache_entries_free(struct cache_entry *v, size_t n);

struct prune_opts {
	bool all;            /* every tree not in use */
	int64_t older_than;  /* seconds; trees unused that long (0 = no such rule) */
	uint64_t max_bytes;  /* then the oldest until the rest fit (0 = no such rule) */
	const char *keep;    /* HEX never to remove (the tree just unpacked) */
};
struct prune_result {
	size_t removed, in_use;
	uint64_t freed, kept_bytes;
};
int cache_prune(const char *cache_dir, const struct prune_opts *o, struct prune_result *res,
		struct perr *err);

#endif
