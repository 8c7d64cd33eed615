/* Application trees. Ownership comes from the package databases
 * (pkgdb.c); a directory is the distribution's when a package lists it or
 * holds a file below it, or when it is one of the FHS hierarchy
 * directories (/etc, /opt, /srv, /usr/local ...), which Debian makes
 * without listing some of. What the distribution generates at
 * install or run time (bytecode caches of its own sources, the
 * alternatives, caches, logs, spool) is never an application tree. */
#define _GNU_SOURCE
#include "slimmer/apptree.h"

#include <dirent.h>
#include <fcntl.h>
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
	"/usr/share", "/usr/include", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/root",
	"/opt", "/srv", "/home", "/mnt", "/media", "/usr/local", "/usr/local/*", "/usr/local/lib/*",
	"/usr/local/lib/*/dist-packages", "/usr/local/lib/*/site-packages", "/var/opt", "/var/local",
	"/var/lib", "/var/www",
};

/* Trees the distribution makes itself: never an application's. */
static const char *const generated[] = {
	"/tmp", "/var/tmp", "/run", "/var/run", "/var/cache", "/var/log", "/var/spool", "/var/mail",
	"/var/backups", "/var/lib/dpkg", "/var/lib/apt", "/var/lib/ucf", "/var/lib/systemd",
	"/var/lib/pam", "/var/lib/python", "/var/lib/php/modules", "/etc/alternatives",
	"/etc/ssl/certs", "/proc", "/sys", "/dev", "/lost+found", "/**/__pycache__", "/**/.cache",
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

bool app_dir_is_distributions(const struct units_state *st, const char *dir)
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
		if (app_dir_is_distributions(st, d))
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

bool app_file(const struct units_state *st, const char *path)
{
	char top[PATH_BUF];
	return top_unowned(st, path, top, sizeof(top)) && !is_generated(top);
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

/* Files put into a package's own directory (a web server's document
 * root, /var/www/html beside the package's index.lighttpd.html) are no
 * tree of their own, but belong together: a kept one keeps the unowned
 * regular files beside it. Not below it (a subdirectory is a tree of its
 * own, or the package's), and never in the FHS hierarchy (/etc, /usr/bin)
 * or a generated tree. */
static size_t keep_loose(const struct rules *r, struct keepset *k, struct units_state *st, int rootfd,
			 const char *path)
{
	char dir[PATH_BUF];
	split_parent(path, dir, sizeof(dir));
	cleanup_free char *abs = xasprintf("/%s", dir);
	cleanup_free char *seen = xasprintf("%s/", dir); /* not a tree's name */
	if (!*dir || !pkgdb_dir_owned(st, dir) || matches_any(hierarchy, ARRAY_SIZE(hierarchy), abs) ||
	    is_generated(dir) || !strset_add(&st->trees_seen, seen))
		return 0;
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
	DIR *d = dfd >= 0 ? opendir_at(dfd, "") : NULL;
	if (!d)
		return 0;
	struct strv names = { 0 };
	uint64_t bytes = 0;
	for (struct dirent *de; (de = readdir(d));) {
		struct stat sb;
		cleanup_free char *rel = xasprintf("%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
		    pkgdb_owner(st, rel) != SIZE_MAX)
			continue;
		bytes += (uint64_t)sb.st_size;
		strv_push(&names, xasprintf("/%s", rel));
	}
	closedir(d);
	size_t added = 0;
	char has[32], cap[32];
	if (r->app.max && bytes > r->app.max)
		keepset_warn(k, "the files put into /%s hold %s, over the %s cap (--app-tree-max): only what "
				"the probes used is kept", dir, human_size(bytes, has), human_size(r->app.max, cap));
	for (size_t i = 0; (!r->app.max || bytes <= r->app.max) && i < names.n; i++)
		if (!rules_excluded(r, names.v[i]))
			added += keepset_add_rule(k, names.v[i], KEEP_APP, dir, "application files in a package's directory",
						  NULL);
	strv_free(&names);
	if (added) /* told when it kept something the probes did not */
		units_note_pulled(st, "application", dir, path, "application files in a package's directory", NULL,
				  added);
	return added;
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
	if (pkgdb_owner(st, path) != SIZE_MAX)
		return 0;
	if (!top_unowned(st, path, top, sizeof(top)))
		return keep_loose(r, k, st, rootfd, path);
	if (is_generated(top) || !strset_add(&st->trees_seen, top))
		return 0;
	return keep_tree(r, k, st, rootfd, top, path, "application tree", r->app.max);
}

/* ---- what stays out ---- */

/* Directory DIR (physical) of the image, where a probe wrote WHAT: warn
 * when its other entries are left out. */
static void check_written_dir(struct keepset *k, int rootfd, const char *dir, const char *what)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
	DIR *d = dfd >= 0 ? opendir_at(dfd, "") : NULL;
	if (!d)
		return;
	size_t left = 0;
	uint64_t bytes = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *rel = xasprintf("%s%s%s", dir, *dir ? "/" : "", de->d_name);
		struct stat st;
		if (keepset_find(k, rel) || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		left++;
		bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	}
	closedir(d);
	if (!left)
		return;
	char size[32];
	keepset_warn(k, "a probe wrote %s in /%s, but %zu other entr%s of that directory (%s) %s left out: "
			"if they belong together (a database's data directory), keep them with --app-dir /%s",
		     what, dir, left, left == 1 ? "y" : "ies", human_size(bytes, size),
		     left == 1 ? "is" : "are", dir);
}

static void check_written(struct keepset *k, const struct trace *t, int rootfd)
{
	const uint32_t wrote = 1u << OP_OPEN_WRITE | 1u << OP_MODIFY;
	struct strset seen = { 0 };
	for (size_t i = 0; i < t->n; i++) {
		const struct trace_entry *e = &t->e[i];
		char parent[PATH_BUF], real[PATH_BUF];
		if (!(e->ops & wrote) || e->path[0] != '/')
			continue;
		split_parent(e->path + 1, parent, sizeof(parent));
		if (keepset_resolve(rootfd, parent, true, real) < 0 || is_generated(real) ||
		    !strset_add(&seen, real))
			continue;
		check_written_dir(k, rootfd, real, e->path);
	}
	strset_free(&seen);
}

/* Application files in trees nothing kept: counted per tree. Trees in
 * /etc are left out of this count: package scripts make configuration
 * directories there (/etc/python3) that no database lists. */
struct untouched {
	const struct units_state *st;
	struct strv trees;
	size_t *files;
	uint64_t *bytes;
};

static void untouched_entry(void *ctx, const char *rel, const struct stat *sb)
{
	struct untouched *u = ctx;
	char top[PATH_BUF];
	if (!S_ISREG(sb->st_mode) || !strncmp(rel, "etc/", 4) || pkgdb_owner(u->st, rel) != SIZE_MAX ||
	    !top_unowned(u->st, rel, top, sizeof(top)) || strset_has(&u->st->trees_seen, top) ||
	    is_generated(top))
		return;
	size_t i = 0;
	while (i < u->trees.n && strcmp(u->trees.v[i], top))
		i++;
	if (i == u->trees.n) {
		strv_push(&u->trees, xstrdup(top));
		u->files = xrealloc(u->files, u->trees.n * sizeof(*u->files));
		u->bytes = xrealloc(u->bytes, u->trees.n * sizeof(*u->bytes));
		u->files[i] = 0;
		u->bytes[i] = 0;
	}
	u->files[i]++;
	u->bytes[i] += (uint64_t)sb->st_size;
}

static void check_untouched(struct keepset *k, const struct units_state *st, int rootfd)
{
	struct untouched u = { .st = st };
	tree_walk(&k->tree, rootfd, untouched_entry, &u);
	for (size_t i = 0; i < u.trees.n; i++) {
		char size[32];
		keepset_warn(k, "application files no probe touched are left out: /%s (%zu file%s, %s); "
				"a probe that uses them, or --app-dir /%s, keeps them",
			     u.trees.v[i], u.files[i], u.files[i] == 1 ? "" : "s", human_size(u.bytes[i], size),
			     u.trees.v[i]);
	}
	strv_free(&u.trees);
	free(u.files);
	free(u.bytes);
}

void app_trees_check(const struct rules *r, struct keepset *k, const struct units_state *st,
		     const struct trace *t, int rootfd)
{
	check_written(k, t, rootfd);
	if (!r->app.off && st->n_pkgs)
		check_untouched(k, st, rootfd);
}
