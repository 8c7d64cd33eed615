/* The static import closure of Python and JavaScript sources (imports.c),
 * as the ELF closure follows DT_NEEDED: a kept module keeps what it
 * imports, resolved against the image's own interpreter paths (Python's
 * standard library, lib-dynload, dist-packages, site-packages; Node's
 * node_modules and global folders, jsresolve.c) as the runtime would.
 * Library modules contribute what importing them executes (their
 * module-level imports, transitively); application files (no package
 * owns them) contribute every import, including those inside functions,
 * which is where lazily imported modules hide. */
#ifndef PARE_IMPORTS_H
#define PARE_IMPORTS_H

#include <jansson.h>

#include "slimmer/pyscan.h"
#include "slimmer/rules.h"

/* The imports of every kept Python source not scanned yet (of those whose
 * imports are followed): each resolved module kept. Returns the paths it
 * added; rules_close() calls it until nothing new comes in. */
size_t imports_close(const struct rules *r, struct keepset *k, struct units_state *st, int rootfd);

/* One import of FILE resolved: the module files and package __init__.py
 * files that importing it loads, into OUT (relative, physical). True when
 * its first part was found (a package, module or namespace package). */
bool imports_resolve(struct units_state *st, int rootfd, const char *file, bool app,
		     const struct py_import *im, struct strv *out);

/* What `pare profile imports` shows for PATH (absolute, in the image):
 * {"path", "file" (physical), "application", "imports": [{"module",
 * "level", "names", "in_function", "call", "line", "loads": [paths]}],
 * "computed": [lines]}. ST holds the loaded package databases. */
int imports_explain(struct units_state *st, int rootfd, const char *path, json_t **out, struct perr *err);

#endif
