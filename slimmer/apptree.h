/* Application trees (apptree.c): slim the distribution, keep the
 * application. A kept file that no package database owns belongs to the
 * application or its data; the tree under its top-most unowned ancestor
 * directory (/app, /srv/site, /var/lib/postgresql/15/main, /opt/tool) is
 * kept whole, so that what the probes never touched (lazily loaded
 * templates, modules, data files) is there too. */
#ifndef PARE_APPTREE_H
#define PARE_APPTREE_H

#include "slimmer/rules.h"
#include "tracer/trace.h"

bool app_trees_on(const struct rules *r);
/* Whether directory DIR (physical, relative) is the distribution's: listed
 * by a package, holding a packaged file, or an FHS directory. */
bool app_dir_is_distributions(const struct units_state *st, const char *dir);
/* Whether unowned PATH is in an application tree (not a generated one). */
bool app_file(const struct units_state *st, const char *path);
/* The application tree holding kept PATH (physical, relative), if it is
 * one not looked at yet: kept whole (or, over the cap, a warning). Returns
 * the paths it added. */
size_t app_tree_expand(const struct rules *r, struct keepset *k, struct units_state *st, int rootfd,
		       const char *path);

/* After the closure, warnings for what stays out: a directory a probe
 * wrote in whose other entries are dropped (a database's data directory
 * half kept is a corrupt image in waiting), and application trees no
 * probe touched, with their sizes. */
void app_trees_check(const struct rules *r, struct keepset *k, const struct units_state *st,
		     const struct trace *t, int rootfd);

#endif
