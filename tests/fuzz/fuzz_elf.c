/* Fuzz target: the keep-set closure on a corrupt ELF file in an image
 * (PT_INTERP, DT_NEEDED, DT_RPATH/DT_RUNPATH with $ORIGIN, read with
 * libelf): the input becomes /bin/prog of a small root, and the closure
 * runs over it as it would over a traced binary. */
#define _GNU_SOURCE
#include "slimmer/keepset.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rootfd = -1;
static char root[64];

static void remove_root(void)
{
	static const char *const files[] = { "bin/prog", "lib/libc.so.6", "etc/ld.so.conf" };
	static const char *const dirs[] = { "bin", "lib", "etc", "" };
	char p[160];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, files[i]);
		unlink(p);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		rmdir(p);
	}
}

static void make_root(void)
{
	snprintf(root, sizeof(root), "/tmp/pare-fuzz-elf-%d", (int)getpid());
	char p[128];
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/bin", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/lib", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf", root);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs("/lib\ninclude /etc/ld.so.conf.d/*.conf\n", f);
		fclose(f);
	}
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	atexit(remove_root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rootfd < 0)
		make_root();
	char p[128];
	snprintf(p, sizeof(p), "%s/bin/prog", root);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	/* A library the input may name, so lookups find something real. */
	snprintf(p, sizeof(p), "%s/lib/libc.so.6", root);
	if (access(p, F_OK) != 0 && (fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
		if (write(fd, data, size < 64 ? size : 64) < 0)
			(void)0;
		close(fd);
	}
	struct keepset k;
	struct perr err;
	keepset_init(&k);
	keepset_add(&k, "/bin/prog", KEEP_TRACED, NULL);
	keepset_close(&k, rootfd, &err);
	keepset_free(&k);
	return 0;
}
