#define _GNU_SOURCE
/* keepset ROOT PATH...: the closure of PATHs in the unpacked image ROOT,
 * one "path<TAB>reason of, ..." line per kept path (for tests). */
#include <fcntl.h>
#include <stdio.h>

#include "../../slimmer/keepset.h"

int main(int argc, char **argv)
{
	struct keepset k;
	struct perr err;
	if (argc < 2)
		return 2;
	int rootfd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return 1;
	keepset_init(&k);
	for (int i = 2; i < argc; i++)
		keepset_add(&k, argv[i], KEEP_TRACED, NULL);
	if (keepset_close(&k, rootfd, &err) < 0) {
		fprintf(stderr, "keepset: %s\n", err.msg);
		return 1;
	}
	struct strv paths = { 0 };
	keepset_paths(&k, &paths);
	for (size_t i = 0; i < paths.n; i++) {
		const struct keep_entry *e = keepset_find(&k, paths.v[i]);
		printf("/%s\t%c", paths.v[i], e->type);
		for (size_t r = 0; r < e->nr; r++)
			printf("%s%s%s%s", r ? ", " : "\t", keep_why_names[e->r[r].why],
			       e->r[r].of ? " /" : "", e->r[r].of ? e->r[r].of : "");
		putchar('\n');
	}
	strv_free(&paths);
	keepset_free(&k);
	close(rootfd);
	return 0;
}
