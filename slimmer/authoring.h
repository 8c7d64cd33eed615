/* Writing and checking profiles against an image: profiles from traced
 * paths (whole directories compacted into globs), which rules of a set
 * match what in an image, and one profile merged from several. The
 * `pare profile` commands are thin layers over these. */
#ifndef PARE_AUTHORING_H
#define PARE_AUTHORING_H

#include "slimmer/keeplist.h"

/* A keep rule made from traced paths, and how many image paths it covers. */
struct compacted {
	char *rule;
	size_t covers;
};

/* Keep rules for the absolute PATHS (as traced) over the image at ROOTFD:
 * paths missing from the image and directories are left out; a directory
 * whose entries were all seen (subdirectories likewise, symlinks read
 * through to a seen file) and which holds at least MIN_FILES becomes
 * DIR followed by a "**" component. Rules come sorted by path. FILES gets
 * the number of files seen. */
void profile_compact(int rootfd, const struct strv *paths, size_t min_files,
		     struct compacted **out, size_t *n, size_t *files);
void compacted_free(struct compacted *v, size_t n);

/* A rule of a profile set and how many paths of an image it matches. */
struct rule_match {
	const char *profile, *list, *rule; /* borrowed from the set */
	size_t matches;
};
/* Count, in one walk of the image at ROOTFD, the matches of every rule of
 * SET: globs by their paths (units globs by their directories), literal
 * paths and package databases by their presence. */
void profile_set_matches(const struct profile_set *set, int rootfd, struct rule_match **out,
			 size_t *n);

/* One profile with the rules of PROFILES, each once and in order; includes
 * of the merged profiles themselves are dropped. NAME may be NULL (the names
 * joined with '-'), DESCRIPTION too. */
void profile_merge(const struct profile *profiles, size_t n, const char *name,
		   const char *description, struct profile *out);

#endif
