#include "cmd/runopts.h"

static const char help[] =
	"usage: pare run [OPTIONS] REF [--] [CMD [ARG...]]\n\n"
	"Run an image's program in pare's sandbox, as `docker run` would but without\n"
	"an engine and without tracing: the image unpacked (and cached) as the\n"
	"read-only lower layer of an overlay, private namespaces, Docker's default\n"
	"capabilities, no_new_privs, our init as pid 1. CMD replaces the image's cmd.\n"
	"Nothing is left behind when it ends. The exit status is the program's\n"
	"(128 + N when killed by signal N).\n\n"
	"options:\n" RUN_HELP COMMON_HELP;

int cmd_run(int argc, char **argv)
{
	static const struct option extra[] = { RUN_LONGOPTS, { 0 } };
	struct run_cmd rc;
	struct prepared p;
	struct run_result res;
	static const struct cmd_spec spec = { "run", help, extra, run_cmd_opt, ARGS_IMAGE_COMMAND, 1,
					      "an image", false };
	run_cmd_init(&rc);
	int r = run_cmd_parse(&spec, argc, argv, &rc, &rc);
	if (r >= 0)
		return r;
	r = run_prepare(&rc, &p);
	if (!r)
		r = run_execute(&rc, &p, TRACER_OFF, NULL, &res);
	if (!r) {
		if (res.timed_out)
			fprintf(stderr, "pare: run: timed out; the program got its stop signal\n");
		r = run_exit_code(&res);
	}
	run_cleanup(&p);
	run_cmd_free(&rc);
	return r;
}
