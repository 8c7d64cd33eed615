#include "base/tree.h"
#include "base/util.h"

#include <string.h>

static void record(void *ctx, const char *rel, const struct stat *st)
{
	struct tree_index *ix = ctx;
	size_t len = strlen(rel) + 1;
	if (ix->names_len + len > ix->names_cap)
		ix->names = xrealloc(ix->names, ix->names_cap = 2 * (ix->names_len + len) + 4096);
	if (ix->n == ix->cap)
		ix->v = xrealloc(ix->v, (ix->cap = 2 * ix->cap + 1024) * sizeof(*ix->v));
	ix->v[ix->n++] = (struct tree_entry){ (uint32_t)ix->names_len, st->st_mode, (uint64_t)st->st_size };
	memcpy(ix->names + ix->names_len, rel, len);
	ix->names_len += len;
}

void tree_walk(struct tree_index *ix, int rootfd, tree_fn fn, void *ctx)
{
	if (!ix) {
		walk_tree(rootfd, fn, ctx);
		return;
	}
	if (!ix->built) {
		walk_tree(rootfd, record, ix);
		ix->built = true;
	}
	struct stat st;
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < ix->n; i++) {
		st.st_mode = ix->v[i].mode;
		st.st_size = (off_t)ix->v[i].size;
		fn(ctx, ix->names + ix->v[i].name, &st);
	}
}

void tree_index_free(struct tree_index *ix)
{
	free(ix->v);
	free(ix->names);
	memset(ix, 0, sizeof(*ix));
}
