/* Keep-list profiles: JSON files that say "keep these too", parsed
 * strictly into typed structs here and nowhere else. The format is in
 * profiles/README.md: name, description, include (other profiles by name),
 * keep and exclude (absolute globs, "**" for any depth) and units.
 *
 * `units` entries are either directory globs (a directory matching one is
 * kept whole as soon as any file inside it is kept) or the name of a
 * package database (unit_kinds below). A profile is found by name in a
 * search path (the user's directories, then the built-in profiles compiled
 * from the JSON files in profiles/), or read from a file. */
#ifndef PARE_KEEPLIST_H
#define PARE_KEEPLIST_H

#include "base/util.h"

/* Package databases a `units` entry may name. */
enum unit_kind { UNIT_DEBIAN, UNIT_DEBIAN_DOCS, UNIT_DIST_INFO, UNIT__COUNT };
extern const char *const unit_kind_names[UNIT__COUNT];
/* The kind named NAME, or -1. */
int unit_kind_parse(const char *name);

struct profile {
	char *name, *description;
	char *source;  /* the file it came from, or "built-in" */
	char *dir;     /* directory of that file, for includes by path; NULL for built-ins */
	struct strv include, keep, exclude, units;
};

/* Parse TEXT strictly: unknown keys, wrong types, relative or invalid
 * globs and unknown unit kinds are errors naming SOURCE and the key.
 * Patterns starting with "**" get a leading "/". */
int profile_parse(const char *text, size_t len, const char *source, struct profile *out,
		  struct perr *err);
void profile_free(struct profile *p);
/* Canonical JSON of P (keys in the documented order, empty lists left out). */
char *profile_to_json(const struct profile *p);

/* The built-in profiles (generated from profiles/ at build time). */
struct builtin_profile {
	const char *name, *json;
};
extern const struct builtin_profile builtin_profiles[];
extern const size_t n_builtin_profiles;

/* Where profiles are found by name: each directory in DIRS (NAME.json),
 * then the built-ins. */
struct profile_path {
	struct strv dirs;
};
/* --profile-dir DIR (may be NULL), then ~/.config/pare/profiles (or
 * $XDG_CONFIG_HOME/pare/profiles). */
void profile_path_init(struct profile_path *pp, const char *profile_dir);
void profile_path_free(struct profile_path *pp);
/* Is REF a file (contains '/' or ends in .json) rather than a name? */
bool profile_ref_is_file(const char *ref);
/* Load one profile by name or file, without its includes. */
int profile_load(const struct profile_path *pp, const char *ref, struct profile *out,
		 struct perr *err);

/* Profiles with their includes, each once, includes before includers. */
struct profile_set {
	struct profile *p;
	size_t n;
};
/* Load REF and everything it includes into SET (already-loaded names are
 * skipped); an include cycle is an error that names the chain. */
int profile_set_add(struct profile_set *set, const struct profile_path *pp, const char *ref,
		    struct perr *err);
void profile_set_free(struct profile_set *set);

/* An entry of `pare profile list`. */
struct profile_info {
	char *name, *description, *source;
	bool shadowed; /* an earlier directory has the same name */
};
/* Every profile on the path, in search order; unreadable files are errors. */
int profile_list(const struct profile_path *pp, struct profile_info **out, size_t *n,
		 struct perr *err);
void profile_info_free(struct profile_info *v, size_t n);

#endif
