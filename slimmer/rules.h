/* Keep rules from the command line and from profiles, applied to a
 * keep-set: keep globs seed it, exclude globs filter what the probes
 * recorded, and units grow it to whole directories or whole packages
 * (Debian's dpkg database, pip's dist-info RECORDs) as soon as one of
 * their files is kept. Every path added names its rule and profile. */
#ifndef PARE_RULES_H
#define PARE_RULES_H

#include "slimmer/keepset.h"
#include "slimmer/keeplist.h"

struct rule {
	char *pattern;
	char *profile; /* NULL: the command line */
};

struct rule_list {
	struct rule *v;
	size_t n;
};

/* A package database in use, and the profile that asked for it (NULL:
 * the command line's --units). */
struct kind_rule {
	bool on;
	char *profile;
};

/* Application trees (apptree.c): a kept file no package database owns
 * belongs to the application, and the tree under its top-most unowned
 * ancestor directory is kept whole, up to MAX bytes. */
struct app_tree_rules {
	bool off;                /* --no-app-trees */
	uint64_t max;            /* --app-tree-max: bytes per tree */
	struct rule_list dirs;   /* --app-dir: trees named by hand (any owner) */
};
#define APP_TREE_MAX_DEFAULT (256ull << 20)

struct rules {
	struct rule_list keep, exclude, units;
	struct kind_rule kinds[UNIT__COUNT];
	struct app_tree_rules app;
	bool no_imports;         /* --no-import-closure */
};

void rules_init(struct rules *r);
void rules_free(struct rules *r);
/* LIST gets PATTERN from PROFILE (NULL for the command line). */
void rules_add(struct rule_list *list, const char *pattern, const char *profile);
/* A unit kind, from the command line's --units or a profile. */
void rules_add_kind(struct rules *r, enum unit_kind kind, const char *profile);
/* Every rule of every profile of SET. */
void rules_add_profiles(struct rules *r, const struct profile_set *set);
/* The exclude rule matching absolute PATH, or NULL. */
const struct rule *rules_excluded(const struct rules *r, const char *path);
/* Add what the keep rules name: literal paths as they are, globs by one
 * walk of the image under ROOTFD. */
void rules_seed(const struct rules *r, struct keepset *k, int rootfd);

/* A package (or unit directory) that rules_close() pulled in. */
struct pulled {
	char *kind;    /* "debian", "python", "unit" or "application" */
	char *name;    /* the package, or the unit directory */
	char *because; /* the kept path inside it that pulled it in */
	char *rule, *profile;
	size_t paths;  /* paths it added */
};

struct type_memo {
	char *key;
	mode_t mode; /* of what the path resolves to; 0: it does not */
	char *real;  /* the physical path it resolves to */
};

struct units_state {
	struct owned *owned;     /* package databases: path -> package */
	size_t n_owned;
	struct strindex owned_index;
	struct strset owned_dirs; /* directories of packages (pkgdb_dir_owned) */
	struct pkg *pkgs;
	size_t n_pkgs;
	bool loaded;
	struct strset trees_seen; /* application trees looked at */
	bool no_db_told;          /* the app-tree rule could not apply */
	struct strv py_path;      /* the image's Python search path (imports.c) */
	bool py_path_built;
	struct strset py_builtins; /* modules compiled into the interpreters */
	struct strset sources_scanned; /* Python and JavaScript sources whose imports were followed */
	struct strset dirs_seen; /* ancestors of kept files whose units were looked at */
	struct pulled *pulled;
	size_t n_pulled;
	struct tree_index *tree; /* the keep-set's, once rules_close() runs; NULL: walk */
	struct type_memo *memo;  /* the import resolver's questions about the tree (imports.c) */
	size_t n_memo, memo_cap;
	struct strindex memo_index;
};

void units_state_free(struct units_state *st);
/* What pulled in NAME (a unit directory, package or application tree of
 * KIND) because of BECAUSE, for the report. */
void units_note_pulled(struct units_state *st, const char *kind, const char *name,
		       const char *because, const char *rule, const char *profile, size_t paths);
/* keepset_close(), then units, repeated until nothing new comes in (a
 * package's files may need libraries of other packages). */
int rules_close(const struct rules *r, struct keepset *k, int rootfd, struct units_state *st,
		struct perr *err);

#endif
