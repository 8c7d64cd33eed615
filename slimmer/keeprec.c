/* Keep records (keeprec.h): made from a closed keep-set, written as JSON,
 * read back into typed structs with every field checked. */
#define _GNU_SOURCE
#include "slimmer/keeprec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/resolve.h"
#include "image/layer_write.h"

void keep_record_args_digest(char *const *argv, size_t argc, char out[DIGEST_STR_LEN + 1])
{
	struct sha256 h;
	sha256_init(&h);
	for (size_t i = 0; i < argc; i++)
		sha256_update(&h, argv[i], strlen(argv[i]) + 1); /* NUL-separated: no two lists alike */
	sha256_final(&h, out);
}

/* The xattrs a layer would carry (as layer_write.c reads them: through
 * the file opened, never followed), hashed; "" for none. */
static void hash_xattrs(int fd, char out[DIGEST_STR_LEN + 1])
{
	char names[4096], value[4096];
	out[0] = 0;
	ssize_t n = flistxattr(fd, names, sizeof(names));
	struct sha256 h;
	bool any = false;
	sha256_init(&h);
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *name = names + off;
		ssize_t vn = layer_keeps_xattr(name) ? fgetxattr(fd, name, value, sizeof(value)) : -1;
		if (vn < 0)
			continue;
		sha256_update(&h, name, strlen(name) + 1);
		sha256_update(&h, value, (size_t)vn);
		any = true;
	}
	if (any)
		sha256_final(&h, out);
	else
		sha256_free(&h);
}

/* A file's bytes and a file's or directory's xattrs, from one open (never
 * followed). A directory that does not open has no xattrs to tell. */
static int read_contents(int pfd, const char *base, const char *path, bool dir, struct kr_entry *e,
			 struct perr *err)
{
	cleanup_close int fd =
		openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	if (fd < 0)
		return dir ? 0 : perr_set(err, errno, "cannot open '/%s'", path);
	if (!dir && sha256_copy_fd(fd, -1, e->digest) < 0)
		return perr_set(err, errno, "cannot read '/%s'", path);
	hash_xattrs(fd, e->xattrs);
	return 0;
}

static int one_entry(int rootfd, const char *path, struct kr_entry *e, struct perr *err)
{
	char parent[4097];
	const char *base = *path ? split_parent(path, parent, sizeof(parent)) : ".";
	cleanup_close int pfd = *path ? root_open_dir(rootfd, parent, err) : dup(rootfd);
	struct stat st;
	if (pfd < 0)
		return -1;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
		return perr_set(err, errno, "cannot stat '/%s'", path);
	*e = (struct kr_entry){ .path = xstrdup(path), .type = mode_type(st.st_mode), .mode = st.st_mode,
				.uid = st.st_uid, .gid = st.st_gid, .mtime = st.st_mtime,
				.rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? st.st_rdev : 0,
				.size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0 };
	if (S_ISLNK(st.st_mode)) {
		char target[4097];
		ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
		if (n < 0)
			return perr_set(err, errno, "cannot read symlink '/%s'", path);
		target[n] = 0;
		e->target = xstrdup(target);
	}
	if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) &&
	    read_contents(pfd, base, path, S_ISDIR(st.st_mode), e, err) < 0)
		return -1;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct kr_entry *)a)->path, ((const struct kr_entry *)b)->path);
}

int keep_record_entries(int rootfd, const struct strv *paths, struct keep_record *kr, struct perr *err)
{
	kr->e = xcalloc(paths->n + 1, sizeof(*kr->e));
	kr->n = 0;
	if (one_entry(rootfd, "", &kr->e[kr->n++], err) < 0)
		return -1;
	for (size_t i = 0; i < paths->n; i++) {
		if (!*paths->v[i] || (i && !strcmp(paths->v[i], paths->v[i - 1])))
			continue;
		int r = one_entry(rootfd, paths->v[i], &kr->e[kr->n], err);
		kr->n++; /* freed with the record, half made or not */
		if (r < 0)
			return -1;
	}
	qsort(kr->e, kr->n, sizeof(*kr->e), by_path);
	return 0;
}

void keep_record_probes(struct keep_record *kr, const struct probe_result *pr, size_t n)
{
	kr->probes = xcalloc(n ? n : 1, sizeof(*kr->probes));
	kr->n_probes = n;
	for (size_t i = 0; i < n; i++) {
		kr->probes[i] = (struct kr_probe){ .code = pr[i].code, .ok = pr[i].ok, .noise = pr[i].noise };
		snprintf(kr->probes[i].digest, sizeof(kr->probes[i].digest), "%s", pr[i].digest);
	}
}

/* ---- JSON ---- */

static json_t *entry_json(const struct kr_entry *e)
{
	json_t *j = json_pack("{s:s,s:s%,s:I,s:I,s:I,s:I}", "path", e->path, "type", &e->type, (size_t)1,
			      "mode", (json_int_t)e->mode, "uid", (json_int_t)e->uid, "gid", (json_int_t)e->gid,
			      "mtime", (json_int_t)e->mtime);
	if (e->type == 'f') {
		json_object_set_new(j, "size", json_integer((json_int_t)e->size));
		json_object_set_new(j, "digest", json_string(e->digest));
	}
	if (e->target)
		json_object_set_new(j, "target", json_string(e->target));
	if (e->rdev)
		json_object_set_new(j, "rdev", json_integer((json_int_t)e->rdev));
	if (*e->xattrs)
		json_object_set_new(j, "xattrs", json_string(e->xattrs));
	return j;
}

int keep_record_write(const struct keep_record *kr, const char *path, struct perr *err)
{
	json_t *entries = json_array(), *probes = json_array(), *layers = json_array();
	for (size_t i = 0; i < kr->n; i++)
		json_array_append_new(entries, entry_json(&kr->e[i]));
	for (size_t i = 0; i < kr->n_probes; i++) {
		const struct kr_probe *p = &kr->probes[i];
		json_array_append_new(probes, json_pack("{s:i,s:b,s:b,s:s}", "code", p->code, "ok", p->ok,
							"noise", p->noise, "digest", p->digest));
	}
	for (size_t i = 0; i < kr->n_layers; i++)
		json_array_append_new(layers, json_pack("{s:s,s:I}", "digest", kr->layers[i].digest, "size",
							(json_int_t)kr->layers[i].size));
	json_t *j = json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:I,s:I,s:o},s:o,s:o}", "version", KEEP_RECORD_VERSION,
			      "name", kr->name, "args", kr->args_digest, "source", "ref", kr->source_ref,
			      "config", kr->source_config, "files", (json_int_t)kr->source_files, "bytes",
			      (json_int_t)kr->source_bytes, "layers", layers, "probes", probes, "entries", entries);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return perr_set(err, 0, "cannot encode the keep record of '%s'", kr->name);
	int r = write_file_atomic(path, text, err);
	free(text);
	return r;
}

/* A field's error: the file, the entry, the key. */
static int bad(struct perr *err, const char *file, const char *what, size_t i, const char *key)
{
	if (i == SIZE_MAX)
		return perr_set(err, 0, "%s: not a keep record: \"%s\" is missing or wrong", file, key);
	return perr_set(err, 0, "%s: %s %zu: \"%s\" is missing or wrong", file, what, i + 1, key);
}

static bool get_u64(json_t *o, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static bool get_digest(json_t *o, const char *key, char out[DIGEST_STR_LEN + 1])
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s || !digest_valid(s))
		return false;
	memcpy(out, s, DIGEST_STR_LEN + 1);
	return true;
}

static int read_entry(json_t *o, struct kr_entry *e, const char *file, size_t i, struct perr *err)
{
	const char *path = json_string_value(json_object_get(o, "path"));
	const char *type = json_string_value(json_object_get(o, "type"));
	uint64_t mode, uid, gid, size = 0, rdev = 0;
	json_t *mt = json_object_get(o, "mtime");
	char clean[4097];
	struct perr ignored;
	if (!path || (*path && (clean_entry_path(path, clean, sizeof(clean), &ignored) < 0 || strcmp(clean, path))))
		return bad(err, file, "entry", i, "path");
	e->path = xstrdup(path);
	if (!type || strlen(type) != 1 || !strchr("fdlo", type[0]))
		return bad(err, file, "entry", i, "type");
	e->type = type[0];
	if (!get_u64(o, "mode", 0177777, &mode) || mode_type((mode_t)mode) != e->type)
		return bad(err, file, "entry", i, "mode");
	if (!get_u64(o, "uid", UINT32_MAX, &uid) || !get_u64(o, "gid", UINT32_MAX, &gid))
		return bad(err, file, "entry", i, "uid");
	if (!json_is_integer(mt))
		return bad(err, file, "entry", i, "mtime");
	if (e->type == 'f' && (!get_u64(o, "size", INT64_MAX, &size) || !get_digest(o, "digest", e->digest)))
		return bad(err, file, "entry", i, "digest");
	if (json_object_get(o, "rdev") && !get_u64(o, "rdev", UINT64_MAX, &rdev))
		return bad(err, file, "entry", i, "rdev");
	if (json_object_get(o, "xattrs") && !get_digest(o, "xattrs", e->xattrs))
		return bad(err, file, "entry", i, "xattrs");
	const char *target = json_string_value(json_object_get(o, "target"));
	if ((e->type == 'l') != (target != NULL) || (target && (!*target || strlen(target) > 4096)))
		return bad(err, file, "entry", i, "target");
	e->target = target ? xstrdup(target) : NULL;
	e->mode = (uint32_t)mode;
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->size = size;
	e->rdev = rdev;
	e->mtime = (int64_t)json_integer_value(mt);
	return 0;
}

static int read_probes(json_t *a, struct keep_record *kr, const char *file, struct perr *err)
{
	kr->n_probes = json_array_size(a);
	kr->probes = xcalloc(kr->n_probes + 1, sizeof(*kr->probes));
	for (size_t i = 0; i < kr->n_probes; i++) {
		json_t *o = json_array_get(a, i), *code = json_object_get(o, "code");
		struct kr_probe *p = &kr->probes[i];
		if (!json_is_integer(code) || !json_is_boolean(json_object_get(o, "ok")) ||
		    !json_is_boolean(json_object_get(o, "noise")) || !get_digest(o, "digest", p->digest))
			return bad(err, file, "probe", i, "code, ok, noise and digest");
		p->code = (int)json_integer_value(code);
		p->ok = json_is_true(json_object_get(o, "ok"));
		p->noise = json_is_true(json_object_get(o, "noise"));
	}
	return 0;
}

static int read_source(json_t *src, struct keep_record *kr, const char *file, struct perr *err)
{
	const char *ref = json_string_value(json_object_get(src, "ref"));
	json_t *layers = json_object_get(src, "layers");
	if (!ref || !get_digest(src, "config", kr->source_config) ||
	    !get_u64(src, "files", UINT64_MAX, &kr->source_files) ||
	    !get_u64(src, "bytes", UINT64_MAX, &kr->source_bytes) || !json_is_array(layers))
		return bad(err, file, "", SIZE_MAX, "source");
	kr->source_ref = xstrdup(ref);
	kr->n_layers = json_array_size(layers);
	kr->layers = xcalloc(kr->n_layers + 1, sizeof(*kr->layers));
	for (size_t i = 0; i < kr->n_layers; i++) {
		json_t *o = json_array_get(layers, i);
		uint64_t size;
		if (!get_digest(o, "digest", kr->layers[i].digest) || !get_u64(o, "size", INT64_MAX, &size))
			return bad(err, file, "source layer", i, "digest");
		kr->layers[i].size = (int64_t)size;
	}
	return 0;
}

static int read_record(json_t *j, struct keep_record *kr, const char *file, struct perr *err)
{
	json_t *v = json_object_get(j, "version"), *entries = json_object_get(j, "entries");
	const char *name = json_string_value(json_object_get(j, "name"));
	if (!json_is_integer(v) || json_integer_value(v) != KEEP_RECORD_VERSION)
		return perr_set(err, 0, "%s: not a keep record of this pare (version %d expected)", file,
				KEEP_RECORD_VERSION);
	if (!name)
		return bad(err, file, "", SIZE_MAX, "name");
	kr->name = xstrdup(name);
	if (!get_digest(j, "args", kr->args_digest))
		return bad(err, file, "", SIZE_MAX, "args");
	if (read_source(json_object_get(j, "source"), kr, file, err) < 0 ||
	    read_probes(json_object_get(j, "probes"), kr, file, err) < 0)
		return -1;
	if (!json_is_array(entries))
		return bad(err, file, "", SIZE_MAX, "entries");
	kr->n = json_array_size(entries);
	kr->e = xcalloc(kr->n + 1, sizeof(*kr->e));
	for (size_t i = 0; i < kr->n; i++) {
		if (read_entry(json_array_get(entries, i), &kr->e[i], file, i, err) < 0)
			return -1;
		if (i ? strcmp(kr->e[i - 1].path, kr->e[i].path) >= 0 : *kr->e[i].path)
			return perr_set(err, 0, "%s: entry %zu: entries must start at the root and be sorted by path, once each",
					file, i + 1);
	}
	if (!kr->n || kr->e[0].type != 'd')
		return perr_set(err, 0, "%s: the root is not a directory", file);
	return 0;
}

int keep_record_read(const char *path, struct keep_record *kr, struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	memset(kr, 0, sizeof(*kr));
	if (read_side_file(path, KEEP_RECORD_MAX, &text, &len, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return perr_set(err, 0, "%s: not a keep record: %s (line %d)", path, jerr.text, jerr.line);
	}
	int r = read_record(j, kr, path, err);
	json_decref(j);
	return r;
}

const struct kr_entry *keep_record_find(const struct keep_record *kr, const char *path)
{
	struct kr_entry key = { .path = (char *)path };
	return bsearch(&key, kr->e, kr->n, sizeof(*kr->e), by_path);
}

void keep_record_free(struct keep_record *kr)
{
	for (size_t i = 0; i < kr->n; i++) {
		free(kr->e[i].path);
		free(kr->e[i].target);
	}
	free(kr->e);
	free(kr->probes);
	free(kr->layers);
	free(kr->name);
	free(kr->source_ref);
	memset(kr, 0, sizeof(*kr));
}
