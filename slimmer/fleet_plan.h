/* A fleet's layers, from its images' keep records: an entry kept alike by
 * several images (same path, content and metadata, below the same
 * directories) goes into a layer shared by exactly those images, as
 * Nixery groups store paths by popularity (google/nixery, layers.go).
 * When an image would get more than MAX_LAYERS layers, its least valuable
 * shared layer (popularity x size, smallest first) stops being shared with
 * it: those entries move into the image's own layer, so that no image is
 * ever given a file it did not keep. Layers are ordered widest first (the
 * one every image shares leads), so images that share layers share their
 * first ones, and with them their chain IDs. The plan is a function of
 * the records alone: whatever order or machine made them, the same plan. */
#ifndef PARE_FLEET_PLAN_H
#define PARE_FLEET_PLAN_H

#include "slimmer/keeprec.h"

#define FLEET_MAX_LAYERS_DEFAULT 16
#define FLEET_MAX_LAYERS_LIMIT 125 /* docker's own limit is 127 */

/* One distinct entry of the fleet. */
struct fleet_item {
	char chain[DIGEST_STR_LEN + 1]; /* its identity and its ancestors' */
	const struct kr_entry *e;       /* as the first image holding it has it */
	int64_t mtime;                  /* to write: a directory's or symlink's is the fleet's earliest */
	unsigned char *in;              /* one flag per image */
};

struct fleet_layer {
	unsigned char *members; /* one flag per image */
	size_t n_members;
	size_t *items, n_items, cap;
	uint64_t bytes;         /* of its files */
	size_t source;          /* the image whose tree it is built from */
};

struct fleet_plan {
	size_t n_images;
	const struct keep_record *const *recs;
	struct fleet_item *items;
	size_t n_items;
	size_t **item_of;        /* per image, per record entry: its item (SIZE_MAX: the root) */
	struct fleet_layer *layers; /* in order; every one non-empty */
	size_t n_layers;
	size_t **of_image;       /* per image: its layers' indices, in order */
	size_t *n_of_image;
	uint64_t union_bytes;    /* of the distinct files */
};

int fleet_plan_make(const struct keep_record *const *recs, size_t n, unsigned max_layers,
		    struct fleet_plan *p, struct perr *err);
/* Layer L's paths (its entries and their ancestors, sorted) and, for the
 * directories and symlinks among them, the mtimes to write. */
struct fleet_paths {
	struct strv paths;
	int64_t *mtimes;  /* per path; INT64_MIN: its own */
};
void fleet_layer_paths(const struct fleet_plan *p, size_t l, struct fleet_paths *out);
void fleet_paths_free(struct fleet_paths *fp);
/* For build_opts.mtime_of, with a struct fleet_paths. */
bool fleet_paths_mtime(void *ctx, const char *path, int64_t *mtime);
void fleet_plan_free(struct fleet_plan *p);

#endif
