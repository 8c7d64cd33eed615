/* Fuzz target: apply an arbitrary tar as a layer (twice, so the second
 * pass meets what the first planted) into a fresh root. Oracle, as in
 * libarchive's write_disk fuzzer: a sentinel directory beside the root
 * must never change. */
#define _GNU_SOURCE
#include "../../slimmer/apply.h"

#include <archive.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *top, *root, *sentinel_dir;

static void teardown(void)
{
	struct perr err;
	remove_tree_at(AT_FDCWD, top, &err);
}

static void setup(void)
{
	struct perr err;
	top = make_tempdir("pare-fuzz", &err);
	if (!top)
		abort();
	root = xasprintf("%s/root", top);
	sentinel_dir = xasprintf("%s/outside", top);
	atexit(teardown);
	mkdir(sentinel_dir, 0755);
	char *s = xasprintf("%s/sentinel", sentinel_dir);
	int fd = open(s, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	write_all(fd, "untouched", 9);
	close(fd);
	free(s);
}

static void check_sentinel(void)
{
	char *s = xasprintf("%s/sentinel", sentinel_dir);
	char buf[16] = "";
	struct stat st;
	int fd = open(s, O_RDONLY | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	if (n != 9 || memcmp(buf, "untouched", 9) || lstat(s, &st) < 0 || st.st_nlink != 1) {
		fprintf(stderr, "sentinel changed: escape from the root\n");
		abort();
	}
	free(s);
	/* Nothing may appear beside the sentinel or the root either. */
	char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1 && test $(ls -A '%s' | wc -l) -eq 2",
			      sentinel_dir, top);
	if (system(cmd) != 0) {
		fprintf(stderr, "new file outside the root\n");
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
