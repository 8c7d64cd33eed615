#include "cmd.h"
#include "../slimmer/apply.h"

static const char help[] =
	"usage: pare unpack [OPTIONS] REF DIR\n\n"
	"Apply all layers of REF, in order, into DIR (absent or empty). Whiteouts\n"
	"are honoured, every path stays inside DIR, blobs and diff_ids are verified\n"
	"while streaming; on any error DIR is removed again.\n\n"
	"options:\n" COMMON_HELP;

int cmd_unpack(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct common_opts co;
	struct imgref ref;
	struct perr err = { 0 };
	cleanup_image struct image *img = NULL;
	int c;
	common_init(&co);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return EXIT_OK;
		}
		int r = common_opt(&co, c, optarg);
		if (r)
			return r < 0 ? EXIT_USAGE : usage_error("unpack", "unknown option");
	}
	if (argc - optind != 2)
		return usage_error("unpack", "expected REF and DIR");
	if (imgref_parse(argv[optind], false, &ref, &err) < 0) {
		imgref_free(&ref);
		return report(&err);
	}
	int r = image_open(&ref, &co.open, &img, &err);
	imgref_free(&ref);
	if (r < 0)
		return report(&err);
	struct apply_opts ao = { .lim = co.open.lim, .privileged = geteuid() == 0,
				 .warn = warn_print, .ctx = "unpack", .layer_done = progress_layer };
	struct apply_stats st;
	if (image_unpack(img, argv[optind + 1], &ao, &st, &err) < 0) {
		perr_wrap(&err, "cannot unpack %s into '%s'", img->ref.text, argv[optind + 1]);
		return report(&err);
	}
	return EXIT_OK;
}
