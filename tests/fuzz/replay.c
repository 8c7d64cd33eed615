/* Replay main for the fuzz targets (crun's tests_libcrun_fuzzer.c idea):
 * `make check` runs every saved corpus file through the target, built
 * with the normal compiler. Arguments: files or directories. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	size_t got = fread(buf, 1, (size_t)n, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			printf("not ok %d - %s missing\n", ++count, argv[i]);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			run_file(argv[i]);
			printf("ok %d - %s\n", ++count, argv[i]);
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			run_file(path);
			printf("ok %d - %s\n", ++count, path);
		}
		if (d)
			closedir(d);
	}
	printf("1..%d\n", count);
	return count ? 0 : 1;
}
