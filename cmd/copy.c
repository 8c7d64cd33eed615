#include "cmd/cmd.h"
#include "image/ops.h"

static const char help[] =
	"usage: pare copy [OPTIONS] SRC DST\n\n"
	"Copy an image between transports (oci:, oci-archive:, docker-archive:,\n"
	"docker-daemon:, docker://).\n"
	"Layer blobs stay byte-identical unless DST needs them uncompressed\n"
	"(docker-archive); the config is copied byte for byte, so the image ID is\n"
	"kept. Every blob is verified on the way. The output is written under a\n"
	"temporary name and renamed into place when complete. With --compress, layers\n"
	"whose compression (or level) differs are compressed anew; their diff_ids and\n"
	"so the config stay the same.\n\n"
	"options:\n" COMPRESS_HELP JOBS_HELP COMMON_HELP SIDE_HELP;

struct copy_cmd {
	struct common_opts co;
	struct compress_spec compress;
	bool have_compress;
	int jobs;
};

static int copy_opt(void *ctx, int c, const char *arg)
{
	struct copy_cmd *cc = ctx;
	if (c == OPT_JOBS)
		return jobs_opt(arg, &cc->jobs);
	if (c != OPT_COMPRESS)
		return 1;
	cc->have_compress = true;
	return compress_opt(arg, &cc->compress);
}

int cmd_copy(int argc, char **argv)
{
	static const struct option opts[] = { { "compress", required_argument, NULL, OPT_COMPRESS },
						{ "jobs", required_argument, NULL, OPT_JOBS },
						{ 0 } };
	struct copy_cmd cc = { 0 };
	struct imgref dst;
	struct perr err = { 0 };
	cleanup_image struct image *img = NULL;
	static const struct cmd_spec spec = { "copy", help, opts, copy_opt, ARGS_PERMUTE, 2, "SRC and DST",
					      true };
	cleanup_args struct args a;
	int r = parse_args(&spec, argc, argv, &cc.co, &cc, &a);
	if (r >= 0)
		return r;
	if (imgref_parse(a.v[1], true, &dst, &err) < 0) {
		imgref_free(&dst);
		return report(&err);
	}
	dst.reg = cc.co.dest;
	cc.compress.threads = cc.jobs;
	const struct compress_spec *comp = cc.have_compress ? &cc.compress : NULL;
	if ((r = compress_fits("copy", comp, &dst)) || open_image(a.v[0], &cc.co, &img)) {
		imgref_free(&dst);
		return r ? r : EXIT_FAIL;
	}
	struct progress p = { progress_layer, "copy" };
	r = image_copy(img, &dst, comp, &p, &err);
	imgref_free(&dst);
	return r < 0 ? report(&err) : EXIT_OK;
}
