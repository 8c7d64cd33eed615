/* Package databases: dpkg's /var/lib/dpkg/info/PKG.list, pip's
 * dist-info RECORD (CSV, relative to its site directory) and apk's
 * /lib/apk/db/installed (P: package, F: directory, R: file). */
#define _GNU_SOURCE
#include "slimmer/pkgdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"
#include "image/source.h"
#include "slimmer/glob.h"

#define PATH_BUF 4097
#define DB_MAX_BYTES (64u << 20) /* one .list or RECORD file */

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

/* DIR holds a package's file: it and its ancestors are the packages'. */
static void own_dir_and_ancestors(struct units_state *st, const char *dir)
{
	char d[PATH_BUF];
	snprintf(d, sizeof(d), "%s", dir);
	for (;;) {
		if (!strset_add(&st->owned_dirs, d))
			return; /* and so are its ancestors, already */
		char *slash = strrchr(d, '/');
		if (!slash) {
			strset_add(&st->owned_dirs, "");
			return;
		}
		*slash = 0;
	}
}

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
		if (dc->ok)
			own_dir_and_ancestors(st, dc->real);
	}
	char real[PATH_BUF], target[PATH_BUF];
	struct stat sb;
	if (!dc->ok || (size_t)snprintf(real, sizeof(real), "%s%s%s", dc->real, *dc->real ? "/" : "",
					base) >= sizeof(real) ||
	    fstatat(rootfd, real, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISDIR(sb.st_mode)) { /* listed by its package: not an application's */
		strset_add(&st->owned_dirs, real);
		return;
	}
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
	tree_walk(st->tree, rootfd, find_records, &records);
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
		own_dir_and_ancestors(st, dir); /* the dist-info directory is pip's, listed or not */
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

/* apk's database: blocks of "K:value" lines, one per package. */
static int load_apk(struct units_state *st, int rootfd, struct perr *err)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, "lib/apk/db", &ignored);
	if (dfd < 0)
		return 0; /* not an Alpine image */
	cleanup_free char *text = read_db_file(dfd, "installed", err);
	if (!text)
		return perr_wrap(err, "apk database /lib/apk/db/installed");
	size_t pkg = SIZE_MAX;
	char dir[PATH_BUF] = "";
	struct dir_cache dc = { .ok = false };
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] && line[1] != ':')
			continue;
		char path[PATH_BUF * 2];
		switch (line[0]) {
		case 'P': pkg = pkg_begin(st, xstrdup(line + 2), "alpine"); break;
		case 'F':
			snprintf(dir, sizeof(dir), "%s", line + 2);
			snprintf(path, sizeof(path), "/%s", dir);
			if (pkg != SIZE_MAX && *dir)
				pkg_own(st, pkg, path, rootfd, &dc);
			break;
		case 'R':
			snprintf(path, sizeof(path), "/%s%s%s", dir, *dir ? "/" : "", line + 2);
			if (pkg != SIZE_MAX)
				pkg_own(st, pkg, path, rootfd, &dc);
			break;
		}
	}
	return 0;
}

int pkgdb_load(struct units_state *st, int rootfd, unsigned which, struct perr *err)
{
	if ((which & PKGDB_DPKG) && load_dpkg(st, rootfd, err) < 0)
		return -1;
	if ((which & PKGDB_DIST_INFO) && load_dist_info(st, rootfd, err) < 0)
		return -1;
	if ((which & PKGDB_APK) && load_apk(st, rootfd, err) < 0)
		return -1;
	return 0;
}

size_t pkgdb_owner(const struct units_state *st, const char *path)
{
	return strindex_find(&st->owned_index, path, owned_key, st);
}

bool pkgdb_dir_owned(const struct units_state *st, const char *dir)
{
	return strset_has(&st->owned_dirs, dir);
}
