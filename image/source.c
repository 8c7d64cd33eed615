/* Reading images: image_open() dispatches to the transport's ops table
 * (transport.h); what they share is here. */
#define _GNU_SOURCE
#include "image/transport.h"

#include <errno.h>
#include <string.h>

static const struct transport_ops *const transports[] = {
	[T_OCI] = &oci_layout_transport,
	[T_DOCKER_ARCHIVE] = &docker_archive_transport,
	[T_DOCKER_DAEMON] = &docker_daemon_transport,
	[T_REGISTRY] = &registry_transport,
	[T_OCI_ARCHIVE] = &oci_archive_transport,
};

/* Read a whole blob into memory, at most MAX bytes. */
int blob_slurp(struct blob *b, uint64_t max, char **buf, size_t *len, struct perr *err)
{
	size_t cap = 4096, n = 0;
	cleanup_free char *p = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap > max)
				return perr_set(err, 0, "larger than the limit of %llu bytes",
						(unsigned long long)max);
			cap *= 2;
			p = xrealloc(p, cap);
		}
		ssize_t r = b->read(b, p + n, cap - n);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		return perr_set(err, 0, "larger than the limit of %llu bytes", (unsigned long long)max);
	*buf = steal_pointer(&p);
	*len = n;
	return 0;
}

int parse_platform_want(const char *s, struct platform_want *w, struct perr *err)
{
	memset(w, 0, sizeof(*w));
	if (!s)
		s = "linux/amd64";
	if (sscanf(s, "%63[^/]/%63[^/]/%63s", w->os, w->arch, w->variant) < 2)
		return perr_set(err, 0, "invalid platform '%s' (expected os/arch[/variant])", s);
	return 0;
}

#define MAX_INDEX_NESTING 4

static bool platform_matches(const struct descriptor *d, const struct platform_want *w)
{
	if (!d->has_platform)
		return false;
	return !strcmp(d->platform.os, w->os) && !strcmp(d->platform.arch, w->arch) &&
	       (!w->variant[0] || (d->platform.variant && !strcmp(d->platform.variant, w->variant)));
}

static void describe_platforms(const struct descriptor *c, size_t n, char *out, size_t sz)
{
	size_t len = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && len < sz; i++) {
		if (!c[i].has_platform || !strcmp(c[i].platform.os, "unknown"))
			continue;
		len += (size_t)snprintf(out + len, sz - len, "%s%s/%s%s%s", len ? ", " : "",
					c[i].platform.os, c[i].platform.arch,
					c[i].platform.variant ? "/" : "",
					c[i].platform.variant ? c[i].platform.variant : "");
	}
	if (!out[0])
		snprintf(out, sz, "none");
}

static int choose_at(struct image *img, const struct descriptor *c, size_t n, const struct platform_want *w,
		     blob_fetch_fn fetch, int depth, struct descriptor *out, struct perr *err)
{
	const struct descriptor *pick = NULL;
	if (depth > MAX_INDEX_NESTING)
		return perr_set(err, 0, "image indexes nested too deeply");
	if (n == 1 && !c[0].has_platform) {
		pick = &c[0];
	} else {
		for (size_t i = 0; i < n && !pick; i++)
			if (platform_matches(&c[i], w))
				pick = &c[i];
		if (!pick) {
			char avail[512];
			describe_platforms(c, n, avail, sizeof(avail));
			return perr_set(err, 0, "no manifest for platform %s/%s%s%s (available: %s)",
					w->os, w->arch, w->variant[0] ? "/" : "", w->variant, avail);
		}
	}
	const struct media_type *mt = media_type_lookup(pick->media_type);
	if (!mt || (mt->kind != MT_INDEX && mt->kind != MT_MANIFEST))
		return perr_set(err, 0, "descriptor %s: unsupported media type '%s'", pick->digest,
				pick->media_type);
	if (mt->kind == MT_MANIFEST) {
		out->digest = xstrdup(pick->digest);
		out->media_type = xstrdup(pick->media_type);
		out->size = pick->size;
		return 0;
	}
	cleanup_free char *buf = NULL;
	size_t len;
	struct index sub;
	if (fetch(img, pick, &buf, &len, err) < 0)
		return -1;
	if (parse_index(buf, len, &img->lim, &sub, err) < 0) {
		index_free(&sub);
		return perr_wrap(err, "index %s", pick->digest);
	}
	int r = choose_at(img, sub.m, sub.n, w, fetch, depth + 1, out, err);
	index_free(&sub);
	return r;
}

int choose_manifest(struct image *img, const struct descriptor *c, size_t n, const struct platform_want *w,
		    blob_fetch_fn fetch, struct descriptor *out, struct perr *err)
{
	return choose_at(img, c, n, w, fetch, 0, out, err);
}

/* ---------- public ---------- */

int image_open(const struct imgref *ref, const struct open_opts *opts, struct image **out,
	       struct perr *err)
{
	cleanup_image struct image *img = xcalloc(1, sizeof(*img));
	struct platform_want w;
	int r;
	img->dir_fd = img->tar_fd = -1;
	img->lim = opts->lim;
	imgref_copy(&img->ref, ref);
	if (ref->reg.tls_verify == TLS_DEFAULT && !ref->reg.creds && !ref->reg.authfile && !ref->reg.cert_dir)
		img->ref.reg = opts->reg;
	if (parse_platform_want(opts->platform, &w, err) < 0)
		return -1;
	r = ref->transport < ARRAY_SIZE(transports) && transports[ref->transport]
		    ? transports[ref->transport]->open(img, &w, err)
		    : perr_set(err, 0, "unknown transport");
	/* An index without platforms gives no choice: then the config must
	 * match what the user asked for. */
	if (r == 0 && opts->platform &&
	    (strcmp(img->config.platform.os, w.os) || strcmp(img->config.platform.arch, w.arch) ||
	     (w.variant[0] && (!img->config.platform.variant ||
			       strcmp(img->config.platform.variant, w.variant)))))
		r = perr_set(err, 0, "image is for platform %s/%s, not %s", img->config.platform.os,
			     img->config.platform.arch, opts->platform);
	if (r < 0)
		return perr_wrap(err, "%s", ref->text);
	*out = steal_pointer(&img);
	return 0;
}

int image_open_text(const char *text, const struct open_opts *opts, struct image **out,
		    struct perr *err)
{
	struct imgref ref;
	int r = imgref_parse(text, false, &ref, err);
	if (r == 0)
		r = image_open(&ref, opts, out, err);
	imgref_free(&ref);
	return r;
}

enum compression image_layer_compression(const struct image *img, size_t idx)
{
	const struct media_type *mt = media_type_lookup(img->manifest.layers[idx].media_type);
	return mt ? mt->comp : COMP_NONE;
}

/* "gzip", "uncompressed", or "mixed" when the layers differ. */
const char *image_layers_compression(const struct image *img)
{
	const char *name = NULL;
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		enum compression c = image_layer_compression(img, i);
		const char *n = c == COMP_NONE ? "uncompressed" : compression_name(c);
		if (name && strcmp(name, n))
			return "mixed";
		name = n;
	}
	return name ? name : "uncompressed";
}

int image_open_layer_blob(struct image *img, size_t idx, struct blob **out, struct perr *err)
{
	if (idx >= img->manifest.n_layers)
		return perr_set(err, 0, "no layer %zu", idx);
	return transports[img->ref.transport]->open_layer(img, idx, out, err);
}

void image_close(struct image *img)
{
	/* first: the transport is read from the ref */
	if (img->ref.transport < ARRAY_SIZE(transports) && transports[img->ref.transport])
		transports[img->ref.transport]->close(img);
	imgref_free(&img->ref);
	manifest_free(&img->manifest);
	image_config_free(&img->config);
	free(img->config_raw);
	free(img->manifest_raw);
	strv_free(&img->repo_tags);
	free(img->tag);
	free(img);
}
