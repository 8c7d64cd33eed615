/* The tree index: its replays are the walk itself, in the same order,
 * with the same types and sizes, however often they are replayed. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "base/tree.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static void list(void *ctx, const char *rel, const struct stat *st)
{
	struct strv *v = ctx;
	strv_push(v, xasprintf("%s %o %lld", rel, (unsigned)st->st_mode, S_ISREG(st->st_mode) ? (long long)st->st_size : 0));
}

static bool same(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

int main(void)
{
	char dir[] = "/tmp/pare-tree.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	mkdirat(root, "usr", 0755);
	mkdirat(root, "usr/lib", 0700);
	int fd = openat(root, "usr/lib/five", O_CREAT | O_WRONLY, 0640);
	(void)!write(fd, "12345", 5);
	close(fd);
	(void)!symlinkat("lib/five", root, "usr/link");
	mkfifoat(root, "fifo", 0600);
	for (int i = 0; i < 300; i++) { /* past the first allocation of each array */
		char name[32];
		snprintf(name, sizeof(name), "usr/f%03d", i);
		close(openat(root, name, O_CREAT | O_WRONLY, 0644));
	}
	struct strv walked = { 0 }, first = { 0 }, again = { 0 }, alone = { 0 };
	walk_tree(root, list, &walked);
	struct tree_index ix = { 0 };
	tree_walk(&ix, root, list, &first);
	unlinkat(root, "fifo", 0); /* the replay reads the index, not the tree */
	tree_walk(&ix, root, list, &again);
	tree_walk(NULL, root, list, &alone);
	ok(walked.n == 305 && same(&walked, &first), "the first replay is the walk (%zu entries)", walked.n);
	ok(same(&first, &again), "a second replay is the first, whatever the tree did since");
	ok(alone.n == 304, "no index: a walk of its own");
	tree_index_free(&ix);
	strv_free(&walked);
	strv_free(&first);
	strv_free(&again);
	strv_free(&alone);
	close(root);
	char *rm = xasprintf("rm -rf %s", dir);
	(void)!system(rm);
	free(rm);
	return tap_done();
}
