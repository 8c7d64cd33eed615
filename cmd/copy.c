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
	struct common_opts co;
	struct imgref dst;
	struct perr err = { 0 };
	cleanup_image struct image *img = NULL;
	static const struct cmd_spec spec = { "copy", help, NULL, NULL, ARGS_PERMUTE, 2, "SRC and DST" };
	cleanup_args struct args a;
	int r = parse_args(&spec, argc, argv, &co, NULL, &a);
	if (r >= 0)
		return r;
	if (open_image(a.v[0], &co, &img))
		return EXIT_FAIL;
	if (imgref_parse(a.v[1], true, &dst, &err) < 0) {
		imgref_free(&dst);
		return report(&err);
	}
	struct progress p = { progress_layer, "copy" };
	r = image_copy(img, &dst, &p, &err);
	imgref_free(&dst);
	return r < 0 ? report(&err) : EXIT_OK;
}
