/* A tree's entries from one walk, for the several whole-tree passes of a
 * slim (its size, the symlinks for the reverse pass, keep globs, dist-info
 * RECORDs, application trees): at 40,000 entries each walk costs a tenth
 * of a second of getdents and fstatat. The tree must not change while the
 * index is in use; a slim's rootfs does not. */
#ifndef PARE_TREE_H
#define PARE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct tree_entry {
	uint32_t name; /* offset in names */
	uint32_t mode;
	uint64_t size;
};

struct tree_index {
	bool built;
	struct tree_entry *v;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
};

typedef void (*tree_fn)(void *ctx, const char *rel, const struct stat *st);

/* walk_tree(ROOTFD, FN, CTX), in the same order, from IX: walked the first
 * time, replayed after. FN's stat holds st_mode and st_size only. IX NULL:
 * a walk of its own. */
void tree_walk(struct tree_index *ix, int rootfd, tree_fn fn, void *ctx);
void tree_index_free(struct tree_index *ix);

#endif
