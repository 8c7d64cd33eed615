/* The reduce step (fleet.h): the plan's layers built once each, as tars
 * below STATE/layers and compressed as the outputs ask, then every image
 * written with its layers in the plan's order; and the report. */
#define _GNU_SOURCE
#include "slimmer/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/writer.h"
#include "slimmer/slim_image.h"

/* A temporary file in DIR to be renamed into place; its name in TMP. */
static int tmp_in(const char *dir, char **tmp, struct perr *err)
{
	*tmp = xasprintf("%s/.tmp-XXXXXX", dir);
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0)
		return perr_set(err, errno, "cannot create a file in '%s'", dir);
	return fd;
}

static void unlink_tmp(char **tmp)
{
	if (*tmp)
		unlink(*tmp);
	free(*tmp);
	*tmp = NULL;
}

static int put_in_place(int fd, char **tmp, const char *final, struct perr *err)
{
	if (fchmod(fd, umask_mode(0644)) < 0 || rename(*tmp, final) < 0) {
		int e = errno;
		unlink_tmp(tmp);
		return perr_set(err, e, "cannot write '%s'", final);
	}
	free(*tmp);
	*tmp = NULL;
	return 0;
}

static char *tar_path(const char *dir, const char *diff_id)
{
	return xasprintf("%s/%s.tar", dir, digest_hex(diff_id));
}

static int build_one(const struct fleet_plan *p, size_t l, const struct fleet_target *t, const char *dir,
		     struct fleet_built_layer *out, struct perr *err)
{
	const struct fleet_layer *L = &p->layers[l];
	struct fleet_paths fp;
	fleet_layer_paths(p, l, &fp);
	struct build_opts bo = { .comp = COMP_NONE, .upper_fd = -1, .mtime_of = fleet_paths_mtime, .mtime_ctx = &fp };
	bo.clamp_mtime = source_date_epoch(&bo.epoch);
	char *tmp = NULL;
	cleanup_close int fd = tmp_in(dir, &tmp, err);
	struct built_layer bl;
	int r = fd < 0 ? -1 : layer_build(t[L->source].rootfd, &fp.paths, fd, &bo, &bl, err);
	fleet_paths_free(&fp);
	if (r < 0) {
		unlink_tmp(&tmp);
		return perr_wrap(err, "layer %zu (from %s)", l + 1, t[L->source].name);
	}
	cleanup_free char *final = tar_path(dir, bl.diff_id);
	if (put_in_place(fd, &tmp, final, err) < 0)
		return -1;
	memcpy(out->diff_id, bl.diff_id, sizeof(bl.diff_id));
	out->uncompressed = bl.uncompressed;
	out->entries = bl.entries;
	return 0;
}

/* The blob of layer OUT compressed as C, made once per compression. */
struct blob_spec {
	enum compression comp;
	int level;
};

static int blob_for(struct fleet_built_layer *out, struct blob_spec *specs, const char *dir,
		    const struct compress_spec *c, size_t *idx, struct perr *err)
{
	for (size_t k = 0; k < out->n_blobs; k++)
		if (specs[k].comp == c->comp && specs[k].level == c->level) {
			*idx = k;
			return 0;
		}
	cleanup_free char *tar = tar_path(dir, out->diff_id);
	cleanup_close int in = open(tar, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return perr_set(err, errno, "cannot open '%s'", tar);
	struct fleet_blob b = { .size = 0 };
	if (c->comp == COMP_NONE) {
		memcpy(b.digest, out->diff_id, sizeof(b.digest));
		b.size = (int64_t)out->uncompressed;
	} else {
		char *tmp = NULL;
		cleanup_close int fd = tmp_in(dir, &tmp, err);
		struct built_layer bl;
		if (fd < 0 || layer_compress(in, fd, c, &bl, err) < 0) {
			unlink_tmp(&tmp);
			return -1;
		}
		cleanup_free char *final = xasprintf("%s/%s.blob", dir, digest_hex(bl.digest));
		if (put_in_place(fd, &tmp, final, err) < 0)
			return -1;
		memcpy(b.digest, bl.digest, sizeof(b.digest));
		b.size = bl.size;
	}
	out->blobs = xrealloc(out->blobs, (out->n_blobs + 1) * sizeof(*out->blobs));
	out->blobs[out->n_blobs] = b;
	specs[out->n_blobs] = (struct blob_spec){ c->comp, c->level };
	*idx = out->n_blobs++;
	return 0;
}

static int copy_file_to(const char *path, int out, struct perr *err)
{
	cleanup_close int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || sha256_copy_fd(in, out, NULL) < 0)
		return perr_set(err, errno, "cannot copy '%s'", path);
	return 0;
}

/* What a layer's history entry says: who shares it. */
static char *created_by(const struct fleet_plan *p, const struct fleet_target *t, size_t l)
{
	const struct fleet_layer *L = &p->layers[l];
	if (L->n_members == 1)
		return xasprintf("pare fleet slim: %s's own files", t[L->source].name);
	if (L->n_members == p->n_images)
		return xasprintf("pare fleet slim: shared by all %zu images", p->n_images);
	char *s = xasprintf("pare fleet slim: shared by");
	for (size_t i = 0; i < p->n_images; i++)
		if (L->members[i]) {
			char *n = xasprintf("%s %s", s, t[i].name);
			free(s);
			s = n;
		}
	return s;
}

static int write_one(const struct fleet_plan *p, size_t i, struct fleet_target *t, const char *dir,
		     struct fleet_result *res, struct blob_spec **specs, struct perr *err)
{
	cleanup_writer struct image_writer *iw = NULL;
	if (writer_open(t[i].dst, &iw, err) < 0)
		return -1;
	struct compress_spec gz = { .comp = COMP_GZIP };
	struct compress_spec c = writer_wants_uncompressed(iw) ? (struct compress_spec){ .comp = COMP_NONE }
				 : t[i].comp ? *t[i].comp : gz;
	cleanup_strv struct strv diff_ids = { 0 }, history = { 0 };
	for (size_t k = 0; k < p->n_of_image[i]; k++) {
		size_t l = p->of_image[i][k], b = 0;
		struct fleet_built_layer *bl = &res->layers[l];
		if (blob_for(bl, specs[l], dir, &c, &b, err) < 0)
			return -1;
		cleanup_free char *path = c.comp == COMP_NONE ? tar_path(dir, bl->diff_id)
					  : xasprintf("%s/%s.blob", dir, digest_hex(bl->blobs[b].digest));
		cleanup_close int fd = writer_layer_tmpfile(iw, err);
		if (fd < 0 || copy_file_to(path, fd, err) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			return -1;
		if (writer_add_layer(iw, steal_fd(&fd), bl->blobs[b].digest, bl->blobs[b].size, c.comp,
				     bl->diff_id, err) < 0)
			return -1;
		strv_push(&diff_ids, xstrdup(bl->diff_id));
		strv_push(&history, created_by(p, t, l));
	}
	const struct image *img = t[i].img;
	char created[64];
	cleanup_free char *cfg = config_rewrite_layers(img->config_raw, img->config_len, &diff_ids, &history,
						       slim_created(img, created), err);
	if (!cfg || writer_set_config(iw, cfg, strlen(cfg), err) < 0)
		return -1;
	sha256_buf(cfg, strlen(cfg), res->configs[i]);
	if (writer_commit(iw, err) < 0)
		return -1;
	const char *md = writer_manifest_digest(iw);
	snprintf(res->manifests[i], sizeof(res->manifests[i]), "%s", md ? md : "");
	return 0;
}

/* Image I slimmed alone into one gzip layer, measured only. */
static int measure_single(const struct fleet_plan *p, size_t i, const struct fleet_target *t,
			  struct fleet_single *out, struct perr *err)
{
	const struct keep_record *r = p->recs[i];
	struct strv paths = { 0 };
	for (size_t j = 0; j < r->n; j++)
		if (*r->e[j].path)
			strv_push(&paths, xstrdup(r->e[j].path));
	cleanup_close int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct build_opts bo = { .comp = COMP_GZIP, .upper_fd = -1 };
	struct built_layer bl;
	int rc = null < 0 ? perr_set(err, errno, "/dev/null") : layer_build(t[i].rootfd, &paths, null, &bo, &bl, err);
	strv_free(&paths);
	if (rc < 0)
		return perr_wrap(err, "%s, measured alone", t[i].name);
	out->uncompressed = bl.uncompressed;
	out->compressed = bl.size;
	return 0;
}

int fleet_build(const struct fleet_plan *p, struct fleet_target *t, const char *state,
		void (*progress)(void *ctx, size_t layer, size_t n), void *ctx, struct fleet_result *res,
		struct perr *err)
{
	memset(res, 0, sizeof(*res));
	cleanup_free char *dir = xasprintf("%s/layers", state);
	if (mkdir_p(dir, 0755, err) < 0)
		return -1;
	res->n_layers = p->n_layers;
	res->layers = xcalloc(p->n_layers + 1, sizeof(*res->layers));
	res->configs = xcalloc(p->n_images, sizeof(*res->configs));
	res->manifests = xcalloc(p->n_images, sizeof(*res->manifests));
	res->single = xcalloc(p->n_images, sizeof(*res->single));
	struct blob_spec **specs = xcalloc(p->n_layers + 1, sizeof(*specs));
	int r = 0;
	for (size_t l = 0; !r && l < p->n_layers; l++) {
		if (progress)
			progress(ctx, l, p->n_layers);
		specs[l] = xcalloc(p->n_images + 1, sizeof(**specs)); /* one compression per image at most */
		r = build_one(p, l, t, dir, &res->layers[l], err);
	}
	for (size_t i = 0; !r && i < p->n_images; i++)
		if (write_one(p, i, t, dir, res, specs, err) < 0)
			r = perr_wrap(err, "%s: cannot write %s", t[i].name, t[i].dst_text);
	for (size_t i = 0; !r && i < p->n_images; i++)
		r = measure_single(p, i, t, &res->single[i], err);
	for (size_t l = 0; l < p->n_layers; l++)
		free(specs[l]);
	free(specs);
	return r;
}

void fleet_result_free(struct fleet_result *res)
{
	for (size_t l = 0; l < res->n_layers; l++)
		free(res->layers[l].blobs);
	free(res->layers);
	free(res->configs);
	free(res->manifests);
	free(res->single);
	memset(res, 0, sizeof(*res));
}

/* ---- the report ---- */

static json_t *names_of(const struct fleet *f, const struct fleet_layer *L, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		if (L->members[i])
			json_array_append_new(a, json_string(f->v[i].name));
	return a;
}

/* Blob digests and chain IDs, distinct: a registry stores each blob once,
 * a node each chain ID once. */
struct tally {
	struct strset seen;
	uint64_t bytes;
};

static void tally_add(struct tally *t, const char *key, uint64_t bytes)
{
	if (strset_add(&t->seen, key))
		t->bytes += bytes;
}

static json_t *image_json(const struct fleet *f, const struct fleet_plan *p, const struct fleet_result *res,
			  size_t i, struct tally *reg_u, struct tally *reg_c, struct tally *node,
			  struct tally *orig)
{
	json_t *layers = json_array();
	char chain[DIGEST_STR_LEN + 1] = "";
	uint64_t files = 0;
	for (size_t j = 0; j < p->recs[i]->n; j++)
		files += p->recs[i]->e[j].type == 'f' ? p->recs[i]->e[j].size : 0;
	for (size_t k = 0; k < p->n_of_image[i]; k++) {
		size_t l = p->of_image[i][k];
		const struct fleet_built_layer *bl = &res->layers[l];
		if (!*chain) {
			memcpy(chain, bl->diff_id, sizeof(chain));
		} else {
			cleanup_free char *both = xasprintf("%s %s", chain, bl->diff_id);
			sha256_buf(both, strlen(both), chain);
		}
		tally_add(reg_u, bl->diff_id, bl->uncompressed);
		tally_add(node, chain, bl->uncompressed);
		for (size_t b = 0; b < bl->n_blobs; b++)
			tally_add(reg_c, bl->blobs[b].digest, (uint64_t)bl->blobs[b].size);
		json_array_append_new(layers, json_pack("{s:I,s:s,s:s,s:I,s:I,s:o}", "layer", (json_int_t)l + 1,
							"diff_id", bl->diff_id, "chain_id", chain, "bytes",
							(json_int_t)bl->uncompressed, "entries", (json_int_t)bl->entries,
							"shared_with", names_of(f, &p->layers[l], p->n_images)));
	}
	int64_t orig_c = 0;
	for (size_t k = 0; k < p->recs[i]->n_layers; k++) {
		orig_c += p->recs[i]->layers[k].size;
		tally_add(orig, p->recs[i]->layers[k].digest, (uint64_t)p->recs[i]->layers[k].size);
	}
	return json_pack("{s:s,s:s,s:s?,s:o,s:I,s:{s:I,s:I},s:{s:I,s:I}}", "name", f->v[i].name, "config",
			 res->configs[i], "manifest", res->manifests[i][0] ? res->manifests[i] : NULL, "layers", layers, "kept_file_bytes", (json_int_t)files, "one_by_one",
			 "uncompressed", (json_int_t)res->single[i].uncompressed, "compressed",
			 (json_int_t)res->single[i].compressed, "original", "compressed", (json_int_t)orig_c,
			 "file_bytes", (json_int_t)p->recs[i]->source_bytes);
}

char *fleet_report_json(const struct fleet *f, const struct fleet_plan *p, const struct fleet_result *res)
{
	struct tally reg_u = { 0 }, reg_c = { 0 }, node = { 0 }, orig = { 0 };
	json_t *images = json_array(), *layers = json_array();
	uint64_t single_u = 0, single_c = 0, orig_files = 0;
	for (size_t i = 0; i < p->n_images; i++) {
		json_array_append_new(images, image_json(f, p, res, i, &reg_u, &reg_c, &node, &orig));
		single_u += res->single[i].uncompressed;
		single_c += (uint64_t)res->single[i].compressed;
		orig_files += p->recs[i]->source_bytes;
	}
	for (size_t l = 0; l < p->n_layers; l++) {
		const struct fleet_built_layer *bl = &res->layers[l];
		json_t *blobs = json_array();
		for (size_t b = 0; b < bl->n_blobs; b++)
			json_array_append_new(blobs, json_pack("{s:s,s:I}", "digest", bl->blobs[b].digest, "size",
							       (json_int_t)bl->blobs[b].size));
		json_array_append_new(layers, json_pack("{s:s,s:I,s:I,s:I,s:o,s:o}", "diff_id", bl->diff_id, "bytes",
							(json_int_t)bl->uncompressed, "file_bytes",
							(json_int_t)p->layers[l].bytes, "entries", (json_int_t)bl->entries,
							"images", names_of(f, &p->layers[l], p->n_images), "blobs", blobs));
	}
	double u = p->union_bytes ? (double)p->union_bytes : 1;
	json_t *j = json_pack(
		"{s:I,s:o,s:o,s:{s:I,s:{s:I,s:I},s:{s:I},s:{s:{s:I,s:I},s:{s:I}},s:{s:{s:I},s:I},s:{s:f,s:f}}}",
		"max_layers", (json_int_t)f->max_layers, "images", images, "layers", layers, "fleet",
		"union_of_kept_files", (json_int_t)p->union_bytes, "registry", "uncompressed",
		(json_int_t)reg_u.bytes, "compressed", (json_int_t)reg_c.bytes, "node", "uncompressed",
		(json_int_t)node.bytes, "one_by_one", "registry", "uncompressed", (json_int_t)single_u, "compressed",
		(json_int_t)single_c, "node", "uncompressed", (json_int_t)single_u, "originals", "registry",
		"compressed", (json_int_t)orig.bytes, "file_bytes", (json_int_t)orig_files, "ratios",
		"registry_uncompressed_to_union", (double)reg_u.bytes / u, "one_by_one_to_union",
		(double)single_u / u);
	strset_free(&reg_u.seen);
	strset_free(&reg_c.seen);
	strset_free(&node.seen);
	strset_free(&orig.seen);
	char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	json_decref(j);
	return text;
}
