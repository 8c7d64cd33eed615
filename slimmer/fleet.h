/* Fleets: many images slimmed so that they share layers.
 *
 *   FLEET.json  {"max_layers": N, "images": [{"name": "api", "slim": [ARGS...]}, ...]}
 *
 * Each image's "slim" is the argument list of a `pare slim` command. The
 * work is a map (one image's probes and keep record, fleet_probe in
 * cmd/fleet.c over slim.c), a reduce (every record to layered images,
 * fleet_build here) and a map again (each image's --verify). The state
 * directory holds the records (NAME.keep.json), the layers built
 * (layers/), and the build's result (build.json). */
#ifndef PARE_FLEET_H
#define PARE_FLEET_H

#include "image/layer_write.h"
#include "image/ref.h"
#include "image/source.h"
#include "slimmer/fleet_plan.h"

#define FLEET_FILE_MAX (4u << 20)
#define FLEET_MAX_IMAGES 1000

struct fleet_image {
	char *name;
	struct strv args; /* pare slim's */
};

struct fleet {
	unsigned max_layers;
	struct fleet_image *v;
	size_t n;
};

/* FILE parsed and checked: errors name the file, the image and the key. */
int fleet_read(const char *file, struct fleet *f, struct perr *err);
/* The image named NAME, or SIZE_MAX. */
size_t fleet_find(const struct fleet *f, const char *name);
void fleet_free(struct fleet *f);

/* STATE/NAME.keep.json */
char *fleet_record_path(const char *state, const char *name);

/* One image of the reduce step: its source, open, and where it goes. */
struct fleet_target {
	const char *name;
	const struct image *img;
	int rootfd;
	const char *dst_text;
	const struct imgref *dst;
	const struct compress_spec *comp; /* gzip when NULL */
};

/* What the reduce step made and what it saves. */
struct fleet_blob {
	char digest[DIGEST_STR_LEN + 1];
	int64_t size;
};
struct fleet_built_layer {
	char diff_id[DIGEST_STR_LEN + 1];
	uint64_t uncompressed, entries;
	struct fleet_blob *blobs; /* one per compression the outputs asked for */
	size_t n_blobs;
};
struct fleet_single {             /* one image slimmed alone, for comparison */
	uint64_t uncompressed;
	int64_t compressed;
};
struct fleet_result {
	struct fleet_built_layer *layers; /* as the plan orders them */
	size_t n_layers;
	char (*configs)[DIGEST_STR_LEN + 1];  /* per image: its config digest as written */
	char (*manifests)[DIGEST_STR_LEN + 1]; /* per image: its manifest's ("" for docker-archives) */
	struct fleet_single *single;      /* per image */
};

/* Layers built into STATE/layers, then each target's image written.
 * PROGRESS (may be NULL) is told each layer as it is built. */
int fleet_build(const struct fleet_plan *p, struct fleet_target *t, const char *state,
		void (*progress)(void *ctx, size_t layer, size_t n), void *ctx, struct fleet_result *res,
		struct perr *err);
/* The report (JSON): per layer and image, and the fleet's bytes against
 * the images slimmed one by one and the originals. */
char *fleet_report_json(const struct fleet *f, const struct fleet_plan *p, const struct fleet_result *res);
void fleet_result_free(struct fleet_result *res);

#endif
