#include "cmd.h"
#include "../slimmer/ops.h"

static const char help[] =
	"usage: pare copy [OPTIONS] SRC DST\n\n"
	"Copy an image between transports (oci:, docker-archive:, docker-daemon:).\n"
	"Layer blobs stay byte-identical unless DST needs them uncompressed\n"
	"(docker-archive); the config is copied byte for byte, so the image ID is\n"
	"kept. Every blob is verified on the way. The output is written under a\n"
	"temporary name and renamed into place when complete.\n\n"
	"options:\n" COMMON_HELP;

int cmd_copy(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct common_opts co;
	struct imgref src, dst;
	struct perr err = { 0 };
	cleanup_image struct image *img = NULL;
	int c, r;
	common_init(&co);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return EXIT_OK;
		}
		r = common_opt(&co, c, optarg);
		if (r)
			return r < 0 ? EXIT_USAGE : usage_error("copy", "unknown option");
	}
	if (argc - optind != 2)
		return usage_error("copy", "expected SRC and DST");
	if (imgref_parse(argv[optind], false, &src, &err) < 0) {
		imgref_free(&src);
		return report(&err);
	}
	r = image_open(&src, &co.open, &img, &err);
	imgref_free(&src);
	if (r < 0)
		return report(&err);
	if (imgref_parse(argv[optind + 1], true, &dst, &err) < 0) {
		imgref_free(&dst);
		return report(&err);
	}
	struct progress p = { progress_layer, "copy" };
	r = image_copy(img, &dst, &p, &err);
	imgref_free(&dst);
	return r < 0 ? report(&err) : EXIT_OK;
}
