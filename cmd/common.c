#define _GNU_SOURCE
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define MAX_LONGOPTS 128

void common_init(struct common_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->open.lim = default_limits;
	co->all.on_bytes = progress_bytes;
	co->open.reg = co->dest = co->all;
}

static int bad_value(const char *opt, const char *arg)
{
	fprintf(stderr, "pare: invalid value '%s' for --%s\n", arg, opt);
	return -1;
}

/* What one side gets: its own flags over the shared ones. */
static struct registry_opts reg_merge(const struct registry_opts *all, const struct registry_opts *side)
{
	struct registry_opts o = *all;
	if (side->creds)
		o.creds = side->creds;
	if (side->authfile)
		o.authfile = side->authfile;
	if (side->cert_dir)
		o.cert_dir = side->cert_dir;
	if (side->tls_verify != TLS_DEFAULT)
		o.tls_verify = side->tls_verify;
	return o;
}

static int tls_verify_opt(const char *name, const char *arg, enum tls_verify *out)
{
	if (!arg || !strcmp(arg, "true") || !strcmp(arg, "1"))
		*out = TLS_VERIFY;
	else if (!strcmp(arg, "false") || !strcmp(arg, "0"))
		*out = TLS_NO_VERIFY;
	else
		return bad_value(name, arg);
	return 0;
}

/* The registry options, shared (SIDES 0), --src-* (1), --dest-* (2). */
static int registry_opt(struct common_opts *co, int c, const char *arg)
{
	static const char *const names[] = { "creds", "authfile", "cert-dir", "tls-verify" };
	int base = c >= OPT_DEST_CREDS ? OPT_DEST_CREDS : c >= OPT_SRC_CREDS ? OPT_SRC_CREDS : OPT_CREDS;
	struct registry_opts *o = base == OPT_DEST_CREDS ? &co->dest_only : base == OPT_SRC_CREDS ? &co->src_only : &co->all;
	switch (c - base) {
	case 0:
		o->creds = arg;
		return *arg && *arg != ':' ? 0 : bad_value(names[0], arg);
	case 1:
		o->authfile = arg;
		return 0;
	case 2:
		o->cert_dir = arg;
		return 0;
	default:
		return tls_verify_opt(names[3], arg, &o->tls_verify);
	}
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
	case OPT_MAX_EXPANSION:
		return parse_u64(arg, &l->max_expansion) < 0 ? bad_value("max-expansion", arg) : 0;
	case OPT_PLATFORM:
		co->open.platform = arg;
		return 0;
	case OPT_CREDS ... OPT_DEST_TLS_VERIFY:
		return registry_opt(co, c, arg);
	default:
		return 1;
	}
}

int jobs_opt(const char *arg, int *out)
{
	uint64_t v;
	if (parse_u64(arg, &v) < 0 || v < 1 || v > 16) {
		fprintf(stderr, "pare: invalid --jobs '%s': a number of threads, 1 to 16\n", arg);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int compress_opt(const char *arg, struct compress_spec *out)
{
	struct perr err;
	if (compress_spec_parse(arg, out, &err) < 0) {
		fprintf(stderr, "pare: invalid --compress %s\n", err.msg);
		return -1;
	}
	return 0;
}

int compress_fits(const char *cmd, const struct compress_spec *c, const struct imgref *dst)
{
	if (!c || c->comp == COMP_NONE || (dst->transport != T_DOCKER_ARCHIVE && dst->transport != T_DOCKER_DAEMON))
		return 0;
	return usage_error(cmd, "%s layers are stored uncompressed, as docker writes them; --compress %s "
				"applies to oci:, oci-archive: and docker:// outputs", transport_name(dst->transport), compression_name(c->comp));
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
	fprintf(stderr, "\r%s: layer %zu/%zu\033[K", what, idx + 1, n);
	if (idx + 1 == n)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

void progress_bytes(void *ctx, const char *verb, const char *digest, uint64_t done, uint64_t total)
{
	static struct timespec last;
	struct timespec now;
	char a[32], b[32];
	(void)ctx;
	if (!isatty(STDERR_FILENO))
		return;
	bool end = total && done >= total;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
	if (!end && ms < 100)
		return;
	last = now;
	const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
	if (end)
		fputs("\r\033[K", stderr);
	else if (total)
		fprintf(stderr, "\r%s %.12s: %s / %s (%u%%)\033[K", verb, hex, human_size(done, a), human_size(total, b),
			(unsigned)(done * 100 / total));
	else
		fprintf(stderr, "\r%s %.12s: %s\033[K", verb, hex, human_size(done, a));
	fflush(stderr);
}

void progress_wait(void *ctx, unsigned port, uint64_t waited_ms)
{
	if (!isatty(STDERR_FILENO))
		return;
	if (port)
		fprintf(stderr, "\r%s: waiting for port %u to accept a connection (%llu s)\033[K",
			(const char *)ctx, port, (unsigned long long)(waited_ms / 1000));
	else
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

void warn_print(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "pare: warning: %s\n", msg);
}

void args_free(struct args *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* getopt's short option string from the table: "-" (every argument
 * returned in order, code 1) or "+" (stop at the first argument). */
static void short_opts(const struct option *lo, size_t n, char plus_or_minus, char *out, size_t cap)
{
	size_t ns = 0;
	out[ns++] = plus_or_minus;
	out[ns++] = 'h';
	for (size_t i = 0; i < n && ns + 3 < cap; i++)
		if (lo[i].val > ' ' && lo[i].val < 127 && lo[i].val != 'h') {
			out[ns++] = (char)lo[i].val;
			if (lo[i].has_arg == required_argument)
				out[ns++] = ':';
		}
	out[ns] = 0;
}

static int unknown_option(const struct cmd_spec *spec, char **argv, const struct args *a)
{
	/* After the image, an option of ours is more likely the command's. */
	const char *where = spec->style == ARGS_PERMUTE_COMMAND && a->n ? "; a command to run in place of "
									 "the image's goes after '--'"
									: "";
	/* getopt sets optopt for a known option missing its value. */
	return usage_error(spec->name, optopt ? "option '%s' needs a value or is unknown%s" : "unknown option '%s'%s",
			   argv[optind - 1], where);
}

static int check_count(const struct cmd_spec *spec, const struct args *a)
{
	size_t want = (size_t)(spec->nargs < 0 ? -spec->nargs : spec->nargs);
	if (spec->nargs >= 0 ? a->n == want : a->n >= want)
		return -1;
	if (spec->style == ARGS_PERMUTE_COMMAND && a->n > want)
		return usage_error(spec->name, "unexpected argument '%s' after the image; a command to run "
					       "in place of the image's goes after '--' (pare %s [OPTIONS] REF -- CMD...)",
				   a->v[want], spec->name);
	return usage_error(spec->name, "expected %s", spec->args_desc);
}

int parse_args(const struct cmd_spec *spec, int argc, char **argv, struct common_opts *co,
	       void *ctx, struct args *out)
{
	static const struct option shared[] = { COMMON_LONGOPTS };
	static const struct option sides[] = { SIDE_LONGOPTS };
	struct option longopts[MAX_LONGOPTS] = { 0 };
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(shared); i++)
		longopts[n++] = shared[i];
	for (size_t i = 0; spec->two_sides && i < ARRAY_SIZE(sides); i++)
		longopts[n++] = sides[i];
	for (const struct option *o = spec->opts; o && o->name && n + 1 < MAX_LONGOPTS; o++)
		longopts[n++] = *o;
	bool image_command = spec->style == ARGS_IMAGE_COMMAND;
	char shorts[64];
	short_opts(longopts, n, image_command ? '+' : '-', shorts, sizeof(shorts));
	memset(out, 0, sizeof(*out));
	out->v = xcalloc((size_t)argc + 1, sizeof(*out->v));
	common_init(co);
	opterr = 0; /* one message, ours */
	optind = 0; /* a fresh scan (pare profile parses a second argv) */
	int c;
	const char *last_value = NULL;
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		if (c == 1) { /* an argument, in order ("-" mode) */
			out->v[out->n++] = optarg;
			continue;
		}
		if (c == 'h') {
			fputs(spec->help, stdout);
			return EXIT_OK;
		}
		last_value = optarg;
		int r = common_opt(co, c, optarg);
		if (r == 1 && spec->on_opt)
			r = spec->on_opt(ctx, c, optarg);
		if (r < 0)
			return EXIT_USAGE;
		/* After one word too many, "-c" is the command's own option
		 * (`pare slim IMG python3 -c 1`): say where commands go. */
		if (r && spec->style == ARGS_PERMUTE_COMMAND && spec->nargs >= 0 &&
		    out->n > (size_t)spec->nargs)
			return check_count(spec, out);
		if (r)
			return unknown_option(spec, argv, out);
	}
	co->open.reg = reg_merge(&co->all, &co->src_only);
	co->dest = reg_merge(&co->all, &co->dest_only);
	/* What is left: after "--" (or, docker-style, the image and its
	 * command). A "--" that was an option's value does not count. */
	bool dashdash = optind > 0 && optind <= argc && !strcmp(argv[optind - 1], "--") &&
			last_value != argv[optind - 1];
	if (image_command) {
		if (optind < argc)
			out->v[out->n++] = argv[optind++];
		if (out->n && optind < argc && !strcmp(argv[optind], "--"))
			optind++;
		out->cmd = argv + optind;
		out->ncmd = (size_t)(argc - optind);
	} else if (spec->style == ARGS_PERMUTE_COMMAND && dashdash) {
		out->cmd = argv + optind;
		out->ncmd = (size_t)(argc - optind);
	} else {
		while (optind < argc)
			out->v[out->n++] = argv[optind++];
	}
	return check_count(spec, out);
}

int run_subcommand(const char *group, const char *help, const struct subcommand *v, size_t n, int argc,
		   char **argv)
{
	if (argc < 2) {
		fputs(help, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help, stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(argv[1], v[i].name))
			return v[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pare: unknown %s command '%s'\n(Hint: see 'pare %s --help')\n", group, argv[1], group);
	return EXIT_USAGE;
}

int open_rootfs(struct image *img, const struct common_opts *co, bool no_cache, uint64_t cache_max,
		struct rootfs *rfs, int *rootfd)
{
	struct perr err = { 0 };
	cleanup_free char *cache = no_cache ? NULL : rootfs_default_cache();
	struct apply_opts ao = { .lim = co->open.lim, .privileged = geteuid() == 0,
				 .warn = warn_print, .ctx = "unpack", .layer_done = progress_layer };
	return rootfs_open(img, cache, cache_max, &ao, rfs, rootfd, &err) < 0 ? report(&err) : 0;
}

int open_image(const char *text, const struct common_opts *co, struct image **img)
{
	struct perr err = { 0 };
	return image_open_text(text, &co->open, img, &err) < 0 ? report(&err) : 0;
}
