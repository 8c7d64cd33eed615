#define _GNU_SOURCE
#include "slimmer/rules.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "slimmer/apptree.h"
#include "slimmer/glob.h"
#include "slimmer/imports.h"
#include "slimmer/pkgdb.h"
#include "base/resolve.h"
#include "image/source.h"

#define PATH_BUF 4097

/* What a Debian package unit leaves out unless "debian-docs" is asked. */
static const char *const debian_docs[] = {
	"/usr/share/doc/**", "/usr/share/man/**", "/usr/share/info/**",
	"/usr/share/lintian/**", "/usr/share/doc-base/**",
};

void rules_init(struct rules *r)
{
	memset(r, 0, sizeof(*r));
	r->app.max = APP_TREE_MAX_DEFAULT;
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
	list_free(&r->app.dirs);
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
		tree_walk(&k->tree, rootfd, seed_glob, &w);
}

/* ---- package databases ---- */

static int load_databases(const struct rules *r, struct units_state *st, int rootfd,
			  struct perr *err)
{
	if (st->loaded)
		return 0;
	st->loaded = true;
	/* the application-tree rule needs to know every package's files */
	bool app = app_trees_on(r);
	unsigned which = (app ? PKGDB_DPKG | PKGDB_DIST_INFO | PKGDB_APK : 0) |
			 (r->kinds[UNIT_DEBIAN].on || r->kinds[UNIT_DEBIAN_DOCS].on ? PKGDB_DPKG : 0) |
			 (r->kinds[UNIT_DIST_INFO].on ? PKGDB_DIST_INFO : 0);
	return pkgdb_load(st, rootfd, which, err);
}

/* ---- expansion ---- */

void units_note_pulled(struct units_state *st, const char *kind, const char *name,
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

/* Whether a package of P's kind is a unit (--units, or a profile's). */
static bool package_units_on(const struct rules *r, const struct pkg *p)
{
	if (!strcmp(p->kind, "debian"))
		return r->kinds[UNIT_DEBIAN].on || r->kinds[UNIT_DEBIAN_DOCS].on;
	return !strcmp(p->kind, "python") && r->kinds[UNIT_DIST_INFO].on;
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
	units_note_pulled(st, debian ? "debian" : "python", p->name, because, rule, kr->profile, added);
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
	units_note_pulled(st, "unit", dir, because, unit->pattern, unit->profile, w.added);
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
	size_t at = pkgdb_owner(st, path);
	struct pkg *p = at != SIZE_MAX ? &st->pkgs[st->owned[at].pkg] : NULL;
	if (p && !p->pulled && package_units_on(r, p))
		added += pull_package(r, k, st, p, path);
	return added + app_tree_expand(r, k, st, rootfd, path);
}

static bool link_excluded(const void *r, const char *abs)
{
	return rules_excluded(r, abs) != NULL;
}

int rules_close(const struct rules *r, struct keepset *k, int rootfd, struct units_state *st,
		struct perr *err)
{
	k->skip_link = link_excluded;
	k->skip_link_ctx = r;
	st->tree = &k->tree;
	bool any = r->units.n || app_trees_on(r) || !r->no_imports;
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
		added += imports_close(r, k, st, rootfd);
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
	strset_free(&st->owned_dirs);
	strset_free(&st->trees_seen);
	strv_free(&st->py_path);
	strset_free(&st->py_builtins);
	strset_free(&st->sources_scanned);
	for (size_t i = 0; i < st->n_pkgs; i++)
		free(st->pkgs[i].name);
	free(st->pkgs);
	strset_free(&st->dirs_seen);
	for (size_t i = 0; i < st->n_memo; i++) {
		free(st->memo[i].key);
		free(st->memo[i].real);
	}
	free(st->memo);
	strindex_free(&st->memo_index);
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
