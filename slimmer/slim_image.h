/* From a trace to the slim image (slim_image.c). */
#ifndef PARE_SLIM_IMAGE_H
#define PARE_SLIM_IMAGE_H

#include "image/layer_write.h"
#include "image/source.h"
#include "slimmer/keepset.h"
#include "slimmer/rules.h"
#include "tracer/run_plan.h"
#include "tracer/trace.h"

/* A traced path an exclude rule dropped, for the report. */
struct dropped {
	char *path;
	const struct rule *rule;
};

/* Seed K from trace T (what RULES exclude goes to *DROPPED), the command
 * PLAN runs, its workdir, and IMG's user and volumes. */
void slim_seed(struct keepset *k, const struct rules *rules, const struct trace *t,
	       const struct run_plan *plan, const struct image *img, int rootfd,
	       struct dropped **dropped, size_t *n_dropped);
/* What the probes wrote, still in the shared upper directory UPPER_FD
 * (not whiteouts): PATHS gets them too, WRITTEN names them for the builder. */
void slim_collect_written(const struct rules *rules, const struct trace *t, int upper_fd,
			  const struct keepset *k, struct strv *paths, struct strset *written);

struct slim_written {
	struct built_layer layer;
	enum compression comp; /* of the slim layer */
	uint64_t before_bytes, before_files, before_compressed, after_bytes;
	bool reused; /* the layer came from the cache (layer_reuse.h) */
	char manifest[DIGEST_STR_LEN + 1]; /* the written manifest's digest; "" for docker-archives */
};

/* The "before" (IMG's layers and unpacked tree) and the "after" bytes. */
void slim_measure(const struct image *img, int rootfd, struct tree_index *tree, const struct strv *paths,
		  struct slim_written *w);
/* Next to the input, as docker users name things (NULL for stdin). */
char *slim_default_output(const struct image *img);
/* A slim image's "created": SOURCE_DATE_EPOCH's time (in BUF) when set,
 * else IMG's own, so that the same input gives the same image. */
const char *slim_created(const struct image *img, char buf[64]);
/* The slim image of PATHS (and FROM_UPPER's files from UPPER_FD) at DST. */
int slim_write_image(const struct image *img, int rootfd, const char *reuse_dir, const struct imgref *dst,
		     const struct compress_spec *comp, const struct strv *paths,
		     const struct strset *from_upper, int upper_fd, struct slim_written *w,
		     struct perr *err);

#endif
