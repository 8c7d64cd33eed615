/* JSON at the edges: OCI and Docker documents into typed structs. */
#include "image/image.h"
#include "base/digest.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

const struct limits default_limits = {
	.max_bytes = 64ULL << 30,  /* real images reach tens of GB */
	.max_entries = 10000000,
	.max_path = 4096,
	.max_json = 16ULL << 20,  /* configs with long histories stay far below */
	.max_depth = 64,
	.max_expansion = 200,      /* gzip of real layers: 2-10x; of zeros: ~1000x */
	.expansion_floor = 1ULL << 30,
};

static const struct media_type media_types[] = {
	{ "application/vnd.oci.image.index.v1+json", MT_INDEX, COMP_NONE, false },
	{ "application/vnd.oci.image.manifest.v1+json", MT_MANIFEST, COMP_NONE, false },
	{ "application/vnd.oci.image.config.v1+json", MT_CONFIG, COMP_NONE, false },
	{ "application/vnd.oci.image.layer.v1.tar", MT_LAYER, COMP_NONE, false },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", MT_LAYER, COMP_GZIP, false },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", MT_LAYER, COMP_ZSTD, false },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar", MT_LAYER, COMP_NONE, false },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", MT_LAYER, COMP_GZIP, false },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", MT_LAYER, COMP_ZSTD, false },
	{ "application/vnd.docker.distribution.manifest.list.v2+json", MT_INDEX, COMP_NONE, true },
	{ "application/vnd.docker.distribution.manifest.v2+json", MT_MANIFEST, COMP_NONE, true },
	{ "application/vnd.docker.container.image.v1+json", MT_CONFIG, COMP_NONE, true },
	{ "application/vnd.docker.image.rootfs.diff.tar", MT_LAYER, COMP_NONE, true },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", MT_LAYER, COMP_GZIP, true },
	{ "application/vnd.docker.image.rootfs.diff.tar.zstd", MT_LAYER, COMP_ZSTD, true },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", MT_LAYER, COMP_GZIP, true },
};

const struct media_type *media_type_lookup(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(media_types); i++)
		if (!strcmp(media_types[i].name, name))
			return &media_types[i];
	return NULL;
}

const char *compression_name(enum compression c)
{
	static const char *const names[] = { "none", "gzip", "zstd" };
	return names[c];
}

int compress_spec_parse(const char *s, struct compress_spec *out, struct perr *err)
{
	static const struct {
		const char *name;
		enum compression comp;
		int max_level;
	} kinds[] = { { "none", COMP_NONE, 0 }, { "gzip", COMP_GZIP, 9 }, { "zstd", COMP_ZSTD, 19 } };
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (strlen(kinds[i].name) != n || strncmp(s, kinds[i].name, n))
			continue;
		uint64_t level = 0;
		if (colon && (!kinds[i].max_level || parse_u64(colon + 1, &level) < 0 || level < 1 ||
			      level > (uint64_t)kinds[i].max_level))
			return kinds[i].max_level
				       ? perr_set(err, 0, "'%s': a %s level is 1 to %d", s, kinds[i].name, kinds[i].max_level)
				       : perr_set(err, 0, "'%s': none takes no level", s);
		*out = (struct compress_spec){ .comp = kinds[i].comp, .level = (int)level };
		return 0;
	}
	return perr_set(err, 0, "'%s': use gzip, zstd or none, with an optional :LEVEL", s);
}

const char *oci_layer_media_type(enum compression c)
{
	static const char *const names[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
	};
	return names[c];
}

static void json_unrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(json_unrefp)))

/* jansson has no nesting limit of its own that we can set, so measure the
 * nesting before parsing: a deep document would otherwise recurse deeply. */
static int check_depth(const char *buf, size_t len, uint64_t max_depth, struct perr *err)
{
	uint64_t depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return perr_set(err, 0, "JSON nested deeper than %llu levels",
						(unsigned long long)max_depth);
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

static json_t *json_parse(const char *buf, size_t len, const struct limits *lim, struct perr *err)
{
	json_error_t jerr;
	if (len > lim->max_json) {
		perr_set(err, 0, "JSON document of %zu bytes exceeds the limit of %llu", len,
			 (unsigned long long)lim->max_json);
		return NULL;
	}
	if (check_depth(buf, len, lim->max_depth, err) < 0)
		return NULL;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		perr_set(err, 0, "invalid JSON at line %d: %s", jerr.line, jerr.text);
	return j;
}

/* Optional string member: absent or null gives NULL, any other type fails. */
static int get_str(json_t *obj, const char *key, char **out, bool required, struct perr *err)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return perr_set(err, 0, "missing field '%s'", key);
		return 0;
	}
	if (!json_is_string(v))
		return perr_set(err, 0, "field '%s': expected a string", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_strv(json_t *obj, const char *key, struct strv *out, bool *present, struct perr *err)
{
	json_t *v = json_object_get(obj, key), *it;
	size_t i;
	if (present)
		*present = v && !json_is_null(v);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return perr_set(err, 0, "field '%s': expected an array", key);
	json_array_foreach(v, i, it) {
		if (!json_is_string(it))
			return perr_set(err, 0, "field '%s[%zu]': expected a string", key, i);
		strv_push(out, xstrdup(json_string_value(it)));
	}
	return 0;
}

/* Keys of an object member ("ExposedPorts": {"80/tcp": {}}), sorted. */
static int get_keys(json_t *obj, const char *key, struct strv *keys, struct strv *values,
		    struct perr *err)
{
	json_t *v = json_object_get(obj, key), *val;
	const char *k;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return perr_set(err, 0, "field '%s': expected an object", key);
	json_object_foreach(v, k, val) {
		if (values && !json_is_string(val))
			return perr_set(err, 0, "field '%s.%s': expected a string", key, k);
		strv_push(keys, xstrdup(k));
		if (values)
			strv_push(values, xstrdup(json_string_value(val)));
	}
	return 0;
}

static int parse_platform(json_t *p, struct platform *out, struct perr *err)
{
	if (!json_is_object(p))
		return perr_set(err, 0, "field 'platform': expected an object");
	if (get_str(p, "os", &out->os, true, err) < 0 ||
	    get_str(p, "architecture", &out->arch, true, err) < 0 ||
	    get_str(p, "variant", &out->variant, false, err) < 0)
		return perr_wrap(err, "platform");
	return 0;
}

static int parse_descriptor(json_t *j, struct descriptor *d, struct perr *err)
{
	json_t *size, *ann, *plat;
	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return perr_set(err, 0, "descriptor: expected an object");
	if (get_str(j, "mediaType", &d->media_type, true, err) < 0 ||
	    get_str(j, "digest", &d->digest, true, err) < 0)
		return -1;
	if (!digest_valid(d->digest))
		return perr_set(err, 0, "unsupported or malformed digest '%.80s'", d->digest);
	size = json_object_get(j, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return perr_set(err, 0, "descriptor %s: 'size' must be a non-negative integer",
				d->digest);
	d->size = json_integer_value(size);
	ann = json_object_get(j, "annotations");
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann))
			return perr_set(err, 0, "field 'annotations': expected an object");
		if (get_str(ann, "org.opencontainers.image.ref.name", &d->ref_name, false, err) < 0)
			return -1;
	}
	plat = json_object_get(j, "platform");
	if (plat && !json_is_null(plat)) {
		d->has_platform = true;
		if (parse_platform(plat, &d->platform, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_descriptors(json_t *arr, const char *what, struct descriptor **out, size_t *n,
			     struct perr *err)
{
	json_t *it;
	size_t i;
	if (!json_is_array(arr))
		return perr_set(err, 0, "field '%s': expected an array", what);
	*n = json_array_size(arr);
	*out = xcalloc(*n, sizeof(**out));
	json_array_foreach(arr, i, it) {
		if (parse_descriptor(it, &(*out)[i], err) < 0)
			return perr_wrap(err, "%s[%zu]", what, i);
	}
	return 0;
}

static int check_schema(json_t *j, struct perr *err)
{
	json_t *v = json_object_get(j, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return perr_set(err, 0, "'schemaVersion' must be 2");
	return 0;
}

/* A JSON object with "schemaVersion": 2, or NULL with ERR set. */
static json_t *parse_v2_object(const char *buf, size_t len, const struct limits *lim,
			       const char *what, struct perr *err)
{
	json_t *j = json_parse(buf, len, lim, err);
	if (j && !json_is_object(j))
		perr_set(err, 0, "%s: expected an object", what);
	else if (j && check_schema(j, err) == 0)
		return j;
	json_decref(j);
	return NULL;
}

int parse_index(const char *buf, size_t len, const struct limits *lim, struct index *out,
		struct perr *err)
{
	cleanup_json json_t *j = parse_v2_object(buf, len, lim, "index", err);
	memset(out, 0, sizeof(*out));
	if (!j)
		return -1;
	return parse_descriptors(json_object_get(j, "manifests"), "manifests", &out->m, &out->n,
				 err);
}

int parse_manifest(const char *buf, size_t len, const struct limits *lim, struct manifest *out,
		   struct perr *err)
{
	cleanup_json json_t *j = parse_v2_object(buf, len, lim, "manifest", err);
	memset(out, 0, sizeof(*out));
	if (!j || get_str(j, "mediaType", &out->media_type, false, err) < 0)
		return -1;
	if (parse_descriptor(json_object_get(j, "config"), &out->config, err) < 0)
		return perr_wrap(err, "config");
	return parse_descriptors(json_object_get(j, "layers"), "layers", &out->layers,
				 &out->n_layers, err);
}

static int parse_config_body(json_t *c, struct image_config *out, struct perr *err)
{
	if (!c || json_is_null(c))
		return 0;
	if (!json_is_object(c))
		return perr_set(err, 0, "field 'config': expected an object");
	if (get_strv(c, "Entrypoint", &out->entrypoint, &out->has_entrypoint, err) < 0 ||
	    get_strv(c, "Cmd", &out->cmd, &out->has_cmd, err) < 0 ||
	    get_strv(c, "Env", &out->env, NULL, err) < 0 ||
	    get_keys(c, "ExposedPorts", &out->exposed_ports, NULL, err) < 0 ||
	    get_keys(c, "Volumes", &out->volumes, NULL, err) < 0 ||
	    get_keys(c, "Labels", &out->label_keys, &out->label_values, err) < 0 ||
	    get_str(c, "User", &out->user, false, err) < 0 ||
	    get_str(c, "WorkingDir", &out->workdir, false, err) < 0 ||
	    get_str(c, "StopSignal", &out->stop_signal, false, err) < 0)
		return perr_wrap(err, "config");
	return 0;
}

int parse_config(const char *buf, size_t len, const struct limits *lim, struct image_config *out,
		 struct perr *err)
{
	cleanup_json json_t *j = json_parse(buf, len, lim, err);
	json_t *rootfs, *hist;
	memset(out, 0, sizeof(*out));
	if (!j)
		return -1;
	if (!json_is_object(j))
		return perr_set(err, 0, "image config: expected an object");
	if (get_str(j, "os", &out->platform.os, true, err) < 0 ||
	    get_str(j, "architecture", &out->platform.arch, true, err) < 0 ||
	    get_str(j, "variant", &out->platform.variant, false, err) < 0 ||
	    get_str(j, "created", &out->created, false, err) < 0)
		return -1;
	if (parse_config_body(json_object_get(j, "config"), out, err) < 0)
		return -1;
	rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs))
		return perr_set(err, 0, "missing field 'rootfs'");
	if (get_strv(rootfs, "diff_ids", &out->diff_ids, NULL, err) < 0)
		return perr_wrap(err, "rootfs");
	for (size_t i = 0; i < out->diff_ids.n; i++)
		if (!digest_valid(out->diff_ids.v[i]))
			return perr_set(err, 0, "rootfs.diff_ids[%zu]: malformed digest", i);
	hist = json_object_get(j, "history");
	out->n_history = json_is_array(hist) ? json_array_size(hist) : 0;
	return 0;
}

int parse_docker_manifest(const char *buf, size_t len, const struct limits *lim,
			  struct docker_manifest *out, struct perr *err)
{
	cleanup_json json_t *j = json_parse(buf, len, lim, err);
	json_t *it;
	size_t i;
	memset(out, 0, sizeof(*out));
	if (!j)
		return -1;
	if (!json_is_array(j) || json_array_size(j) == 0)
		return perr_set(err, 0, "expected a non-empty array of images");
	out->n = json_array_size(j);
	out->e = xcalloc(out->n, sizeof(*out->e));
	json_array_foreach(j, i, it) {
		struct docker_entry *e = &out->e[i];
		if (!json_is_object(it) || get_str(it, "Config", &e->config, true, err) < 0 ||
		    get_strv(it, "RepoTags", &e->repo_tags, NULL, err) < 0 ||
		    get_strv(it, "Layers", &e->layers, NULL, err) < 0)
			return perr_wrap(err, "image %zu", i);
	}
	return 0;
}

static void platform_free(struct platform *p)
{
	free(p->os);
	free(p->arch);
	free(p->variant);
}

void descriptor_free(struct descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->ref_name);
	platform_free(&d->platform);
	memset(d, 0, sizeof(*d));
}

void index_free(struct index *x)
{
	for (size_t i = 0; i < x->n; i++)
		descriptor_free(&x->m[i]);
	free(x->m);
	memset(x, 0, sizeof(*x));
}

void manifest_free(struct manifest *m)
{
	free(m->media_type);
	descriptor_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_free(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

void image_config_free(struct image_config *c)
{
	platform_free(&c->platform);
	strv_free(&c->entrypoint);
	strv_free(&c->cmd);
	strv_free(&c->env);
	strv_free(&c->exposed_ports);
	strv_free(&c->volumes);
	strv_free(&c->diff_ids);
	strv_free(&c->label_keys);
	strv_free(&c->label_values);
	free(c->user);
	free(c->workdir);
	free(c->stop_signal);
	free(c->created);
	memset(c, 0, sizeof(*c));
}

void docker_manifest_free(struct docker_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].config);
		strv_free(&m->e[i].repo_tags);
		strv_free(&m->e[i].layers);
	}
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* ---- serialisers ---- */

static char *dump(json_t *j)
{
	/* Sorted keys and compact form: the same struct gives the same bytes,
	 * so manifests and their digests are deterministic. */
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!s) {
		fputs("pare: out of memory\n", stderr);
		abort();
	}
	return s;
}

static json_t *descriptor_to_json(const struct descriptor *d)
{
	json_t *j = json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest,
			      "size", (json_int_t)d->size);
	if (d->ref_name)
		json_object_set_new(j, "annotations",
				    json_pack("{s:s}", "org.opencontainers.image.ref.name",
					      d->ref_name));
	if (d->has_platform) {
		json_t *p = json_pack("{s:s, s:s}", "os", d->platform.os, "architecture",
				      d->platform.arch);
		if (d->platform.variant)
			json_object_set_new(p, "variant", json_string(d->platform.variant));
		json_object_set_new(j, "platform", p);
	}
	return j;
}

char *manifest_to_json(const struct manifest *m)
{
	json_t *layers = json_array();
	for (size_t i = 0; i < m->n_layers; i++)
		json_array_append_new(layers, descriptor_to_json(&m->layers[i]));
	return dump(json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
			      m->media_type, "config", descriptor_to_json(&m->config), "layers",
			      layers));
}

char *index_to_json(const struct descriptor *descs, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, descriptor_to_json(&descs[i]));
	return dump(json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
			      "application/vnd.oci.image.index.v1+json", "manifests", arr));
}

static json_t *strv_to_json(const struct strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

char *docker_manifest_to_json(const char *config_path, const char *repo_tag,
			      const struct strv *layer_paths)
{
	json_t *tags = json_array();
	if (repo_tag)
		json_array_append_new(tags, json_string(repo_tag));
	return dump(json_pack("[{s:s, s:o, s:o}]", "Config", config_path, "RepoTags", tags,
			      "Layers", strv_to_json(layer_paths)));
}

char *docker_repositories_to_json(const char *repo_tag, const char *top_layer_id)
{
	const char *colon = strrchr(repo_tag, ':');
	char *name = xasprintf("%.*s", (int)(colon - repo_tag), repo_tag);
	json_t *j = json_pack("{s:{s:s}}", name, colon + 1, top_layer_id);
	free(name);
	return dump(j);
}

char *config_rewrite(const char *config_json, size_t len, const struct strv *diff_ids,
		     const char *history_created_by, const char *created, struct perr *err)
{
	struct strv one = { 0 };
	if (history_created_by)
		strv_push(&one, xstrdup(history_created_by));
	char *r = config_rewrite_layers(config_json, len, diff_ids, &one, created, err);
	strv_free(&one);
	return r;
}

char *config_rewrite_layers(const char *config_json, size_t len, const struct strv *diff_ids,
			    const struct strv *created_by, const char *created, struct perr *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(config_json, len, 0, &jerr), *hist;
	if (!j || !json_is_object(j)) {
		json_decref(j);
		perr_set(err, 0, "image config: cannot re-read it");
		return NULL;
	}
	json_object_set_new(j, "rootfs",
			    json_pack("{s:s, s:o}", "type", "layers", "diff_ids",
				      strv_to_json(diff_ids)));
	if (created)
		json_object_set_new(j, "created", json_string(created));
	if (created_by->n) {
		hist = json_object_get(j, "history");
		if (!json_is_array(hist)) {
			hist = json_array();
			json_object_set_new(j, "history", hist);
		}
		/* Earlier layers are gone, so their history entries become
		 * empty layers; ours are the non-empty entries, one a layer. */
		size_t i;
		json_t *h;
		json_array_foreach(hist, i, h)
			if (json_is_object(h))
				json_object_set_new(h, "empty_layer", json_true());
		for (size_t k = 0; k < created_by->n; k++) {
			json_t *e = json_pack("{s:s}", "created_by", created_by->v[k]);
			if (created)
				json_object_set_new(e, "created", json_string(created));
			json_array_append_new(hist, e);
		}
	}
	return dump(j);
}
