/* Fuzz target: apply an arbitrary tar as a layer (twice, so the second
 * pass meets what the first planted) into a fresh root. Oracle, as in
 * libarchive's write_disk fuzzer: a sentinel directory beside the root
 * must never change. */
#define _GNU_SOURCE
#include "image/apply.h"
#include "../unit/helpers.h"

#include <archive.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *top, *root, *sentinel_dir;

static void teardown(void)
{
	rm_rf(top);
}

static void setup(void)
{
	top = test_tempdir();
	root = xasprintf("%s/root", top);
	sentinel_dir = xasprintf("%s/outside", top);
	atexit(teardown);
	sentinel_setup(sentinel_dir);
}

static void check_sentinel(void)
{
	/* Nothing may appear beside the root either. */
	char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 2", top);
	if (!sentinel_intact(sentinel_dir) || system(cmd) != 0) {
		fprintf(stderr, "write outside the root\n");
		abort();
	}
	free(cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perr err;
	if (!top)
		setup();
	remove_tree_at(AT_FDCWD, root, &err);
	mkdir(root, 0755);
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct apply_opts o = { .lim = default_limits, .privileged = false };
	o.lim.max_entries = 1000;
	struct applier *ap;
	applier_new(rootfd, &o, &ap, &err);
	for (int pass = 0; pass < 2; pass++) {
		struct archive *a = archive_read_new();
		archive_read_support_format_tar(a);
		if (archive_read_open_memory(a, data, size) == ARCHIVE_OK)
			applier_apply_layer(ap, a, &err);
		archive_read_free(a);
	}
	applier_finish(ap, &err);
	applier_free(ap);
	close(rootfd);
	check_sentinel();
	return 0;
}
