#include "cmd/cmd.h"
#include "image/apply.h"

static const char help[] =
	"usage: pare unpack [OPTIONS] REF DIR\n\n"
	"Apply all layers of REF, in order, into DIR (absent or empty). Whiteouts\n"
	"are honoured, every path stays inside DIR, blobs and diff_ids are verified\n"
	"while streaming; on any error DIR is removed again.\n\n"
	"options:\n" COMMON_HELP;

int cmd_unpack(int argc, char **argv)
{
	struct common_opts co;
	struct perr err = { 0 };
	cleanup_image struct image *img = NULL;
	static const struct cmd_spec spec = { "unpack", help, NULL, NULL, ARGS_PERMUTE, 2, "REF and DIR", false };
	cleanup_args struct args a;
	int r = parse_args(&spec, argc, argv, &co, NULL, &a);
	if (r >= 0)
		return r;
	if (open_image(a.v[0], &co, &img))
		return EXIT_FAIL;
	struct apply_opts ao = { .lim = co.open.lim, .privileged = geteuid() == 0,
				 .warn = warn_print, .ctx = "unpack", .layer_done = progress_layer };
	struct apply_stats st;
	if (image_unpack(img, a.v[1], &ao, &st, &err) < 0) {
		perr_wrap(&err, "cannot unpack %s into '%s'", img->ref.text, a.v[1]);
		return report(&err);
	}
	return EXIT_OK;
}
