#define _GNU_SOURCE
#include "slimmer/authoring.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "slimmer/glob.h"
#include "slimmer/keepset.h"
#include "base/resolve.h"

#define PATH_BUF 4097

/* ---- profiles from traces ---- */

struct compact {
	int rootfd;
	size_t min_files;
	struct strset files;   /* physical paths seen (not directories) */
	struct strset parents; /* their ancestors */
	struct strv sorted;    /* FILES, sorted */
	struct compacted *out;
	size_t n;
};

static void push(struct compact *c, char *rule, size_t covers)
{
	c->out = xrealloc(c->out, (c->n + 1) * sizeof(*c->out));
	c->out[c->n++] = (struct compacted){ rule, covers };
}

/* Was every entry of directory DIR (physical, relative) seen? N counts its
 * files. Only ancestors of seen files can be. */
static bool dir_complete(struct compact *c, const char *dir, size_t *n)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(c->rootfd, dir, &ignored);
	DIR *d = dfd >= 0 ? opendir_at(dfd, "") : NULL;
	if (!d)
		return false;
	bool all = true;
	for (struct dirent *de; all && (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *p = *dir ? xasprintf("%s/%s", dir, de->d_name) : xstrdup(de->d_name);
		struct stat st;
		char target[PATH_BUF];
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			all = false;
		else if (S_ISLNK(st.st_mode)) /* read through it: fanotify names the target */
			all = strset_has(&c->files, p) ||
			      (keepset_resolve(c->rootfd, p, true, target) == 0 &&
			       strset_has(&c->files, target));
		else if (S_ISDIR(st.st_mode))
			all = strset_has(&c->parents, p) && dir_complete(c, p, n);
		else
			all = strset_has(&c->files, p);
		if (all && !S_ISDIR(st.st_mode))
			(*n)++;
	}
	closedir(d);
	return all;
}

static bool below(const char *path, const char *dir, size_t len)
{
	return !strncmp(path, dir, len) && path[len] == '/';
}

/* Rules for the seen files below DIR ("" = the root), in path order. */
static void emit(struct compact *c, const char *dir)
{
	size_t n = 0, len = strlen(dir);
	if (len && dir_complete(c, dir, &n) && n >= c->min_files) {
		push(c, xasprintf("/%s/**", dir), n);
		return;
	}
	for (size_t i = 0; i < c->sorted.n; i++) {
		const char *p = c->sorted.v[i];
		if (len && !below(p, dir, len))
			continue;
		const char *slash = strchr(p + (len ? len + 1 : 0), '/');
		if (!slash) {
			push(c, xasprintf("/%s", p), 1);
			continue;
		}
		/* Each child directory once: at the first path below it (sorted). */
		size_t clen = (size_t)(slash - p);
		if (i > 0 && below(c->sorted.v[i - 1], p, clen))
			continue;
		cleanup_free char *child = xasprintf("%.*s", (int)clen, p);
		emit(c, child);
	}
}

void profile_compact(int rootfd, const struct strv *paths, size_t min_files,
		     struct compacted **out, size_t *n, size_t *files)
{
	struct compact c = { .rootfd = rootfd, .min_files = min_files };
	for (size_t i = 0; i < paths->n; i++) {
		char real[PATH_BUF];
		struct stat st;
		if (keepset_resolve(rootfd, paths->v[i], false, real) < 0 || !*real ||
		    fstatat(rootfd, real, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode) ||
		    !strset_add(&c.files, real))
			continue; /* not in the image (a probe for a missing file), or a directory */
		strv_push(&c.sorted, xstrdup(real));
		for (char *s = real; (s = strchr(s, '/')); s++) {
			*s = 0;
			strset_add(&c.parents, real);
			*s = '/';
		}
	}
	strv_sort(&c.sorted);
	emit(&c, "");
	*out = c.out;
	*n = c.n;
	*files = c.sorted.n;
	strset_free(&c.files);
	strset_free(&c.parents);
	strv_free(&c.sorted);
}

void compacted_free(struct compacted *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].rule);
	free(v);
}

/* ---- rules against an image ---- */

struct match_walk {
	struct rule_match *m;
	size_t n;
};

static bool counted_by_walk(const char *rule)
{
	return (*rule == '/' && glob_is_pattern(rule)) || !strcmp(rule, "dist-info");
}

static void count_matches(void *ctx, const char *rel, const struct stat *st)
{
	struct match_walk *w = ctx;
	cleanup_free char *abs = xasprintf("/%s", rel);
	for (size_t i = 0; i < w->n; i++) {
		struct rule_match *m = &w->m[i];
		if (!strcmp(m->rule, "dist-info"))
			m->matches += S_ISREG(st->st_mode) && glob_match("/**/*.dist-info/RECORD", abs);
		else if (counted_by_walk(m->rule) && (strcmp(m->list, "units") || S_ISDIR(st->st_mode)))
			m->matches += glob_match(m->rule, abs);
	}
}

void profile_set_matches(const struct profile_set *set, int rootfd, struct rule_match **out,
			 size_t *n)
{
	struct rule_match *m = NULL;
	size_t k = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct profile *p = &set->p[i];
		const struct {
			const char *list;
			const struct strv *v;
		} lists[] = { { "keep", &p->keep }, { "exclude", &p->exclude }, { "units", &p->units } };
		for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
			for (size_t j = 0; j < lists[l].v->n; j++) {
				m = xrealloc(m, (k + 1) * sizeof(*m));
				m[k++] = (struct rule_match){ p->name, lists[l].list, lists[l].v->v[j], 0 };
			}
	}
	struct match_walk w = { m, k };
	walk_tree(rootfd, count_matches, &w);
	for (size_t i = 0; i < k; i++) {
		char real[PATH_BUF];
		if (counted_by_walk(m[i].rule))
			continue;
		/* a literal path, or debian/debian-docs: the dpkg database */
		const char *path = *m[i].rule == '/' ? m[i].rule : "/var/lib/dpkg/info";
		m[i].matches = keepset_resolve(rootfd, path, true, real) == 0;
	}
	*out = m;
	*n = k;
}

/* ---- merging ---- */

static bool in(const struct strv *v, const char *s)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

static void union_into(struct strv *dst, const struct strv *src, const struct strv *skip)
{
	for (size_t i = 0; i < src->n; i++)
		if (!in(dst, src->v[i]) && !in(skip, src->v[i]))
			strv_push(dst, xstrdup(src->v[i]));
}

void profile_merge(const struct profile *profiles, size_t n, const char *name,
		   const char *description, struct profile *out)
{
	memset(out, 0, sizeof(*out));
	struct strv names = { 0 };
	char joined[512] = "";
	for (size_t i = 0; i < n; i++) {
		strv_push(&names, xstrdup(profiles[i].name));
		snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
			 *joined ? "-" : "", profiles[i].name);
	}
	/* A merged profile including one it merged would include itself. */
	for (size_t i = 0; i < n; i++) {
		union_into(&out->include, &profiles[i].include, &names);
		union_into(&out->keep, &profiles[i].keep, NULL);
		union_into(&out->exclude, &profiles[i].exclude, NULL);
		union_into(&out->units, &profiles[i].units, NULL);
	}
	strv_free(&names);
	out->name = xstrdup(name ? name : joined);
	out->description = description ? xstrdup(description) : xasprintf("merged from %s", joined);
}
