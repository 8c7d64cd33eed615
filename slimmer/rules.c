#define _GNU_SOURCE
#include "slimmer/rules.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "slimmer/glob.h"
#include "base/resolve.h"
#include "image/source.h"

#define PATH_BUF 4097
#define DB_MAX_BYTES (64u << 20) /* one .list or RECORD file */

/* What a Debian package unit leaves out unless "debian-docs" is asked. */
static const char *const debian_docs[] = {
	"/usr/share/doc/**", "/usr/share/man/**", "/usr/share/info/**",
	"/usr/share/lintian/**", "/usr/share/doc-base/**",
};

struct owned {
	char *path;   /* physical, relative to the root */
	size_t pkg;
};

struct pkg {
	char *name;
	const char *kind; /* "debian" or "python" */
	size_t first, n;  /* its range in owned[] */
	bool pulled;
};

void rules_init(struct rules *r)
{
	memset(r, 0, sizeof(*r));
}

static void list_free(struct rule_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].pattern);
		free(l->v[i].profile);
	}
	free(l->v);
}

void rules_free(struct rules *r)
{
	list_free(&r->keep);
	list_free(&r->exclude);
	list_free(&r->units);
	for (int i = 0; i < UNIT__COUNT; i++)
		free(r->kinds[i].profile);
	memset(r, 0, sizeof(*r));
}

void rules_add(struct rule_list *list, const char *pattern, const char *profile)
{
	list->v = xrealloc(list->v, (list->n + 1) * sizeof(*list->v));
	list->v[list->n++] = (struct rule){ xstrdup(pattern), profile ? xstrdup(profile) : NULL };
}

void rules_add_kind(struct rules *r, enum unit_kind kind, const char *profile)
{
	if (!r->kinds[kind].on)
		r->kinds[kind] = (struct kind_rule){ true, profile ? xstrdup(profile) : NULL };
}

void rules_add_profiles(struct rules *r, const struct profile_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct profile *p = &set->p[i];
		for (size_t j = 0; j < p->keep.n; j++)
			rules_add(&r->keep, p->keep.v[j], p->name);
		for (size_t j = 0; j < p->exclude.n; j++)
			rules_add(&r->exclude, p->exclude.v[j], p->name);
		for (size_t j = 0; j < p->units.n; j++) {
			int kind = unit_kind_parse(p->units.v[j]);
			if (kind >= 0)
				rules_add_kind(r, (enum unit_kind)kind, p->name);
			else
				rules_add(&r->units, p->units.v[j], p->name);
		}
	}
}

const struct rule *rules_excluded(const struct rules *r, const char *path)
{
	for (size_t i = 0; i < r->exclude.n; i++)
		if (glob_match(r->exclude.v[i].pattern, path))
			return &r->exclude.v[i];
	return NULL;
}

struct seed_walk {
	const struct rules *r;
	struct keepset *k;
};

static void seed_glob(void *ctx, const char *rel, const struct stat *st)
{
	struct seed_walk *w = ctx;
	(void)st;
	cleanup_free char *abs = xasprintf("/%s", rel);
	for (size_t i = 0; i < w->r->keep.n; i++) {
		const struct rule *ru = &w->r->keep.v[i];
		if (glob_is_pattern(ru->pattern) && glob_match(ru->pattern, abs))
			keepset_add_rule(w->k, abs, KEEP_RULE, NULL, ru->pattern, ru->profile);
	}
}

void rules_seed(const struct rules *r, struct keepset *k, int rootfd)
{
	bool globs = false;
	for (size_t i = 0; i < r->keep.n; i++) {
		const struct rule *ru = &r->keep.v[i];
		if (glob_is_pattern(ru->pattern))
			globs = true;
		else
			keepset_add_rule(k, ru->pattern, KEEP_RULE, NULL, ru->pattern, ru->profile);
	}
	struct seed_walk w = { r, k };
	if (globs)
		walk_tree(rootfd, seed_glob, &w);
}

/* ---- package databases ---- */

/* A database file below DIRFD as a string (no symlinks, regular files only). */
static char *read_db_file(int dirfd, const char *name, struct perr *err)
{
	char *buf;
	size_t len;
	if (read_file_beneath(dirfd, name, DB_MAX_BYTES, &buf, &len, err) < 0)
		return NULL;
	buf = xrealloc(buf, len + 1);
	buf[len] = 0;
	return buf;
}

static const char *owned_key(const void *ctx, size_t i)
{
	return ((const struct units_state *)ctx)->owned[i].path;
}

static size_t pkg_begin(struct units_state *st, char *name, const char *kind)
{
	st->pkgs = xrealloc(st->pkgs, (st->n_pkgs + 1) * sizeof(*st->pkgs));
	st->pkgs[st->n_pkgs] = (struct pkg){ name, kind, st->n_owned, 0, false };
	return st->n_pkgs++;
}

/* The directory of the previous path resolved (database files list paths
 * grouped by directory): one in-root resolution per directory, not per
 * file. */
struct dir_cache {
	char dir[PATH_BUF], real[PATH_BUF];
	bool ok;
};

/* PATH (in the image) belongs to package PKG: stored by its physical
 * place, which is where kept paths live. Paths the image lacks (dpkg
 * path-excludes, removed files) are skipped, and so are directories:
 * they are shared by many packages ("/usr/bin", and "/bin" as a
 * merged-/usr symlink to one), so a unit never grows through them. */
static void pkg_own(struct units_state *st, size_t pkg, const char *path, int rootfd,
		    struct dir_cache *dc)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	if (!*base || dlen >= PATH_BUF)
		return;
	if (strlen(dc->dir) != dlen || strncmp(dc->dir, path, dlen)) {
		memcpy(dc->dir, path, dlen);
		dc->dir[dlen] = 0;
		dc->ok = keepset_resolve(rootfd, dc->dir, true, dc->real) == 0;
	}
	char real[PATH_BUF], target[PATH_BUF];
	struct stat sb;
	if (!dc->ok || (size_t)snprintf(real, sizeof(real), "%s%s%s", dc->real, *dc->real ? "/" : "",
					base) >= sizeof(real) ||
	    fstatat(rootfd, real, &sb, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(sb.st_mode))
		return;
	if (S_ISLNK(sb.st_mode) &&
	    (keepset_resolve(rootfd, real, true, target) < 0 ||
	     fstatat(rootfd, *target ? target : ".", &sb, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0 ||
	     S_ISDIR(sb.st_mode)))
		return;
	st->owned = xrealloc(st->owned, (st->n_owned + 1) * sizeof(*st->owned));
	st->owned[st->n_owned] = (struct owned){ xstrdup(real), pkg };
	st->n_owned++;
	st->pkgs[pkg].n++;
	/* The first owner wins for the index (diversions aside, files have one). */
	if (strindex_find(&st->owned_index, real, owned_key, st) == SIZE_MAX)
		strindex_put(&st->owned_index, st->n_owned - 1, st->n_owned, owned_key, st);
}

/* /var/lib/dpkg/info/PKG[:ARCH].list: one absolute path per line. */
static int load_dpkg(struct units_state *st, int rootfd, struct perr *err)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, "var/lib/dpkg/info", &ignored);
	if (dfd < 0)
		return 0; /* not a Debian image: nothing to pull in */
	DIR *d = opendir_at(dfd, "");
	if (!d)
		return perr_set(err, errno, "cannot list /var/lib/dpkg/info");
	struct strv lists = { 0 };
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len > 5 && !strcmp(de->d_name + len - 5, ".list"))
			strv_push(&lists, xstrdup(de->d_name));
	}
	closedir(d);
	strv_sort(&lists);
	for (size_t i = 0; i < lists.n; i++) {
		char *text = read_db_file(dfd, lists.v[i], err);
		if (!text) {
			strv_free(&lists);
			return perr_wrap(err, "dpkg database");
		}
		size_t len = strcspn(lists.v[i], ":");
		size_t dot = strlen(lists.v[i]) - 5;
		size_t pkg = pkg_begin(st, xasprintf("%.*s", (int)(len < dot ? len : dot), lists.v[i]),
				       "debian");
		char *save = NULL;
		struct dir_cache dc = { .ok = false };
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (line[0] == '/' && line[1])
				pkg_own(st, pkg, line, rootfd, &dc);
		free(text);
	}
	strv_free(&lists);
	return 0;
}

static void find_records(void *ctx, const char *rel, const struct stat *st)
{
	cleanup_free char *abs = xasprintf("/%s", rel);
	if (S_ISREG(st->st_mode) && glob_match("/**/*.dist-info/RECORD", abs))
		strv_push(ctx, xstrdup(rel));
}

/* The first CSV field of LINE (RECORD quotes paths holding commas). */
static void csv_first(const char *line, char *out, size_t sz)
{
	size_t o = 0;
	if (*line == '"') {
		for (const char *p = line + 1; *p && o + 1 < sz; p++) {
			if (*p == '"' && p[1] == '"')
				out[o++] = *p++;
			else if (*p == '"')
				break;
			else
				out[o++] = *p;
		}
	} else {
		size_t n = strcspn(line, ",");
		o = n < sz - 1 ? n : sz - 1;
		memcpy(out, line, o);
	}
	out[o] = 0;
}

/* pip's SITE/NAME.dist-info/RECORD: CSV, paths relative to SITE. */
static int load_dist_info(struct units_state *st, int rootfd, struct perr *err)
{
	cleanup_strv struct strv records = { 0 };
	walk_tree(rootfd, find_records, &records);
	strv_sort(&records);
	for (size_t i = 0; i < records.n; i++) {
		char dir[PATH_BUF], site[PATH_BUF];
		const char *base = split_parent(records.v[i], dir, sizeof(dir));
		(void)base;
		const char *name = split_parent(dir, site, sizeof(site));
		struct perr ignored;
		cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
		if (dfd < 0)
			continue;
		cleanup_free char *text = read_db_file(dfd, "RECORD", err);
		if (!text)
			return perr_wrap(err, "/%s", records.v[i]);
		size_t pkg = pkg_begin(st, xasprintf("%.*s", (int)(strlen(name) - 10), name), "python");
		char *save = NULL;
		struct dir_cache dc = { .ok = false };
		for (char *line = strtok_r(text, "\r\n", &save); line;
		     line = strtok_r(NULL, "\r\n", &save)) {
			char field[PATH_BUF], joined[PATH_BUF * 2], clean[PATH_BUF];
			csv_first(line, field, sizeof(field));
			if (!*field)
				continue;
			snprintf(joined, sizeof(joined), "%s/%s", field[0] == '/' ? "" : site, field);
			if (clean_in_root_path(joined, clean, sizeof(clean) - 1, &ignored) == 0)
				pkg_own(st, pkg, clean, rootfd, &dc);
		}
	}
	return 0;
}

static int load_databases(const struct rules *r, struct units_state *st, int rootfd,
			  struct perr *err)
{
	if (st->loaded)
		return 0;
	st->loaded = true;
	if ((r->kinds[UNIT_DEBIAN].on || r->kinds[UNIT_DEBIAN_DOCS].on) && load_dpkg(st, rootfd, err) < 0)
		return -1;
	if (r->kinds[UNIT_DIST_INFO].on && load_dist_info(st, rootfd, err) < 0)
		return -1;
	return 0;
}

/* ---- expansion ---- */

static void pulled_push(struct units_state *st, const char *kind, const char *name,
			const char *because, const char *rule, const char *profile, size_t paths)
{
	st->pulled = xrealloc(st->pulled, (st->n_pulled + 1) * sizeof(*st->pulled));
	st->pulled[st->n_pulled++] = (struct pulled){
		xstrdup(kind), xstrdup(name), xasprintf("/%s", because), xstrdup(rule),
		profile ? xstrdup(profile) : NULL, paths,
	};
}

static bool skip_doc(const struct rules *r, const char *abs)
{
	if (r->kinds[UNIT_DEBIAN_DOCS].on)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(debian_docs); i++)
		if (glob_match(debian_docs[i], abs))
			return true;
	return false;
}

static size_t pull_package(const struct rules *r, struct keepset *k, struct units_state *st,
			   struct pkg *p, const char *because)
{
	bool debian = !strcmp(p->kind, "debian");
	cleanup_free char *rule = xasprintf("%s package %s", p->kind, p->name);
	const struct kind_rule *kr = &r->kinds[!debian ? UNIT_DIST_INFO
					       : r->kinds[UNIT_DEBIAN].on ? UNIT_DEBIAN
									  : UNIT_DEBIAN_DOCS];
	size_t added = 0;
	p->pulled = true;
	for (size_t i = p->first; i < p->first + p->n; i++) {
		cleanup_free char *abs = xasprintf("/%s", st->owned[i].path);
		if ((debian && skip_doc(r, abs)) || rules_excluded(r, abs))
			continue;
		added += keepset_add_rule(k, abs, KEEP_PACKAGE, because, rule, kr->profile);
	}
	pulled_push(st, debian ? "debian" : "python", p->name, because, rule, kr->profile, added);
	return added;
}

struct unit_walk {
	struct keepset *k;
	const struct rules *r;
	const char *dir, *because;
	const struct rule *unit;
	size_t added;
};

static void unit_entry(void *ctx, const char *rel, const struct stat *st)
{
	struct unit_walk *w = ctx;
	(void)st;
	cleanup_free char *abs = xasprintf("/%s/%s", w->dir, rel);
	if (!rules_excluded(w->r, abs))
		w->added += keepset_add_rule(w->k, abs, KEEP_UNIT, w->because, w->unit->pattern,
					     w->unit->profile);
}

static size_t pull_dir(const struct rules *r, struct keepset *k, struct units_state *st,
		       int rootfd, const char *dir, const char *because, const struct rule *unit)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
	if (dfd < 0)
		return 0;
	struct unit_walk w = { k, r, dir, because, unit, 0 };
	walk_tree(dfd, unit_entry, &w);
	pulled_push(st, "unit", dir, because, unit->pattern, unit->profile, w.added);
	return w.added;
}

/* Units of the kept non-directory PATH: every ancestor directory matching
 * a unit glob, and the package owning it. */
static size_t expand(const struct rules *r, struct keepset *k, struct units_state *st,
		     int rootfd, const char *path)
{
	size_t added = 0;
	char dir[PATH_BUF];
	for (const char *s = path; r->units.n && (s = strchr(s, '/')); s++) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(s - path), path);
		if (!strset_add(&st->dirs_seen, dir))
			continue; /* its globs were matched for an earlier file */
		cleanup_free char *abs = xasprintf("/%s", dir);
		for (size_t i = 0; i < r->units.n; i++)
			if (glob_match(r->units.v[i].pattern, abs)) {
				added += pull_dir(r, k, st, rootfd, dir, path, &r->units.v[i]);
				break;
			}
	}
	size_t at = strindex_find(&st->owned_index, path, owned_key, st);
	if (at != SIZE_MAX && !st->pkgs[st->owned[at].pkg].pulled)
		added += pull_package(r, k, st, &st->pkgs[st->owned[at].pkg], path);
	return added;
}

int rules_close(const struct rules *r, struct keepset *k, int rootfd, struct units_state *st,
		struct perr *err)
{
	bool any = r->units.n;
	for (int i = 0; i < UNIT__COUNT; i++)
		any |= r->kinds[i].on;
	for (;;) {
		if (keepset_close(k, rootfd, err) < 0)
			return -1;
		if (!any)
			return 0;
		if (load_databases(r, st, rootfd, err) < 0)
			return -1;
		size_t added = 0;
		for (size_t i = 0; i < k->n; i++) { /* grows while we walk */
			struct keep_entry *e = &k->e[i];
			if (e->units_done || !e->type || e->type == 'd')
				continue;
			e->units_done = true;
			cleanup_free char *path = xstrdup(e->path);
			added += expand(r, k, st, rootfd, path);
		}
		if (!added)
			return 0;
	}
}

void units_state_free(struct units_state *st)
{
	for (size_t i = 0; i < st->n_owned; i++)
		free(st->owned[i].path);
	free(st->owned);
	strindex_free(&st->owned_index);
	for (size_t i = 0; i < st->n_pkgs; i++)
		free(st->pkgs[i].name);
	free(st->pkgs);
	strset_free(&st->dirs_seen);
	for (size_t i = 0; i < st->n_pulled; i++) {
		free(st->pulled[i].kind);
		free(st->pulled[i].name);
		free(st->pulled[i].because);
		free(st->pulled[i].rule);
		free(st->pulled[i].profile);
	}
	free(st->pulled);
	memset(st, 0, sizeof(*st));
}
