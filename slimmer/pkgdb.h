/* Package databases (pkgdb.c): which package owns a path of the image.
 * Debian's dpkg lists, pip's dist-info RECORDs and Alpine's apk database,
 * read from the image as data; paths are stored by their physical place,
 * which is where kept paths live. */
#ifndef PARE_PKGDB_H
#define PARE_PKGDB_H

#include "slimmer/rules.h"

struct owned {
	char *path;   /* physical, relative to the root */
	size_t pkg;
};

struct pkg {
	char *name;
	const char *kind; /* "debian", "python" or "alpine" */
	size_t first, n;  /* its range in owned[] */
	bool pulled;
};

enum { PKGDB_DPKG = 1, PKGDB_DIST_INFO = 2, PKGDB_APK = 4 };

/* Load the databases WHICH names (PKGDB_*) into ST. A database the image
 * lacks is no error. */
int pkgdb_load(struct units_state *st, int rootfd, unsigned which, struct perr *err);
/* The index in st->owned of PATH's owner entry, or SIZE_MAX. */
size_t pkgdb_owner(const struct units_state *st, const char *path);
/* Whether directory DIR (physical, relative) is a package's: listed by
 * dpkg, or holding a packaged file at any depth. */
bool pkgdb_dir_owned(const struct units_state *st, const char *dir);

#endif
