/* Typed model of an image: descriptors, indexes, manifests, configs, and the
 * limits that protect us from hostile inputs. JSON never leaves ocijson.c:
 * the rest of the code sees these structs only. */
#ifndef PARE_IMAGE_H
#define PARE_IMAGE_H

#include "base/util.h"

struct limits {
	uint64_t max_bytes;    /* total uncompressed layer bytes of one image */
	uint64_t max_entries;  /* total tar entries of one image */
	uint64_t max_path;     /* bytes in one entry path or link target */
	uint64_t max_json;     /* bytes in one JSON document */
	uint64_t max_depth;    /* nesting of one JSON document */
	/* A compressed layer may expand to this many times its size, or to
	 * expansion_floor bytes, whichever is more; 0 = no such limit. */
	uint64_t max_expansion;
	uint64_t expansion_floor; /* 1 GiB; a field so that tests can lower it */
};
extern const struct limits default_limits;

enum compression { COMP_NONE, COMP_GZIP, COMP_ZSTD };
enum mt_kind { MT_UNKNOWN, MT_INDEX, MT_MANIFEST, MT_CONFIG, MT_LAYER };

struct media_type {
	const char *name;
	enum mt_kind kind;
	enum compression comp;
	bool docker; /* Docker v2 schema 2 flavour */
};
/* NULL for a media type we do not know. */
const struct media_type *media_type_lookup(const char *name);
const char *compression_name(enum compression c);
/* How to compress a layer we write: LEVEL 0 is the compressor's default. */
struct compress_spec {
	enum compression comp;
	int level;
	int threads; /* gzip's: 0 = one per core; the bytes never depend on it */
};
/* "gzip", "zstd" or "none", with ":LEVEL" for gzip (1-9) and zstd (1-19). */
int compress_spec_parse(const char *s, struct compress_spec *out, struct perr *err);
/* The OCI layer media type for a compression. */
const char *oci_layer_media_type(enum compression c);

struct platform {
	char *os, *arch, *variant;
};

struct descriptor {
	char *media_type;
	char *digest;
	int64_t size;
	char *ref_name; /* org.opencontainers.image.ref.name */
	struct platform platform;
	bool has_platform;
};

struct index {
	struct descriptor *m;
	size_t n;
};

struct manifest {
	char *media_type;
	struct descriptor config;
	struct descriptor *layers;
	size_t n_layers;
};

struct image_config {
	struct platform platform;
	struct strv entrypoint, cmd, env, exposed_ports, volumes, diff_ids;
	struct strv label_keys, label_values;
	bool has_entrypoint, has_cmd;
	char *user, *workdir, *stop_signal, *created;
	size_t n_history;
};

/* One image of a docker-archive manifest.json. */
struct docker_entry {
	char *config;          /* path inside the archive */
	struct strv repo_tags; /* "name:tag" */
	struct strv layers;    /* paths inside the archive */
};
struct docker_manifest {
	struct docker_entry *e;
	size_t n;
};

/* Parsers. Each checks size and nesting against LIM, types strictly, and
 * names the offending field in its error. */
int parse_index(const char *buf, size_t len, const struct limits *lim, struct index *out,
		struct perr *err);
int parse_manifest(const char *buf, size_t len, const struct limits *lim, struct manifest *out,
		   struct perr *err);
int parse_config(const char *buf, size_t len, const struct limits *lim, struct image_config *out,
		 struct perr *err);
int parse_docker_manifest(const char *buf, size_t len, const struct limits *lim,
			  struct docker_manifest *out, struct perr *err);

void descriptor_free(struct descriptor *d);
void index_free(struct index *i);
void manifest_free(struct manifest *m);
void image_config_free(struct image_config *c);
void docker_manifest_free(struct docker_manifest *m);

/* Serialisers used by the writer. Return malloc'd compact JSON. */
char *manifest_to_json(const struct manifest *m);
/* An OCI index.json holding DESCS. */
char *index_to_json(const struct descriptor *descs, size_t n);
/* A docker-archive manifest.json with one image. */
char *docker_manifest_to_json(const char *config_path, const char *repo_tag,
			      const struct strv *layer_paths);
/* A docker-archive "repositories" file for NAME:TAG pointing at a layer id. */
char *docker_repositories_to_json(const char *repo_tag, const char *top_layer_id);
/* Copy of CONFIG_JSON with rootfs.diff_ids replaced, a history entry
 * appended (when HISTORY_CREATED_BY is set), and "created" set. */
char *config_rewrite(const char *config_json, size_t len, const struct strv *diff_ids,
		     const char *history_created_by, const char *created, struct perr *err);
/* The same with one history entry per new layer, CREATED_BY[i] for layer i. */
char *config_rewrite_layers(const char *config_json, size_t len, const struct strv *diff_ids,
			    const struct strv *created_by, const char *created, struct perr *err);

#endif
