/* Application trees. Ownership comes from the package databases
 * (pkgdb.c); a directory is the distribution's when a package lists it or
 * holds a file below it, or when it is one of the FHS hierarchy
 * directories (/etc, /opt, /srv, /usr/local ...), which Debian makes
 * without listing some of. What the distribution generates at
 * install or run time (bytecode caches of its own sources, the
 * alternatives, caches, logs, spool) is never an application tree. */
#define _GNU_SOURCE
#include "slimmer/apptree.h"

#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"
#include "slimmer/glob.h"
#include "slimmer/pkgdb.h"

#define PATH_BUF 4097

/* Directories that hold applications without being one: the FHS's,
 * whether or not a package lists them. */
static const char *const hierarchy[] = {
	"/etc", "/var", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec",
	"/usr/share", "/usr/include", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/root", "/opt", "/srv", "/home", "/mnt", "/media", "/usr/local", "/usr/local/*", "/usr/local/lib/*",
	"/usr/local/lib/*/dist-packages", "/usr/local/lib/*/site-packages", "/var/opt", "/var/local",
	"/var/lib", "/var/www",
};

/* Trees the distribution makes itself: never an application's. */
static const char *const generated[] = {
	"/tmp", "/var/tmp", "/run", "/var/run", "/var/cache", "/var/log", "/var/spool", "/var/mail",
	"/var/backups", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/ucf", "/var/lib/systemd",
	"/var/lib/pam", "/var/lib/python", "/etc/alternatives", "/etc/ssl/certs", "/proc", "/sys",
	"/dev", "/lost+found", "/**/__pycache__", "/**/.cache",
};

static bool matches_any(const char *const *globs, size_t n, const char *abs)
{
	for (size_t i = 0; i < n; i++)
		if (glob_match(globs[i], abs))
			return true;
	return false;
}

bool app_trees_on(const struct rules *r)
{
	return !r->app.off || r->app.dirs.n;
}

static bool dir_is_distributions(const struct units_state *st, const char *dir)
{
	if (!*dir || pkgdb_dir_owned(st, dir))
		return true;
	cleanup_free char *abs = xasprintf("/%s", dir);
	return matches_any(hierarchy, ARRAY_SIZE(hierarchy), abs);
}

/* The top-most directory above PATH that is not the distribution's, into
 * TOP: false when PATH's own directory is (a loose file, as /etc/passwd). */
static bool top_unowned(const struct units_state *st, const char *path, char *top, size_t sz)
{
	char d[PATH_BUF];
	bool found = false;
	snprintf(d, sizeof(d), "%s", path);
	for (char *slash; (slash = strrchr(d, '/'));) {
		*slash = 0;
		if (dir_is_distributions(st, d))
			break;
		snprintf(top, sz, "%s", d);
		found = true;
	}
	return found;
}

/* Whether DIR or one of its ancestors is a generated tree. */
static bool is_generated(const char *dir)
{
	char abs[PATH_BUF + 1];
	snprintf(abs, sizeof(abs), "/%s", dir);
	for (;;) {
		if (matches_any(generated, ARRAY_SIZE(generated), abs))
			return true;
		char *slash = strrchr(abs, '/');
		if (slash == abs)
			return false;
		*slash = 0;
	}
}

struct tree_walk {
	struct keepset *k;
	const struct rules *r;
	const char *dir, *rule;
	uint64_t bytes;
	size_t added;
};

static void measure_entry(void *ctx, const char *rel, const struct stat *st)
{
	struct tree_walk *w = ctx;
	(void)rel;
	if (S_ISREG(st->st_mode))
		w->bytes += (uint64_t)st->st_size;
}

static void keep_entry(void *ctx, const char *rel, const struct stat *st)
{
	struct tree_walk *w = ctx;
	(void)st;
	cleanup_free char *abs = xasprintf("/%s/%s", w->dir, rel);
	if (!rules_excluded(w->r, abs))
		w->added += keepset_add_rule(w->k, abs, KEEP_APP, w->dir, w->rule, NULL);
}

/* Keep DIR whole, unless it holds more than MAX bytes (0: no cap). */
static size_t keep_tree(const struct rules *r, struct keepset *k, struct units_state *st, int rootfd,
			const char *dir, const char *because, const char *rule, uint64_t max)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
	if (dfd < 0)
		return 0;
	struct tree_walk w = { k, r, dir, rule, 0, 0 };
	if (max) {
		walk_tree(dfd, measure_entry, &w);
		if (w.bytes > max) {
			char has[32], cap[32];
			keepset_warn(k, "application tree /%s holds %s, over the %s cap (--app-tree-max): "
					"only what the probes used is kept, the rest of it is left out",
				     dir, human_size(w.bytes, has), human_size(max, cap));
			return 0;
		}
	}
	walk_tree(dfd, keep_entry, &w);
	units_note_pulled(st, "application", dir, because, rule, NULL, w.added);
	return w.added;
}

/* An --app-dir glob matching an ancestor of PATH: that tree, whole. */
static size_t named_tree(const struct rules *r, struct keepset *k, struct units_state *st,
			 int rootfd, const char *path)
{
	char dir[PATH_BUF];
	for (const char *s = path; (s = strchr(s, '/')); s++) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(s - path), path);
		cleanup_free char *abs = xasprintf("/%s", dir);
		for (size_t i = 0; i < r->app.dirs.n; i++) {
			if (!glob_match(r->app.dirs.v[i].pattern, abs))
				continue;
			if (!strset_add(&st->trees_seen, dir))
				return 0;
			cleanup_free char *rule = xasprintf("--app-dir %s", r->app.dirs.v[i].pattern);
			return keep_tree(r, k, st, rootfd, dir, path, rule, 0);
		}
	}
	return 0;
}

size_t app_tree_expand(const struct rules *r, struct keepset *k, struct units_state *st, int rootfd,
		       const char *path)
{
	size_t added = r->app.dirs.n ? named_tree(r, k, st, rootfd, path) : 0;
	if (added || r->app.off)
		return added;
	if (!st->n_pkgs) {
		if (!st->no_db_told)
			keepset_warn(k, "the image has no package database (dpkg, pip RECORD, apk): its "
					"application files cannot be told from the distribution's, so no "
					"application tree is kept whole (name them with --app-dir)");
		st->no_db_told = true;
		return 0;
	}
	char top[PATH_BUF];
	if (pkgdb_owner(st, path) != SIZE_MAX || !top_unowned(st, path, top, sizeof(top)) ||
	    is_generated(top) || !strset_add(&st->trees_seen, top))
		return 0;
	return keep_tree(r, k, st, rootfd, top, path, "application tree", r->app.max);
}
