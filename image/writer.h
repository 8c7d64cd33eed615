/* Writing images: OCI layouts and docker-archives (file, stdout, or piped
 * into `docker load`). Everything goes to a temporary name first and is
 * renamed into place by writer_commit(); writer_abort() leaves nothing. */
#ifndef PARE_WRITER_H
#define PARE_WRITER_H

#include "image/image.h"
#include "image/ref.h"

struct image_writer;

int writer_open(const struct imgref *dst, struct image_writer **out, struct perr *err);
/* docker-archive destinations take uncompressed layers only. */
bool writer_wants_uncompressed(const struct image_writer *w);
/* A temporary file (read-write, offset 0) to fill with a layer's bytes. */
int writer_layer_tmpfile(struct image_writer *w, struct perr *err);
/* Add the layer held in FD (from writer_layer_tmpfile; consumed). DIGEST
 * and SIZE describe FD's bytes, as computed while they were written. */
int writer_add_layer(struct image_writer *w, int fd, const char *digest, int64_t size,
		     enum compression comp, const char *diff_id, struct perr *err);
/* Add a layer the destination already holds (a registry that has blob
 * DIGEST, or mounts it from another repository) without its bytes: 1 when
 * added, 0 when its bytes must come through writer_add_layer. */
int writer_reuse_layer(struct image_writer *w, const char *digest, int64_t size, enum compression comp,
		       const char *diff_id, struct perr *err);
/* Write RAW, the source's manifest M, as it is when the config and layers
 * added are the ones it names (a copy keeps its digest, annotations and
 * media type), else a new OCI manifest. Not for docker-archives, nor a
 * docker manifest into an OCI layout. */
void writer_keep_manifest(struct image_writer *w, const char *raw, size_t len, const struct manifest *m);
int writer_set_config(struct image_writer *w, const char *raw, size_t len, struct perr *err);
/* Write manifest and index (or manifest.json) and rename into place. */
int writer_commit(struct image_writer *w, struct perr *err);
/* Remove every temporary file; free. Safe after commit. */
void writer_free(struct image_writer *w);
static inline void writer_freep(struct image_writer **w)
{
	if (*w)
		writer_free(*w);
}
#define cleanup_writer __attribute__((cleanup(writer_freep)))
/* Where the image went, for messages. */
const char *writer_dest(const struct image_writer *w);
/* After commit: the manifest's digest (OCI layouts, registries), else NULL. */
const char *writer_manifest_digest(const struct image_writer *w);

#endif
