#define _GNU_SOURCE
#include "image/ops.h"
#include "image/layer_write.h"
#include "image/layer_read.h"
#include "base/resolve.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* Layer I uncompressed into a temporary file, then compressed as C into
 * the writer: the diff_id stays, the blob is new. */
static int recompress_layer(struct image *src, size_t i, struct image_writer *w, uint64_t *budget,
			    const struct compress_spec *c, struct perr *err)
{
	const char *dir = getenv("TMPDIR");
	cleanup_close int tmp = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0)
		return perr_set(err, errno, "cannot create a temporary file");
	struct layer_stream_opts lo = { budget, -1, tmp, false };
	cleanup_layer_stream struct layer_stream *ls = NULL;
	if (layer_stream_open(src, i, &lo, &ls, err) < 0 || layer_stream_finish(ls, err) < 0)
		return -1;
	int fd = writer_layer_tmpfile(w, err);
	struct built_layer out;
	if (fd < 0)
		return -1;
	if (layer_compress(tmp, fd, c, &out, err) < 0) {
		close(fd);
		return -1;
	}
	return writer_add_layer(w, fd, out.digest, out.size, c->comp, layer_stream_diff_id(ls), err);
}

static int copy_layer(struct image *src, size_t i, struct image_writer *w, uint64_t *budget,
		      const struct compress_spec *c, struct perr *err)
{
	enum compression comp = image_layer_compression(src, i);
	/* Asked for another compression (or a level): compress anew. */
	if (c && !writer_wants_uncompressed(w) && (c->comp != comp || c->level))
		return recompress_layer(src, i, w, budget, c, err);
	bool decompress = writer_wants_uncompressed(w) && comp != COMP_NONE;
	const struct descriptor *d = &src->manifest.layers[i];
	/* The same blob, and the destination has it or mounts it: not read. */
	int reused = decompress ? 0 : writer_reuse_layer(w, d->digest, d->size, comp, src->config.diff_ids.v[i], err);
	if (reused)
		return reused < 0 ? -1 : 0;
	int fd = writer_layer_tmpfile(w, err);
	if (fd < 0)
		return -1;
	struct layer_stream_opts lo = { budget, decompress ? -1 : fd, decompress ? fd : -1, false };
	cleanup_layer_stream struct layer_stream *ls = NULL;
	if (layer_stream_open(src, i, &lo, &ls, err) < 0 || layer_stream_finish(ls, err) < 0) {
		close(fd);
		return -1;
	}
	const char *diff_id = layer_stream_diff_id(ls);
	if (decompress)
		return writer_add_layer(w, fd, diff_id, (int64_t)layer_stream_uncompressed_size(ls),
					COMP_NONE, diff_id, err);
	return writer_add_layer(w, fd, d->digest, d->size, comp, diff_id, err);
}

int image_copy(struct image *src, const struct imgref *dst, const struct compress_spec *c,
	       const struct progress *p, struct perr *err)
{
	cleanup_writer struct image_writer *w = NULL;
	uint64_t budget = src->lim.max_bytes;
	if (writer_open(dst, &w, err) < 0)
		return -1;
	for (size_t i = 0; i < src->manifest.n_layers; i++) {
		if (copy_layer(src, i, w, &budget, c, err) < 0)
			return perr_wrap(err, "layer %zu (%s)", i + 1, src->manifest.layers[i].digest);
		if (p && p->layer_done)
			p->layer_done(p->ctx, i, src->manifest.n_layers);
	}
	/* The config is copied byte for byte: the image ID stays the same; so
	 * does the manifest's digest when every layer blob is the source's. */
	writer_keep_manifest(w, src->manifest_raw, src->manifest_len, &src->manifest);
	if (writer_set_config(w, src->config_raw, src->config_len, err) < 0)
		return perr_wrap(err, "%s", writer_dest(w));
	return writer_commit(w, err);
}

/* ---------- inspect ---------- */

static void keep_top(struct inspect_result *r, const char *path, uint64_t size, mode_t mode,
		     size_t layer)
{
	if (r->ntop == INSPECT_TOP && size <= r->top[INSPECT_TOP - 1].size)
		return;
	if (r->ntop == INSPECT_TOP)
		free(r->top[--r->ntop].path);
	size_t i = r->ntop++;
	while (i > 0 && r->top[i - 1].size < size) {
		r->top[i] = r->top[i - 1];
		i--;
	}
	r->top[i] = (struct file_info){ xstrdup(path), size, mode, layer };
}

static void push_info(struct file_info **arr, size_t *n, const char *path, uint64_t size,
		      mode_t mode, size_t layer)
{
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = (struct file_info){ xstrdup(path), size, mode, layer };
}

static int inspect_layer(struct image *img, size_t i, uint64_t *budget, struct inspect_result *r,
			 struct perr *err)
{
	struct layer_stream_opts lo = { budget, -1, -1, true };
	cleanup_layer_stream struct layer_stream *ls = NULL;
	struct layer_summary *s = &r->layers[i];
	struct archive_entry *e;
	char path[8192];
	int got;
	if (layer_stream_open(img, i, &lo, &ls, err) < 0)
		return -1;
	while ((got = layer_stream_next(ls, &e, err)) == 1) {
		if (++r->total_entries > img->lim.max_entries)
			return perr_set(err, 0, "more than %llu entries (see --max-entries)",
					(unsigned long long)img->lim.max_entries);
		if (clean_entry_path(archive_entry_pathname(e), path, img->lim.max_path, err) < 0)
			return -1;
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		mode_t mode = archive_entry_mode(e);
		s->entries++;
		if (!strncmp(base, ".wh.", 4)) {
			s->whiteouts++;
			push_info(&r->whiteouts, &r->nwhiteouts, path, 0, 0, i);
			continue;
		}
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			continue;
		s->files++;
		keep_top(r, path, (uint64_t)archive_entry_size(e), mode, i);
		if (mode & (S_ISUID | S_ISGID))
			push_info(&r->setid, &r->nsetid, path, (uint64_t)archive_entry_size(e), mode, i);
	}
	if (got < 0 || layer_stream_finish(ls, err) < 0)
		return -1;
	s->uncompressed = layer_stream_uncompressed_size(ls);
	r->total_uncompressed += s->uncompressed;
	r->total_compressed += (uint64_t)img->manifest.layers[i].size;
	return 0;
}

int image_inspect(struct image *img, const struct progress *p, struct inspect_result *out,
		  struct perr *err)
{
	uint64_t budget = img->lim.max_bytes;
	memset(out, 0, sizeof(*out));
	out->layers = xcalloc(img->manifest.n_layers + 1, sizeof(*out->layers));
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		if (inspect_layer(img, i, &budget, out, err) < 0)
			return perr_wrap(err, "layer %zu (%s)", i + 1, img->manifest.layers[i].digest);
		if (p && p->layer_done)
			p->layer_done(p->ctx, i, img->manifest.n_layers);
	}
	return 0;
}

void inspect_result_free(struct inspect_result *r)
{
	for (size_t i = 0; i < r->ntop; i++)
		free(r->top[i].path);
	for (size_t i = 0; i < r->nsetid; i++)
		free(r->setid[i].path);
	for (size_t i = 0; i < r->nwhiteouts; i++)
		free(r->whiteouts[i].path);
	free(r->setid);
	free(r->whiteouts);
	free(r->layers);
	memset(r, 0, sizeof(*r));
}
