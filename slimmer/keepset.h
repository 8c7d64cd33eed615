/* The keep-set: which paths of an unpacked image a slim image holds, each
 * with the reasons it is there. Seeds come from traces, the command, keep
 * rules; keepset_close() adds their closure, all resolved inside the image
 * root and never by running anything from the image:
 *  - every symlink on the way to a kept path, component by component, and
 *    the path it leads to;
 *  - every parent directory;
 *  - for ELF files, PT_INTERP and the DT_NEEDED libraries found as ld.so
 *    would (DT_RPATH, DT_RUNPATH with $ORIGIN, /etc/ld.so.conf(.d), the
 *    default directories), transitively, read with libelf;
 *  - for scripts, the #! interpreter;
 *  - every symlink of the image that resolves to a kept path (fanotify
 *    reports opened files by their resolved path, so the names a program
 *    used to reach them are recovered here). */
#ifndef PARE_KEEPSET_H
#define PARE_KEEPSET_H

#include <sys/types.h>

#include "base/tree.h"
#include "base/util.h"

enum keep_why {
	KEEP_TRACED,      /* recorded by the tracer (OF = the ops) */
	KEEP_COMMAND,     /* the entrypoint/cmd executable */
	KEEP_WORKDIR,
	KEEP_ALWAYS,      /* small files almost every program needs */
	KEEP_RULE,        /* --keep or a profile's keep (RULE, PROFILE) */
	KEEP_UNIT,        /* in a unit directory (RULE, PROFILE) holding kept OF */
	KEEP_PACKAGE,     /* of a package (RULE = "debian package NAME") owning kept OF */
	KEEP_SYMLINK,     /* a symlink on the way to OF */
	KEEP_LINK_TARGET, /* what symlink OF resolves to */
	KEEP_LINK_TO,     /* a symlink resolving to kept OF */
	KEEP_PARENT,      /* a parent directory of OF */
	KEEP_INTERP,      /* PT_INTERP of OF */
	KEEP_NEEDED,      /* DT_NEEDED of OF */
	KEEP_SHEBANG,     /* #! interpreter of OF */
	KEEP_APP,         /* in the application tree OF (RULE: how it was found) */
	KEEP_IMPORT,      /* a Python module OF imports */
	KEEP__COUNT
};
extern const char *const keep_why_names[KEEP__COUNT];

struct keep_reason {
	enum keep_why why;
	char *of;      /* a path (or the ops, for KEEP_TRACED) */
	char *rule;    /* the rule, glob or package behind it */
	char *profile; /* the profile the rule came from; NULL for the command line */
};

struct keep_entry {
	char *path;              /* relative to the root: "usr/bin/python3"; "" is the root */
	struct keep_reason *r;
	size_t nr;
	char type;               /* 'f', 'd', 'l', 'o', 0 = not in the image */
	bool closed;
	bool units_done;         /* looked at by rules_close() */
};

struct keepset {
	struct keep_entry *e;
	size_t n, cap;
	struct strindex index;   /* path -> position in e */
	struct strv lib_dirs;    /* ld.so's search list, read from the image once */
	bool lib_dirs_read;
	struct strv links;       /* the image's symlinks, listed once (keepset_close() runs
				  * again as units grow the set) */
	bool links_read;
	struct tree_index tree;  /* the image's tree, walked once for every whole-tree pass */
	/* The reverse pass (the image's symlinks that resolve to a kept
	 * path) leaves out those this says no to, given "/"+path: they are a
	 * convenience, nothing kept needs them, and the user's --exclude
	 * must not come back through it. NULL: none left out. */
	bool (*skip_link)(const void *ctx, const char *abs);
	const void *skip_link_ctx;
	/* What the closure could not follow (an unreadable ELF file, a
	 * library found nowhere): the slim keeps going, the report says so. */
	struct strv warnings;
	size_t warnings_dropped;  /* past KEEPSET_MAX_WARNINGS */
};
#define KEEPSET_MAX_WARNINGS 100

void keepset_init(struct keepset *k);
void keepset_free(struct keepset *k);
/* Add PATH (absolute or relative to the root; lexically cleaned) with a
 * reason. Returns true when the path is new. */
bool keepset_add(struct keepset *k, const char *path, enum keep_why why, const char *of);
/* The same with the rule and profile behind the reason. */
/* A warning for the report (at most KEEPSET_MAX_WARNINGS, no repeats). */
void keepset_warn(struct keepset *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool keepset_add_rule(struct keepset *k, const char *path, enum keep_why why, const char *of,
		      const char *rule, const char *profile);
const struct keep_entry *keepset_find(const struct keepset *k, const char *path);
/* Close the set over ROOTFD (a pristine unpacked image). Paths that do not
 * exist in the image are dropped from the set. */
int keepset_close(struct keepset *k, int rootfd, struct perr *err);
/* The kept paths, sorted, relative (the root itself excluded): what
 * layer_build() takes. */
void keepset_paths(const struct keepset *k, struct strv *out);
/* Resolve PATH inside ROOTFD component by component (the last one too
 * when FOLLOW) into its physical relative path REAL (4097 bytes). */
int keepset_resolve(int rootfd, const char *path, bool follow, char *real);
/* Whether PATH, resolved so (symlinks followed, inside the root), is of
 * TYPE (S_IFREG, S_IFDIR): REAL gets its physical path. */
bool keepset_is_type(int rootfd, const char *path, mode_t type, char *real);
/* Drop what resolving remembered of the last tree asked about (done by
 * keepset_free too): for a caller about to change or replace a tree at
 * the same place. */
void keepset_forget_tree(void);

#endif
