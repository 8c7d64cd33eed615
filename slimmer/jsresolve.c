/* require.resolve as Node documents it (LOAD_AS_FILE, LOAD_AS_DIRECTORY,
 * LOAD_NODE_MODULES with package.json "exports" and "main"), then the
 * global folders Debian's node searches (/usr/share/nodejs,
 * /usr/lib/nodejs, /usr/lib/ARCH/nodejs) and /usr/local/lib/node_modules. */
#define _GNU_SOURCE
#include "slimmer/jsresolve.h"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"
#include "image/source.h"
#include "slimmer/keepset.h"

#define PATH_BUF 4097
#define PACKAGE_JSON_MAX (1u << 20)

static const char *const file_suffixes[] = { "", ".js", ".json", ".node", ".mjs", ".cjs" };
static const char *const index_files[] = { "index.js", "index.json", "index.node" };
static const char *const global_dirs[] = { "usr/share/nodejs", "usr/lib/nodejs", "usr/lib/x86_64-linux-gnu/nodejs",
					   "usr/lib/aarch64-linux-gnu/nodejs", "usr/local/lib/node_modules" };
/* "exports" conditions Node's require() matches, in its order. */
static const char *const conditions[] = { "require", "node", "default" };

static bool load_as_file(int rootfd, const char *x, struct strv *out)
{
	char p[PATH_BUF + 8], real[PATH_BUF];
	for (size_t i = 0; i < ARRAY_SIZE(file_suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", x, file_suffixes[i]);
		if (keepset_is_type(rootfd, p, S_IFREG, real)) {
			strv_push(out, xstrdup(real));
			return true;
		}
	}
	return false;
}

static json_t *package_json(int rootfd, const char *dir, struct strv *out)
{
	char p[PATH_BUF + 16], real[PATH_BUF];
	snprintf(p, sizeof(p), "%s/package.json", dir);
	if (!keepset_is_type(rootfd, p, S_IFREG, real))
		return NULL;
	cleanup_free char *text = NULL;
	size_t len;
	struct perr err;
	if (read_file_beneath(rootfd, real, PACKAGE_JSON_MAX, &text, &len, &err) < 0)
		return NULL;
	strv_push(out, xstrdup(real));
	return json_loadb(text, len, 0, NULL);
}

/* An "exports" target: a string, or an object of conditions. */
static const char *export_target(const json_t *t)
{
	if (json_is_string(t))
		return json_string_value(t);
	for (size_t i = 0; json_is_object(t) && i < ARRAY_SIZE(conditions); i++) {
		const char *s = export_target(json_object_get(t, conditions[i]));
		if (s)
			return s;
	}
	return NULL;
}

static bool load_relative(int rootfd, const char *dir, const char *rel, struct strv *out);

static bool load_as_directory(int rootfd, const char *x, struct strv *out)
{
	json_t *pj = package_json(rootfd, x, out);
	const char *main = pj ? json_string_value(json_object_get(pj, "main")) : NULL;
	bool found = main && load_relative(rootfd, x, main, out);
	json_decref(pj);
	char p[PATH_BUF + 16], real[PATH_BUF];
	for (size_t i = 0; !found && i < ARRAY_SIZE(index_files); i++) {
		snprintf(p, sizeof(p), "%s/%s", x, index_files[i]);
		if ((found = keepset_is_type(rootfd, p, S_IFREG, real)))
			strv_push(out, xstrdup(real));
	}
	return found;
}

/* DIR joined with REL ("./x", "../x", "x"), cleaned, then as a file or a directory. */
static bool load_relative(int rootfd, const char *dir, const char *rel, struct strv *out)
{
	char joined[PATH_BUF * 2], clean[PATH_BUF];
	struct perr ignored;
	snprintf(joined, sizeof(joined), "%s/%s", rel[0] == '/' ? "" : dir, rel);
	if (clean_in_root_path(joined, clean, sizeof(clean) - 1, &ignored) < 0)
		return false;
	return load_as_file(rootfd, clean, out) || load_as_directory(rootfd, clean, out);
}

/* The package at PKG (a directory), and SUB inside it ("" for the package). */
static bool load_package(int rootfd, const char *pkg, const char *sub, struct strv *out)
{
	json_t *pj = package_json(rootfd, pkg, out);
	json_t *exports = pj ? json_object_get(pj, "exports") : NULL;
	bool found = false;
	if (exports) {
		cleanup_free char *key = xasprintf(*sub ? "./%s" : ".", sub);
		const json_t *t = json_is_object(exports) && json_object_get(exports, ".") ? json_object_get(exports, key)
				  : !*sub ? exports : NULL;
		const char *target = t ? export_target(t) : NULL;
		found = target && load_relative(rootfd, pkg, target, out);
	}
	json_decref(pj);
	if (found)
		return true;
	if (*sub)
		return load_relative(rootfd, pkg, sub, out);
	return load_as_directory(rootfd, pkg, out);
}

static bool load_from_dir(int rootfd, const char *dir, const char *name, const char *sub, struct strv *out)
{
	char pkg[PATH_BUF * 2], real[PATH_BUF];
	snprintf(pkg, sizeof(pkg), "%s%s%s", dir, *dir ? "/" : "", name);
	return keepset_is_type(rootfd, pkg, S_IFDIR, real) && load_package(rootfd, real, sub, out);
}

void js_resolve(int rootfd, const char *file, const char *spec, struct strv *out)
{
	char dir[PATH_BUF];
	snprintf(dir, sizeof(dir), "%s", file);
	cut_to_parent(dir);
	if (!strncmp(spec, "node:", 5) || !*spec)
		return;
	if (spec[0] == '.' || spec[0] == '/') {
		load_relative(rootfd, dir, spec, out);
		return;
	}
	/* NAME is "pkg" or "@scope/pkg"; SUB the rest */
	const char *end = strchr(spec, '/');
	if (spec[0] == '@' && end)
		end = strchr(end + 1, '/');
	cleanup_free char *name = end ? xasprintf("%.*s", (int)(end - spec), spec) : xstrdup(spec);
	const char *sub = end ? end + 1 : "";
	for (;;) {
		cleanup_free char *nm = xasprintf("%s%snode_modules", dir, *dir ? "/" : "");
		size_t n = strlen(dir);
		bool in_node_modules = n >= 12 && !strcmp(dir + n - 12, "node_modules");
		if (!in_node_modules && load_from_dir(rootfd, nm, name, sub, out))
			return;
		if (!*dir)
			break;
		cut_to_parent(dir);
	}
	for (size_t i = 0; i < ARRAY_SIZE(global_dirs); i++)
		if (load_from_dir(rootfd, global_dirs[i], name, sub, out))
			return;
}
