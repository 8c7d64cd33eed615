#include "cmd.h"

#include <stdarg.h>
#include <string.h>

#define MAX_LONGOPTS 64

void common_init(struct common_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->open.lim = default_limits;
}

static int bad_value(const char *opt, const char *arg)
{
	fprintf(stderr, "pare: invalid value '%s' for --%s\n", arg, opt);
	return -1;
}

int common_opt(struct common_opts *co, int c, const char *arg)
{
	struct limits *l = &co->open.lim;
	switch (c) {
	case OPT_MAX_BYTES:
		return parse_size(arg, &l->max_bytes) < 0 ? bad_value("max-bytes", arg) : 0;
	case OPT_MAX_ENTRIES:
		return parse_u64(arg, &l->max_entries) < 0 ? bad_value("max-entries", arg) : 0;
	case OPT_MAX_PATH:
		if (parse_u64(arg, &l->max_path) < 0 || l->max_path == 0 || l->max_path > 8000)
			return bad_value("max-path", arg);
		return 0;
	case OPT_MAX_JSON:
		return parse_size(arg, &l->max_json) < 0 ? bad_value("max-json", arg) : 0;
	case OPT_MAX_DEPTH:
		return parse_u64(arg, &l->max_depth) < 0 ? bad_value("max-depth", arg) : 0;
	case OPT_PLATFORM:
		co->open.platform = arg;
		return 0;
	default:
		return 1;
	}
}

int report(const struct perr *err)
{
	fflush(stdout);
	fprintf(stderr, "pare: %s\n", err->msg);
	return EXIT_FAIL;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pare: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(Hint: see 'pare %s --help')\n", cmd);
	return EXIT_USAGE;
}

void progress_layer(void *ctx, size_t idx, size_t n)
{
	const char *what = ctx;
	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r%s: layer %zu/%zu", what, idx + 1, n);
	if (idx + 1 == n)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

void warn_print(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "pare: warning: %s\n", msg);
}

const char *human_size(uint64_t n, char *buf)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

bool parse_args_permute;

int parse_args(const char *cmd, int argc, char **argv, const char *help,
	       const struct option *extra, int (*on_extra)(struct common_opts *co, int c),
	       struct common_opts *co, int nargs, const char *args_desc)
{
	static const struct option shared[] = { COMMON_LONGOPTS };
	struct option longopts[MAX_LONGOPTS] = { 0 };
	size_t n = 0;
	int c;
	for (size_t i = 0; i < ARRAY_SIZE(shared); i++)
		longopts[n++] = shared[i];
	for (; extra && extra->name && n + 1 < MAX_LONGOPTS; extra++)
		longopts[n++] = *extra;
	/* Short forms come from the table; with a variable argument count the
	 * arguments end at the first non-option ("+"): they are a command. */
	char shorts[64];
	size_t ns = 0;
	if (nargs < 0 && !parse_args_permute)
		shorts[ns++] = '+';
	shorts[ns++] = 'h';
	for (size_t i = 0; i < n && ns + 3 < sizeof(shorts); i++)
		if (longopts[i].val > ' ' && longopts[i].val < 127 && longopts[i].val != 'h') {
			shorts[ns++] = (char)longopts[i].val;
			if (longopts[i].has_arg == required_argument)
				shorts[ns++] = ':';
		}
	shorts[ns] = 0;
	common_init(co);
	opterr = 0; /* one message, ours */
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return EXIT_OK;
		}
		int r = common_opt(co, c, optarg);
		if (r == 1 && on_extra)
			r = on_extra(co, c);
		if (r < 0)
			return EXIT_USAGE;
		if (r)
			/* getopt sets optopt for a known option missing its value. */
			return usage_error(cmd, optopt ? "option '%s' needs a value or is unknown"
						       : "unknown option '%s'",
					   argv[optind - 1]);
	}
	if (nargs >= 0 ? argc - optind != nargs : argc - optind < -nargs)
		return usage_error(cmd, "expected %s", args_desc);
	return -1;
}

int open_image(const char *text, const struct common_opts *co, struct image **img)
{
	struct imgref ref;
	struct perr err = { 0 };
	int r = imgref_parse(text, false, &ref, &err);
	if (r == 0)
		r = image_open(&ref, &co->open, img, &err);
	imgref_free(&ref);
	return r < 0 ? report(&err) : 0;
}
