/* The docker:// transport, reading: the manifest (or index, then the
 * platform's manifest) by tag or digest, the config, and layers streamed
 * from the registry straight into the layer reader, which checks them. */
#define _GNU_SOURCE
#include "image/transport.h"
#include "image/registry.h"

#include <string.h>

/* A manifest an index names, by digest, checked against its descriptor. */
static int fetch_by_descriptor(struct image *img, const struct descriptor *d, char **buf, size_t *len,
			       struct perr *err)
{
	char digest[DIGEST_STR_LEN + 1];
	cleanup_free char *mt = NULL;
	if (!digest_valid(d->digest))
		return perr_set(err, 0, "malformed digest '%.80s'", d->digest);
	if (registry_get_manifest(img->reg, d->digest, img->lim.max_json, buf, len, &mt, digest, err) < 0)
		return -1;
	if ((int64_t)*len != d->size) {
		free(steal_pointer(buf));
		return perr_set(err, 0, "manifest %s: size mismatch (descriptor says %lld, registry sent %zu)",
				d->digest, (long long)d->size, *len);
	}
	return 0;
}

/* An index's or manifest's kind from its media type: the header's, else
 * the document's own mediaType. */
static enum mt_kind top_kind(const char *header_type, const char *buf, size_t len, const struct limits *lim)
{
	const struct media_type *mt = media_type_lookup(header_type);
	if (mt && (mt->kind == MT_INDEX || mt->kind == MT_MANIFEST))
		return mt->kind;
	struct index idx;
	struct perr ignored;
	/* No usable type: an index has "manifests", a manifest "layers". */
	bool is_index = parse_index(buf, len, lim, &idx, &ignored) == 0 && idx.n > 0;
	index_free(&idx);
	return is_index ? MT_INDEX : MT_MANIFEST;
}

static int registry_read(struct image *img, const struct platform_want *w, struct perr *err)
{
	cleanup_free char *buf = NULL, *mt = NULL;
	char digest[DIGEST_STR_LEN + 1];
	size_t len;
	const struct imgref *ref = &img->ref;
	if (registry_open(ref->host, ref->repo, &ref->reg, false, &img->reg, err) < 0)
		return -1;
	if (registry_get_manifest(img->reg, ref->digest ? ref->digest : ref->tag, img->lim.max_json, &buf, &len,
				  &mt, digest, err) < 0)
		return -1;
	if (top_kind(mt, buf, len, &img->lim) == MT_INDEX) {
		struct index idx;
		snprintf(img->index_digest, sizeof(img->index_digest), "%s", digest);
		struct descriptor chosen = { 0 };
		int r = parse_index(buf, len, &img->lim, &idx, err);
		if (r < 0)
			perr_wrap(err, "index %s", digest);
		else
			r = choose_manifest(img, idx.m, idx.n, w, fetch_by_descriptor, &chosen, err);
		index_free(&idx);
		free(steal_pointer(&buf));
		if (r == 0)
			r = fetch_by_descriptor(img, &chosen, &buf, &len, err);
		descriptor_free(&chosen);
		if (r < 0)
			return -1;
	}
	if (parse_manifest(buf, len, &img->lim, &img->manifest, err) < 0)
		return perr_wrap(err, "manifest");
	img->manifest_len = len;
	img->manifest_raw = steal_pointer(&buf);
	sha256_buf(img->manifest_raw, len, img->manifest_digest);
	const struct media_type *cmt = media_type_lookup(img->manifest.config.media_type);
	if (!cmt || cmt->kind != MT_CONFIG)
		return perr_set(err, 0, "config: unsupported media type '%s'", img->manifest.config.media_type);
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		const struct media_type *lmt = media_type_lookup(img->manifest.layers[i].media_type);
		if (!lmt || lmt->kind != MT_LAYER)
			return perr_set(err, 0, "layer %zu: unsupported media type '%s'", i,
					img->manifest.layers[i].media_type);
		/* What a push to another repository here may mount. */
		registry_note_blob(img->reg, img->manifest.layers[i].digest);
	}
	if (registry_get_blob(img->reg, img->manifest.config.digest, img->manifest.config.size, img->lim.max_json,
			      &img->config_raw, &img->config_len, err) < 0)
		return perr_wrap(err, "config");
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", img->manifest.config.digest);
	registry_note_blob(img->reg, img->config_digest);
	if (parse_config(img->config_raw, img->config_len, &img->lim, &img->config, err) < 0)
		return perr_wrap(err, "config %s", img->config_digest);
	if (img->manifest.n_layers != img->config.diff_ids.n)
		return perr_set(err, 0, "manifest has %zu layers but the config has %zu diff_ids",
				img->manifest.n_layers, img->config.diff_ids.n);
	if (ref->tag)
		img->tag = xstrdup(ref->tag);
	return 0;
}

static int registry_layer(struct image *img, size_t idx, struct blob **out, struct perr *err)
{
	const struct descriptor *d = &img->manifest.layers[idx];
	return registry_open_blob(img->reg, d->digest, d->size, out, err);
}

static void registry_close(struct image *img)
{
	if (img->reg)
		registry_free(img->reg);
	img->reg = NULL;
}

const struct transport_ops registry_transport = { registry_read, registry_layer, registry_close };
