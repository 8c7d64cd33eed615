/* Python's import system, read statically: the search path of each
 * python3.N in the image (as Debian's and the upstream images' sys.path
 * have it), and the FileFinder order in each directory: a package
 * (NAME/__init__.py), an extension module (NAME.*.so), a source module
 * (NAME.py), else a namespace package (a bare NAME/ directory). */
#define _GNU_SOURCE
#include "slimmer/imports.h"

#include <dirent.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>
#include <jansson.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"
#include "image/source.h"
#include "slimmer/apptree.h"
#include "slimmer/jsresolve.h"
#include "slimmer/jsscan.h"
#include "slimmer/scriptscan.h"
#include "slimmer/pkgdb.h"

#define PATH_BUF 4097
#define SOURCE_MAX (8u << 20)

/* sys.path entries for python3.N below each prefix, in Debian's order,
 * then the upstream images' (python:3.N under /usr/local). */
static const char *const path_templates[] = {
	"usr/lib/python3.%s", "usr/lib/python3.%s/lib-dynload", "usr/local/lib/python3.%s/dist-packages",
	"usr/lib/python3/dist-packages", "usr/lib/python3.%s/dist-packages",
	"usr/local/lib/python3.%s", "usr/local/lib/python3.%s/lib-dynload",
	"usr/local/lib/python3.%s/site-packages", "usr/lib/python3.%s/site-packages",
};

static void add_versions(int rootfd, const char *prefix, struct strv *versions)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, prefix, &ignored);
	DIR *d = dfd >= 0 ? opendir_at(dfd, "") : NULL;
	for (struct dirent *de; d && (de = readdir(d));) {
		const char *v = de->d_name + 8;
		if (!strncmp(de->d_name, "python3.", 8) && *v && strspn(v, "0123456789") == strlen(v) &&
		    !strv_has(versions, v))
			strv_push(versions, xstrdup(v));
	}
	if (d)
		closedir(d);
}

/* The modules compiled into an interpreter (sys.builtin_module_names),
 * read from the PyInit_NAME symbols of REL, an ELF file of the image. */
static void add_builtins(struct units_state *st, int rootfd, const char *rel)
{
	struct perr ignored;
	cleanup_close int fd = root_open_file(rootfd, rel, O_RDONLY, &ignored);
	Elf *e = fd >= 0 && elf_version(EV_CURRENT) != EV_NONE ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	for (Elf_Scn *scn = NULL; e && (scn = elf_nextscn(e, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name = gelf_getsym(d, (int)i, &sym) ? elf_strptr(e, sh.sh_link, sym.st_name) : NULL;
			if (name && !strncmp(name, "PyInit_", 7) && sym.st_shndx != SHN_UNDEF)
				strset_add(&st->py_builtins, name + 7);
		}
	}
	if (e)
		elf_end(e);
}

static void find_builtins(struct units_state *st, int rootfd, const char *version)
{
	static const char *const where[] = {
		"usr/bin/python3.%s", "usr/local/bin/python3.%s", "usr/lib/x86_64-linux-gnu/libpython3.%s.so.1.0",
		"usr/lib/aarch64-linux-gnu/libpython3.%s.so.1.0", "usr/local/lib/libpython3.%s.so.1.0",
	};
	for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
		char rel[PATH_BUF], real[PATH_BUF];
		snprintf(rel, sizeof(rel), where[i], version);
		if (keepset_resolve(rootfd, rel, true, real) == 0)
			add_builtins(st, rootfd, real);
	}
}

static void build_path(struct units_state *st, int rootfd)
{
	struct strv versions = { 0 };
	add_versions(rootfd, "usr/lib", &versions);
	add_versions(rootfd, "usr/local/lib", &versions);
	strv_sort(&versions);
	for (size_t v = 0; v < versions.n; v++)
		find_builtins(st, rootfd, versions.v[v]);
	for (size_t v = versions.n; v-- > 0;) /* the newest first */
		for (size_t i = 0; i < ARRAY_SIZE(path_templates); i++) {
			char dir[PATH_BUF], real[PATH_BUF];
			snprintf(dir, sizeof(dir), path_templates[i], versions.v[v]);
			struct stat sb;
			if (keepset_resolve(rootfd, dir, true, real) == 0 &&
			    fstatat(rootfd, *real ? real : ".", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(sb.st_mode) && !strv_has(&st->py_path, real))
				strv_push(&st->py_path, xstrdup(real));
		}
	strv_free(&versions);
	st->py_path_built = true;
}

/* What the resolver asked about the tree, remembered: each import of each
 * scanned source is looked for down every sys.path entry, the same
 * candidates tens of thousands of times at 40,000 files (600,000 fstatat
 * calls on the big fixture), and the tree does not change. KEY is "t" and
 * the path for keepset_is_type(), "x" and DIR/NAME for find_extension(). */
static const char *memo_key(const void *ctx, size_t i)
{
	return ((const struct units_state *)ctx)->memo[i].key;
}

static const struct type_memo *memo_find(const struct units_state *st, const char *key)
{
	size_t at = strindex_find(&st->memo_index, key, memo_key, st);
	return at == SIZE_MAX ? NULL : &st->memo[at];
}

static void memo_put(struct units_state *st, const char *key, mode_t mode, const char *real)
{
	if (st->n_memo == st->memo_cap)
		st->memo = xrealloc(st->memo, (st->memo_cap = 2 * st->memo_cap + 256) * sizeof(*st->memo));
	st->memo[st->n_memo] = (struct type_memo){ xstrdup(key), mode, mode ? xstrdup(real) : NULL };
	st->n_memo++;
	strindex_put(&st->memo_index, st->n_memo - 1, st->n_memo, memo_key, st);
}

/* keepset_is_type(), through the memo. */
static bool is_type(struct units_state *st, int rootfd, const char *path, mode_t type, char *real)
{
	char key[PATH_BUF + 1];
	if ((size_t)snprintf(key, sizeof(key), "t%s", path) >= sizeof(key))
		return keepset_is_type(rootfd, path, type, real);
	const struct type_memo *m = memo_find(st, key);
	if (!m) {
		struct stat sb;
		char got[PATH_BUF];
		bool ok = keepset_resolve(rootfd, path, true, got) == 0 &&
			  fstatat(rootfd, *got ? got : ".", &sb, AT_SYMLINK_NOFOLLOW) == 0;
		memo_put(st, key, ok ? sb.st_mode & S_IFMT : 0, got);
		m = &st->memo[st->n_memo - 1];
	}
	if (m->mode)
		memcpy(real, m->real, strlen(m->real) + 1);
	return m->mode == type;
}

static bool scan_extension(int rootfd, const char *dir, const char *name, char *out);

/* An extension module NAME.*.so (or NAME.so) in DIR, into OUT. */
static bool find_extension(struct units_state *st, int rootfd, const char *dir, const char *name, char *out)
{
	char key[PATH_BUF + 1];
	if ((size_t)snprintf(key, sizeof(key), "x%s/%s", dir, name) >= sizeof(key))
		return scan_extension(rootfd, dir, name, out);
	const struct type_memo *m = memo_find(st, key);
	if (!m) {
		char got[PATH_BUF];
		memo_put(st, key, scan_extension(rootfd, dir, name, got) ? S_IFREG : 0, got);
		m = &st->memo[st->n_memo - 1];
	}
	if (m->mode)
		memcpy(out, m->real, strlen(m->real) + 1);
	return m->mode != 0;
}

static bool scan_extension(int rootfd, const char *dir, const char *name, char *out)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
	DIR *d = dfd >= 0 ? opendir_at(dfd, "") : NULL;
	size_t n = strlen(name);
	bool found = false;
	for (struct dirent *de; d && !found && (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		found = !strncmp(de->d_name, name, n) && de->d_name[n] == '.' && len > n + 3 &&
			!strcmp(de->d_name + len - 3, ".so") && !memchr(de->d_name + n + 1, '/', len - n - 1);
		if (found)
			snprintf(out, PATH_BUF, "%s%s%s", dir, *dir ? "/" : "", de->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

enum found { NONE, PACKAGE, MODULE, NAMESPACE };

/* DIR/NAME SUFFIX into OUT (PATH_BUF); false when too long. */
static bool join(char *out, const char *dir, const char *name, const char *suffix)
{
	return (size_t)snprintf(out, PATH_BUF, "%s%s%s%s", dir, *dir ? "/" : "", name, suffix) < PATH_BUF;
}

/* NAME in directory DIR: *OUT is the package directory or the module file
 * (physical). */
static enum found find_in(struct units_state *st, int rootfd, const char *dir, const char *name, char *out)
{
	char p[PATH_BUF], init[PATH_BUF], real[PATH_BUF];
	if (!join(p, dir, name, "") || !join(init, dir, name, "/__init__.py"))
		return NONE;
	bool is_dir = is_type(st, rootfd, p, S_IFDIR, out);
	if (is_dir && is_type(st, rootfd, init, S_IFREG, real))
		return PACKAGE;
	if (find_extension(st, rootfd, dir, name, p) && is_type(st, rootfd, p, S_IFREG, real)) {
		memcpy(out, real, PATH_BUF);
		return MODULE;
	}
	if (join(p, dir, name, ".py") && is_type(st, rootfd, p, S_IFREG, real)) {
		memcpy(out, real, PATH_BUF);
		return MODULE;
	}
	return is_dir ? NAMESPACE : NONE;
}

/* Walk PARTS (a dotted name) down from DIR, adding what loads to OUT; with
 * NAMES, each that is a submodule of the last package too. False when the
 * first part is not in DIR. */
static bool walk(struct units_state *st, int rootfd, const char *dir, char *dotted, const struct strv *names,
		 struct strv *out)
{
	char cur[PATH_BUF], found[PATH_BUF];
	snprintf(cur, sizeof(cur), "%s", dir);
	enum found f = PACKAGE;
	bool first = true;
	for (char *save = NULL, *part = strtok_r(dotted, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		if (f == MODULE) /* "a.b" where a is a module: nothing more loads */
			return true;
		f = find_in(st, rootfd, cur, part, found);
		if (f == NONE)
			return !first;
		first = false;
		if (f == PACKAGE)
			strv_push(out, xasprintf("%s/__init__.py", found));
		else if (f == MODULE)
			strv_push(out, xstrdup(found));
		snprintf(cur, sizeof(cur), "%s", found);
	}
	for (size_t i = 0; names && f != MODULE && i < names->n; i++) {
		enum found g = find_in(st, rootfd, cur, names->v[i], found);
		if (g == PACKAGE)
			strv_push(out, xasprintf("%s/__init__.py", found));
		else if (g == MODULE)
			strv_push(out, xstrdup(found));
	}
	return true;
}

bool imports_resolve(struct units_state *st, int rootfd, const char *file, bool app,
		     const struct py_import *im, struct strv *out)
{
	if (!st->py_path_built)
		build_path(st, rootfd);
	char base[PATH_BUF];
	snprintf(base, sizeof(base), "%s", file);
	cut_to_parent(base);
	if (im->level) { /* relative: from the importer's package, up LEVEL-1 */
		for (unsigned i = 1; i < im->level; i++)
			cut_to_parent(base);
		cleanup_free char *m = xstrdup(im->module);
		return walk(st, rootfd, base, m, &im->names, out);
	}
	/* sys.path[0] of an application: its own directories, nearest first */
	for (; app && *base && !app_dir_is_distributions(st, base); cut_to_parent(base)) {
		cleanup_free char *m = xstrdup(im->module);
		if (walk(st, rootfd, base, m, &im->names, out))
			return true;
	}
	for (size_t i = 0; i < st->py_path.n; i++) {
		cleanup_free char *m = xstrdup(im->module);
		if (walk(st, rootfd, st->py_path.v[i], m, &im->names, out))
			return true;
	}
	return false;
}

/* REL's text, NUL-terminated (the line scanners' string calls stop there). */
static int read_source(int rootfd, const char *rel, char **text, size_t *len, struct perr *err)
{
	if (read_file_beneath(rootfd, rel, SOURCE_MAX, text, len, err) < 0)
		return -1;
	*text = xrealloc(*text, *len + 1);
	(*text)[*len] = 0;
	return 0;
}

enum lang { NOT_SOURCE, PYTHON, JAVASCRIPT, RUBY, PERL };

static enum lang lang_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return NOT_SOURCE;
	static const struct { const char *suffix; enum lang lang; } by_suffix[] = {
		{ ".py", PYTHON }, { ".js", JAVASCRIPT }, { ".mjs", JAVASCRIPT }, { ".cjs", JAVASCRIPT },
		{ ".rb", RUBY },   { ".pl", PERL },       { ".pm", PERL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(by_suffix); i++)
		if (!strcmp(dot, by_suffix[i].suffix))
			return by_suffix[i].lang;
	return NOT_SOURCE;
}

/* What one source file loads (FOUND), and the lines of computed names. */
struct loads {
	struct strv found;
	unsigned *computed;
	size_t n_computed;
	const char *how;   /* how a computed name is written, for the warning */
};

/* Whether absolute IM names a module compiled into the interpreter. */
static bool builtin(const struct units_state *st, const struct py_import *im)
{
	char first[256];
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(im->module, "."), im->module);
	return !im->level && strset_has(&st->py_builtins, first);
}

/* An application file contributes every import. A library module what
 * importing it runs: not its functions' imports, and not the fallbacks in
 * an except clause when every import of that try body resolves (decimal's
 * "except ImportError: from _pydecimal import *" runs only without
 * _decimal). */
static void python_loads(struct units_state *st, int rootfd, const char *path, bool app,
			 const char *text, size_t len, struct loads *l)
{
	struct py_scan scan;
	py_scan(text, len, &scan);
	unsigned max_try = 0;
	for (size_t i = 0; i < scan.n; i++) {
		const struct py_import *im = &scan.v[i];
		max_try = im->try_of > max_try ? im->try_of : max_try;
		max_try = im->except_of > max_try ? im->except_of : max_try;
	}
	cleanup_free bool *failed = xcalloc(max_try + 1, sizeof(*failed)); /* by try number */
	for (size_t i = 0; i < scan.n; i++) { /* all but the fallbacks, noting failed try bodies */
		const struct py_import *im = &scan.v[i];
		if (im->except_of || (!app && im->in_function))
			continue;
		bool found = imports_resolve(st, rootfd, path, app, im, &l->found);
		if (im->try_of && !found && !builtin(st, im))
			failed[im->try_of] = true;
	}
	for (size_t i = 0; i < scan.n; i++) { /* the fallbacks of the try bodies that failed */
		const struct py_import *im = &scan.v[i];
		if (im->except_of && (app || (!im->in_function && failed[im->except_of])))
			imports_resolve(st, rootfd, path, app, im, &l->found);
	}
	l->computed = scan.computed, l->n_computed = scan.n_computed;
	scan.computed = NULL, scan.n_computed = 0;
	l->how = "importlib.import_module or __import__";
	py_scan_free(&scan);
}

/* A library module contributes the references outside braces (what runs
 * when it loads, as far as a scanner can tell), an application file all. */
static void js_loads(int rootfd, const char *path, bool app, const char *text, size_t len, struct loads *l)
{
	struct js_scan scan;
	js_scan(text, len, &scan);
	for (size_t i = 0; i < scan.n; i++)
		if (app || !scan.v[i].nested)
			js_resolve(rootfd, path, scan.v[i].spec, &l->found);
	l->computed = scan.computed, l->n_computed = scan.n_computed;
	scan.computed = NULL, scan.n_computed = 0;
	l->how = "require or import()";
	js_scan_free(&scan);
}

/* Ruby and Perl: what a line scanner finds; a library file contributes
 * its unindented references. */
static void script_loads(int rootfd, const char *path, bool app, enum lang lang, const char *text, size_t len,
			 struct loads *l)
{
	struct script_scan scan;
	(lang == RUBY ? rb_scan : pl_scan)(text, len, &scan);
	for (size_t i = 0; i < scan.n; i++)
		if (app || !scan.v[i].nested)
			(lang == RUBY ? rb_resolve : pl_resolve)(rootfd, path, &scan.v[i], &l->found);
	script_scan_free(&scan);
}

static size_t imports_expand(const struct rules *r, struct keepset *k, struct units_state *st,
			     int rootfd, const char *path, enum lang lang)
{
	cleanup_free char *text = NULL;
	size_t len;
	struct perr err;
	if (read_source(rootfd, path, &text, &len, &err) < 0)
		return 0; /* not a regular file, or too big to be source */
	bool app = st->n_pkgs && pkgdb_owner(st, path) == SIZE_MAX && app_file(st, path);
	struct loads l = { 0 };
	if (lang == PYTHON)
		python_loads(st, rootfd, path, app, text, len, &l);
	else if (lang == JAVASCRIPT)
		js_loads(rootfd, path, app, text, len, &l);
	else
		script_loads(rootfd, path, app, lang, text, len, &l);
	size_t added = 0;
	for (size_t i = 0; i < l.found.n; i++) {
		cleanup_free char *abs = xasprintf("/%s", l.found.v[i]);
		if (!rules_excluded(r, abs))
			added += keepset_add_rule(k, abs, KEEP_IMPORT, path, NULL, NULL);
	}
	for (size_t i = 0; app && i < l.n_computed; i++)
		keepset_warn(k, "/%s:%u: a module loaded by a computed name (%s) is not followed; --keep what it loads",
			     path, l.computed[i], l.how);
	strv_free(&l.found);
	free(l.computed);
	return added;
}

/* Whose imports are followed: what ran (traced, the command), what was
 * imported, and the application's files. Files kept only because a unit,
 * a package or a profile's glob holds them are not: that would follow
 * every import of every module of a package kept whole. */
static bool followed(const struct keep_entry *e)
{
	for (size_t i = 0; i < e->nr; i++)
		switch (e->r[i].why) {
		case KEEP_TRACED: case KEEP_COMMAND: case KEEP_IMPORT: case KEEP_APP: return true;
		default: break;
		}
	return false;
}

size_t imports_close(const struct rules *r, struct keepset *k, struct units_state *st, int rootfd)
{
	size_t added = 0;
	if (r->no_imports)
		return 0;
	for (size_t i = 0; i < k->n; i++) { /* grows while we walk */
		const struct keep_entry *e = &k->e[i];
		enum lang lang = e->type == 'f' ? lang_of(e->path) : NOT_SOURCE;
		if (!lang || strset_has(&st->sources_scanned, e->path) || !followed(e))
			continue;
		cleanup_free char *path = xstrdup(e->path);
		strset_add(&st->sources_scanned, path);
		added += imports_expand(r, k, st, rootfd, path, lang);
	}
	return added;
}

static json_t *import_json(const struct py_import *im, const struct strv *loads)
{
	json_t *names = json_array(), *l = json_array();
	for (size_t i = 0; i < im->names.n; i++)
		json_array_append_new(names, json_string(im->names.v[i]));
	for (size_t i = 0; i < loads->n; i++)
		json_array_append_new(l, json_sprintf("/%s", loads->v[i]));
	return json_pack("{s:s,s:i,s:o,s:b,s:b,s:i,s:o}", "module", im->module, "level", (int)im->level,
			 "names", names, "in_function", im->in_function, "call", im->call, "line",
			 (int)im->line, "loads", l);
}

static void python_explain(struct units_state *st, int rootfd, const char *real, bool app, const char *text,
			   size_t len, json_t *imports, json_t *computed)
{
	struct py_scan scan;
	py_scan(text, len, &scan);
	for (size_t i = 0; i < scan.n; i++) {
		struct strv found = { 0 };
		imports_resolve(st, rootfd, real, app, &scan.v[i], &found);
		json_array_append_new(imports, import_json(&scan.v[i], &found));
		strv_free(&found);
	}
	for (size_t i = 0; i < scan.n_computed; i++)
		json_array_append_new(computed, json_integer(scan.computed[i]));
	py_scan_free(&scan);
}

static void js_explain(int rootfd, const char *real, const char *text, size_t len, json_t *imports,
		       json_t *computed)
{
	struct js_scan scan;
	js_scan(text, len, &scan);
	for (size_t i = 0; i < scan.n; i++) {
		struct strv found = { 0 };
		js_resolve(rootfd, real, scan.v[i].spec, &found);
		struct py_import as = { .module = scan.v[i].spec, .in_function = scan.v[i].nested, .line = scan.v[i].line };
		json_array_append_new(imports, import_json(&as, &found));
		strv_free(&found);
	}
	for (size_t i = 0; i < scan.n_computed; i++)
		json_array_append_new(computed, json_integer(scan.computed[i]));
	js_scan_free(&scan);
}

static void script_explain(int rootfd, const char *real, enum lang lang, const char *text, size_t len,
			   json_t *imports)
{
	struct script_scan scan;
	(lang == RUBY ? rb_scan : pl_scan)(text, len, &scan);
	for (size_t i = 0; i < scan.n; i++) {
		struct strv found = { 0 };
		(lang == RUBY ? rb_resolve : pl_resolve)(rootfd, real, &scan.v[i], &found);
		struct py_import as = { .module = scan.v[i].name, .in_function = scan.v[i].nested, .line = scan.v[i].line };
		json_array_append_new(imports, import_json(&as, &found));
		strv_free(&found);
	}
	script_scan_free(&scan);
}

int imports_explain(struct units_state *st, int rootfd, const char *path, json_t **out, struct perr *err)
{
	char real[PATH_BUF];
	if (keepset_resolve(rootfd, path, true, real) < 0)
		return perr_set(err, 0, "%s: not in the image", path);
	enum lang lang = lang_of(real);
	if (!lang)
		return perr_set(err, 0, "%s: not Python, JavaScript, Ruby or Perl source (.py, .js, .mjs, .cjs, .rb, .pl, .pm)", path);
	cleanup_free char *text = NULL;
	size_t len;
	if (read_source(rootfd, real, &text, &len, err) < 0)
		return perr_wrap(err, "%s", path);
	bool app = st->n_pkgs && pkgdb_owner(st, real) == SIZE_MAX && app_file(st, real);
	json_t *imports = json_array(), *computed = json_array();
	if (lang == PYTHON)
		python_explain(st, rootfd, real, app, text, len, imports, computed);
	else if (lang == JAVASCRIPT)
		js_explain(rootfd, real, text, len, imports, computed);
	else
		script_explain(rootfd, real, lang, text, len, imports);
	*out = json_pack("{s:s,s:o,s:b,s:o,s:o}", "path", path, "file", json_sprintf("/%s", real),
			 "application", app, "imports", imports, "computed", computed);
	return 0;
}
