/* pare profile: list, show, check, from-trace, merge and explain keep-list
 * profiles. The format and the search path live in slimmer/keeplist.c. */
#define _GNU_SOURCE
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "slimmer/authoring.h"
#include "slimmer/glob.h"
#include "slimmer/imports.h"
#include "slimmer/pkgdb.h"
#include "slimmer/keepset.h"
#include "slimmer/keeplist.h"
#include "base/resolve.h"
#include "image/rootfs.h"
#include "tracer/trace.h"

static const char help[] =
	"usage: pare profile COMMAND [OPTIONS] ...\n\n"
	"Keep-list profiles name files a slim image keeps although no probe touched\n"
	"them (CA bundles, time zones, lazily imported modules, whole packages).\n"
	"Format and authoring: profiles/README.md.\n\n"
	"commands:\n"
	"  list                       built-in and user profiles\n"
	"  show NAME|FILE             a profile's JSON\n"
	"  check NAME|FILE [REF]      validate it (and its includes); with an image, list\n"
	"                             the rules that match nothing in it\n"
	"  from-trace TRACE... [-o FILE]  a profile from `pare probe` traces, whole\n"
	"                             directories compacted into DIR/** globs\n"
	"  merge A B... [-o FILE]     one profile from several\n"
	"  explain PATH --report FILE why PATH is (or is not) in a slim image, from\n"
	"                             `pare slim --report`\n"
	"  imports REF PATH...        the Python and Node imports pare follows in PATH,\n"
	"                             and what each loads in the image\n\n"
	"Profiles are found by name in --profile-dir DIR, then ~/.config/pare/profiles,\n"
	"then the built-ins. Run 'pare profile COMMAND --help' for a command's options.\n";

enum { OPT_PROFILE_DIR = 1300, OPT_NAME, OPT_DESCRIPTION, OPT_IMAGE, OPT_MIN_FILES, OPT_REPORT,
       OPT_JSON };

/* One subcommand's options and words. */
struct profile_cmd {
	struct common_opts co;
	const char *profile_dir, *output, *name, *description, *image, *report;
	uint64_t min_files;
	struct args a;
};

static int profile_opt(void *ctx, int c, const char *optarg)
{
	struct profile_cmd *pc = ctx;
	switch (c) {
	case OPT_JSON: pc->co.json = true; return 0;
	case OPT_PROFILE_DIR: pc->profile_dir = optarg; return 0;
	case 'o': pc->output = optarg; return 0;
	case OPT_NAME: pc->name = optarg; return 0;
	case OPT_DESCRIPTION: pc->description = optarg; return 0;
	case OPT_IMAGE: pc->image = optarg; return 0;
	case OPT_REPORT: pc->report = optarg; return 0;
	case OPT_MIN_FILES:
		if (parse_u64(optarg, &pc->min_files) < 0 || pc->min_files < 1) {
			fprintf(stderr, "pare: invalid --min-files '%s': a number >= 1\n", optarg);
			return -1;
		}
		return 0;
	default: return 1;
	}
}

static const struct option opts[] = {
	{ "profile-dir", required_argument, NULL, OPT_PROFILE_DIR },
	{ "output", required_argument, NULL, 'o' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "description", required_argument, NULL, OPT_DESCRIPTION },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "min-files", required_argument, NULL, OPT_MIN_FILES },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ 0 },
};

/* Options may follow arguments: these are not command lines. */
static int parse(const char *cmd, int argc, char **argv, const char *h, int nargs,
		 const char *desc, struct profile_cmd *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->min_files = 3;
	const struct cmd_spec spec = { cmd, h, opts, profile_opt, ARGS_PERMUTE, nargs, desc, false };
	return parse_args(&spec, argc, argv, &pc->co, pc, &pc->a);
}

static void profile_cmd_free(struct profile_cmd *pc)
{
	args_free(&pc->a);
}
#define cleanup_profile_cmd __attribute__((cleanup(profile_cmd_free)))

static int write_out(const struct profile_cmd *pc, const char *text, struct perr *err)
{
	if (!pc->output || !strcmp(pc->output, "-"))
		return puts(text) < 0 ? perr_set(err, errno, "cannot write to standard output") : 0;
	return write_file_atomic(pc->output, text, err);
}

/* Write P (to -o or stdout) after checking that it loads back. */
static int write_profile(const struct profile_cmd *pc, const struct profile *p)
{
	struct perr err;
	struct profile back;
	cleanup_free char *json = profile_to_json(p);
	if (profile_parse(json, strlen(json), pc->output ? pc->output : "the profile", &back, &err) < 0 ||
	    write_out(pc, json, &err) < 0)
		return report(&err);
	profile_free(&back);
	return 0;
}

/* REF (a name on the search path, or a file), without its includes. */
static int load_profile(const struct profile_cmd *pc, const char *ref, struct profile *p, struct perr *err)
{
	struct profile_path pp;
	profile_path_init(&pp, pc->profile_dir);
	int r = profile_load(&pp, ref, p, err);
	profile_path_free(&pp);
	return r;
}

/* ---- list, show ---- */

static const char list_help[] =
	"usage: pare profile list [--profile-dir DIR] [--json]\n\n"
	"List the profiles on the search path: --profile-dir, ~/.config/pare/profiles,\n"
	"then the built-ins. A profile shadowed by one of the same name earlier on the\n"
	"path is marked.\n" COMMON_HELP;

static int cmd_list(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile list", argc, argv, list_help, 0, "no arguments", pc);
	if (r >= 0)
		return r;
	struct profile_path pp;
	struct profile_info *v;
	size_t n;
	struct perr err;
	profile_path_init(&pp, pc->profile_dir);
	r = profile_list(&pp, &v, &n, &err);
	profile_path_free(&pp);
	if (r < 0)
		return report(&err);
	json_t *a = pc->co.json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		if (a)
			json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:b}", "name", v[i].name,
							   "source", v[i].source, "description",
							   v[i].description, "shadowed", v[i].shadowed));
		else
			printf("%-16s %-10s %s%s\n", v[i].name,
			       strcmp(v[i].source, "built-in") ? "user" : "built-in",
			       v[i].shadowed ? "(shadowed) " : "", v[i].description);
	}
	if (a) {
		json_dumpf(a, stdout, JSON_INDENT(1));
		putchar('\n');
		json_decref(a);
	}
	profile_info_free(v, n);
	return 0;
}

static const char show_help[] =
	"usage: pare profile show [--profile-dir DIR] NAME|FILE\n\n"
	"Print a profile's JSON (as pare reads it) and where it was found.\n" COMMON_HELP;

static int cmd_show(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile show", argc, argv, show_help, 1, "one profile", pc);
	if (r >= 0)
		return r;
	struct profile p;
	struct perr err;
	if (load_profile(pc, pc->a.v[0], &p, &err) < 0)
		return report(&err);
	cleanup_free char *json = profile_to_json(&p);
	fprintf(stderr, "# %s\n", p.source);
	puts(json);
	profile_free(&p);
	return 0;
}

/* ---- check ---- */

static const char check_help[] =
	"usage: pare profile check [--profile-dir DIR] [--json] NAME|FILE [REF]\n\n"
	"Validate a profile and everything it includes (unknown keys, bad globs,\n"
	"include cycles are errors naming the file and key). With an image, also list\n"
	"the rules that match nothing in it; they are warnings, the exit status stays 0.\n"
	COMMON_HELP;

/* An image's unpacked root (from the cache), opened O_PATH. */
static int open_root(const char *ref, const struct common_opts *co, struct image **img,
		     struct rootfs *rfs, int *rootfd)
{
	if (open_image(ref, co, img))
		return EXIT_FAIL;
	return open_rootfs(*img, co, false, CACHE_MAX_UNSET, rfs, rootfd);
}

static void close_root(struct image *img, struct rootfs *rfs, int rootfd)
{
	if (rootfd >= 0)
		close(rootfd);
	rootfs_release(rfs);
	image_close(img);
}

static int check_image(const struct profile_set *set, const char *ref,
		       const struct common_opts *co)
{
	struct image *img = NULL;
	struct rootfs rfs = { 0 };
	int rootfd = -1;
	int r = open_root(ref, co, &img, &rfs, &rootfd);
	if (r) {
		close_root(img, &rfs, rootfd);
		return r;
	}
	struct rule_match *m;
	size_t n, none = 0;
	profile_set_matches(set, rootfd, &m, &n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I}", "profile", m[i].profile, "list",
						   m[i].list, "rule", m[i].rule, "matches",
						   (json_int_t)m[i].matches));
		if (m[i].matches)
			continue;
		none++;
		if (!co->json)
			printf("%s: %s '%s' matches nothing in %s\n", m[i].profile, m[i].list, m[i].rule,
			       img->ref.text);
	}
	if (co->json) {
		json_t *j = json_pack("{s:s,s:o,s:I}", "image", img->ref.text, "rules", a, "unmatched",
				      (json_int_t)none);
		json_dumpf(j, stdout, JSON_INDENT(1));
		putchar('\n');
		json_decref(j);
	} else {
		json_decref(a);
		fprintf(stderr, "pare: profile check: %zu rules, %zu match nothing in %s\n", n, none,
			img->ref.text);
	}
	free(m);
	close_root(img, &rfs, rootfd);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile check", argc, argv, check_help, -1, "a profile and an optional image",
		      pc);
	if (r >= 0)
		return r;
	if ((int)pc->a.n > 2)
		return usage_error("profile check", "expected a profile and an optional image");
	struct profile_path pp;
	struct profile_set set = { 0 };
	struct perr err;
	profile_path_init(&pp, pc->profile_dir);
	r = profile_set_add(&set, &pp, pc->a.v[0], &err);
	profile_path_free(&pp);
	if (r < 0) {
		profile_set_free(&set);
		return report(&err);
	}
	if ((int)pc->a.n == 2) {
		r = check_image(&set, pc->a.v[1], &pc->co);
	} else {
		fprintf(stderr, "pare: profile check: %s is valid", set.p[set.n - 1].name);
		for (size_t i = 0; i + 1 < set.n; i++)
			fprintf(stderr, "%s%s", i ? ", " : " (includes ", set.p[i].name);
		fputs(set.n > 1 ? ")\n" : "\n", stderr);
	}
	profile_set_free(&set);
	return r;
}

/* ---- from-trace ---- */

static const char from_trace_help[] =
	"usage: pare profile from-trace [OPTIONS] TRACE...\n\n"
	"Turn `pare probe` traces (an interactive session, say) into a profile that\n"
	"keeps every file they saw in the image. A directory whose files were all\n"
	"read (subdirectories included) becomes one DIR/** glob; the command says how\n"
	"many paths each glob covers.\n\n"
	"options:\n"
	"  -o, --output FILE       write the profile here (default: standard output)\n"
	"      --name NAME         the profile's name (default: FILE's base name, or\n"
	"                          'from-trace')\n"
	"      --description TEXT  its description\n"
	"      --image REF         the image the traces came from (default: the first\n"
	"                          trace's \"image\")\n"
	"      --min-files N       compact a directory only when it holds N files or\n"
	"                          more (default 3)\n" COMMON_HELP;

static int cmd_from_trace(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile from-trace", argc, argv, from_trace_help, -1, "one or more traces",
		      pc);
	if (r >= 0)
		return r;
	struct trace t;
	struct perr err;
	trace_init(&t);
	for (size_t i = 0; i < pc->a.n; i++)
		if (trace_read_file(&t, pc->a.v[i], &err) < 0) {
			trace_free(&t);
			perr_wrap(&err, "trace");
			return report(&err);
		}
	const char *ref = pc->image ? pc->image : t.image;
	if (!ref) {
		trace_free(&t);
		fprintf(stderr, "pare: %s names no image; use --image REF\n", pc->a.v[0]);
		return EXIT_FAIL;
	}
	struct image *img = NULL;
	struct rootfs rfs = { 0 };
	int rootfd = -1;
	r = open_root(ref, &pc->co, &img, &rfs, &rootfd);
	if (!r) {
		struct strv paths = { 0 };
		for (size_t i = 0; i < t.n; i++)
			strv_push(&paths, xstrdup(t.e[i].path));
		struct compacted *c;
		size_t n, files;
		profile_compact(rootfd, &paths, (size_t)pc->min_files, &c, &n, &files);
		strv_free(&paths);
		struct profile p = { 0 };
		const char *base = pc->output ? strrchr(pc->output, '/') : NULL;
		base = base ? base + 1 : pc->output;
		p.name = pc->name ? xstrdup(pc->name)
			 : base && strcmp(base, "-") ? xasprintf("%.*s", (int)strcspn(base, "."), base)
						     : xstrdup("from-trace");
		p.description = pc->description ? xstrdup(pc->description)
					       : xasprintf("files seen by %d trace(s) of %s", (int)pc->a.n, ref);
		for (size_t i = 0; i < n; i++)
			strv_push(&p.keep, xstrdup(c[i].rule));
		r = write_profile(pc, &p);
		if (!r) {
			fprintf(stderr, "pare: profile from-trace: %zu files -> %zu rules\n", files, n);
			for (size_t i = 0; i < n; i++)
				if (glob_is_pattern(c[i].rule))
					fprintf(stderr, "  %s covers %zu paths\n", c[i].rule, c[i].covers);
		}
		profile_free(&p);
		compacted_free(c, n);
	}
	trace_free(&t);
	close_root(img, &rfs, rootfd);
	return r;
}

/* ---- merge ---- */

static const char merge_help[] =
	"usage: pare profile merge [OPTIONS] A B...\n\n"
	"One profile holding the rules of A, B, ... (names or files; each rule once,\n"
	"in order). Their includes are kept as includes.\n\n"
	"options:\n"
	"  -o, --output FILE       write it here (default: standard output)\n"
	"      --name NAME         its name (default: the names joined with '-')\n"
	"      --description TEXT  its description\n"
	"      --profile-dir DIR   look for profiles by name here first\n" COMMON_HELP;

static int cmd_merge(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile merge", argc, argv, merge_help, -2, "two or more profiles", pc);
	if (r >= 0)
		return r;
	struct perr err;
	size_t n = (size_t)((int)pc->a.n), loaded = 0;
	struct profile *ps = xcalloc(n, sizeof(*ps));
	for (; loaded < n; loaded++)
		if (load_profile(pc, pc->a.v[loaded], &ps[loaded], &err) < 0)
			break;
	if (loaded < n) {
		r = report(&err);
	} else {
		struct profile out;
		profile_merge(ps, n, pc->name, pc->description, &out);
		r = write_profile(pc, &out);
		profile_free(&out);
	}
	for (size_t i = 0; i < loaded; i++)
		profile_free(&ps[i]);
	free(ps);
	return r;
}

/* ---- explain ---- */

static const char explain_help[] =
	"usage: pare profile explain --report FILE [--json] PATH\n\n"
	"Why PATH is in the slim image a `pare slim --report FILE` describes: the chain\n"
	"of reasons (traced by which program, symlink of, needed by, unit of, package\n"
	"of, rule of which profile). For a path that is not in it, what dropped it.\n"
	"Exit status 0 when the path is in the image, 1 when it is not.\n" COMMON_HELP;

static void say_reason(json_t *r, int depth)
{
	const char *why = json_string_value(json_object_get(r, "why"));
	const char *of = json_string_value(json_object_get(r, "of"));
	const char *rule = json_string_value(json_object_get(r, "rule"));
	const char *profile = json_string_value(json_object_get(r, "profile"));
	const char *ops = json_string_value(json_object_get(r, "ops"));
	const char *unit = json_string_value(json_object_get(r, "unit"));
	char from[160];
	if (profile)
		snprintf(from, sizeof(from), "of profile %s", profile);
	else
		snprintf(from, sizeof(from), "given on the command line");
	printf("%*s", depth * 2, "");
	if (!why) {
		puts("?");
	} else if (!strcmp(why, "traced")) {
		printf("traced (%s)", ops ? ops : "?");
		json_t *by = json_object_get(r, "by");
		size_t i;
		json_t *b;
		json_array_foreach (by, i, b)
			printf("%s%s", i ? ", " : " by ", json_string_value(b));
		putchar('\n');
	} else if (!strcmp(why, "rule")) {
		printf("kept by rule '%s' %s\n", rule ? rule : "?", from);
	} else if (!strcmp(why, "unit")) {
		printf("in unit %s (units rule '%s' %s), kept whole because of %s\n",
		       unit ? unit : "?", rule ? rule : "?", from, of ? of : "?");
	} else if (!strcmp(why, "package")) {
		printf("in %s (%s), kept whole because of %s\n", rule ? rule : "a package",
		       profile ? from : "--units", of ? of : "?");
	} else if (!strcmp(why, "always")) {
		printf("always kept%s%s\n", of ? ": " : "", of ? of : "");
	} else if (of) {
		printf("%s %s\n", why, of);
	} else {
		printf("%s\n", why);
	}
}

struct explain {
	json_t *paths;   /* path -> reasons */
	json_t *targets; /* kept symlink -> its target */
	struct strset seen;
};

/* PATH with the kept symlinks on its way (not the last component) resolved
 * as the slim image resolves them, so that /lib/x/libc.so.6 is found at
 * /usr/lib/x/libc.so.6. Lexical, over the report alone. */
static void resolve_report(const struct explain *x, const char *path, char *out, size_t sz)
{
	char cur[4097];
	snprintf(cur, sizeof(cur), "%s", path);
	for (int hops = 0; hops < 40; hops++) {
		bool changed = false;
		for (char *s = cur + 1; (s = strchr(s, '/')); s++) {
			*s = 0;
			const char *t = json_string_value(json_object_get(x->targets, cur));
			if (t) {
				char joined[8400], clean[4097];
				struct perr ignored;
				char *slash = strrchr(cur, '/');
				*slash = 0;
				snprintf(joined, sizeof(joined), "%s/%s/%s", t[0] == '/' ? "" : cur, t, s + 1);
				if (clean_in_root_path(joined, clean + 1, sizeof(clean) - 2, &ignored) == 0) {
					clean[0] = '/';
					snprintf(cur, sizeof(cur), "%s", clean);
					changed = true;
					break;
				}
				*slash = '/';
			}
			*s = '/';
		}
		if (!changed)
			break;
	}
	snprintf(out, sz, "%s", cur);
}

/* Every reason of PATH at the first level; below, the first reason of each
 * path named (the one that brought it in), down to a root cause: traced,
 * a rule, the command. */
static void explain_path(struct explain *x, const char *path, int depth)
{
	json_t *rs = json_object_get(x->paths, path);
	size_t i;
	json_t *r;
	json_array_foreach (rs, i, r) {
		const char *why = json_string_value(json_object_get(r, "why"));
		const char *of = json_string_value(json_object_get(r, "of"));
		if (of && !strcmp(of, path))
			continue; /* a package or unit pulled in by this very path */
		if (depth == 1 && i == 5) {
			printf("  ... and %zu more reasons (--json lists them all)\n", json_array_size(rs) - i);
			break;
		}
		say_reason(r, depth);
		if (of && why && strcmp(why, "always") && depth < 24 && strset_add(&x->seen, of))
			explain_path(x, of, depth + 1);
		if (depth > 1)
			break;
	}
}

static int cmd_explain(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile explain", argc, argv, explain_help, 1, "one path", pc);
	if (r >= 0)
		return r;
	r = 0;
	if (!pc->report)
		return usage_error("profile explain", "--report FILE is required");
	const char *arg = pc->a.v[0];
	char clean[4097];
	struct perr err;
	if (arg[0] != '/' || clean_in_root_path(arg, clean + 1, sizeof(clean) - 2, &err) < 0)
		return usage_error("profile explain", "'%s' is not an absolute path", arg);
	clean[0] = '/';
	json_error_t jerr;
	cleanup_free char *text = NULL;
	size_t len;
	/* the side-file reader: a FIFO or a device is refused, never waited on */
	if (read_side_file(pc->report, 1u << 30, &text, &len, &err) < 0) {
		fprintf(stderr, "pare: cannot read the report: %s\n", err.msg);
		return EXIT_FAIL;
	}
	json_t *rep = json_loadb(text, len, 0, &jerr);
	json_t *list = rep ? json_object_get(rep, "paths") : NULL;
	if (!json_is_array(list)) {
		fprintf(stderr, "pare: %s: %s\n", pc->report,
			rep ? "not a pare slim report (no \"paths\" list)" : jerr.text);
		json_decref(rep);
		return EXIT_FAIL;
	}
	struct explain x = { json_object(), json_object(), { 0 } };
	size_t i;
	json_t *e;
	json_array_foreach (list, i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));
		json_t *t = json_object_get(e, "target");
		if (p)
			json_object_set(x.paths, p, json_object_get(e, "reasons"));
		if (p && json_is_string(t))
			json_object_set(x.targets, p, t);
	}
	char typed[4097];
	snprintf(typed, sizeof(typed), "%s", clean);
	resolve_report(&x, typed, clean, sizeof(clean));
	if (strcmp(typed, clean) && !pc->co.json)
		printf("%s is reached through symlinks as %s\n", typed, clean);
	const char *image = json_string_value(json_object_get(rep, "output"));
	if (json_object_get(x.paths, clean)) {
		if (pc->co.json) {
			json_t *j = json_pack("{s:s,s:b,s:O}", "path", clean, "kept", 1, "reasons",
					      json_object_get(x.paths, clean));
			json_dumpf(j, stdout, JSON_INDENT(1));
			putchar('\n');
			json_decref(j);
		} else {
			printf("%s is in %s:\n", clean, image ? image : "the slim image");
			strset_add(&x.seen, clean);
			explain_path(&x, clean, 1);
		}
	} else {
		r = EXIT_FAIL;
		const char *rule = NULL, *profile = NULL;
		json_array_foreach (json_object_get(rep, "excluded"), i, e)
			if (!strcmp(json_string_value(json_object_get(e, "path")) ?: "", clean)) {
				rule = json_string_value(json_object_get(e, "rule"));
				profile = json_string_value(json_object_get(e, "profile"));
			}
		if (pc->co.json) {
			json_t *j = json_pack("{s:s,s:b}", "path", clean, "kept", 0);
			if (rule)
				json_object_set_new(j, "excluded_by", json_pack("{s:s,s:s?}", "rule", rule,
										"profile", profile));
			json_dumpf(j, stdout, JSON_INDENT(1));
			putchar('\n');
			json_decref(j);
		} else if (rule) {
			printf("%s is not in %s: a probe touched it, but exclude rule '%s' %s%s dropped it\n",
			       clean, image ? image : "the slim image", rule, profile ? "of profile " : "",
			       profile ? profile : "(given on the command line)");
		} else {
			printf("%s is not in %s: no probe touched it and no rule, unit or package keeps it\n"
			       "(Hint: --keep %s, or a profile that keeps it)\n",
			       clean, image ? image : "the slim image", clean);
		}
	}
	strset_free(&x.seen);
	json_decref(x.paths);
	json_decref(x.targets);
	json_decref(rep);
	return r;
}

/* ---- imports ---- */

static const char imports_help[] =
	"usage: pare profile imports [--json] REF PATH...\n\n"
	"The imports pare's static import closure finds in each PATH (Python or\n"
	"JavaScript source) of the image REF, read, never run, and the files each\n"
	"one loads there: what `pare slim` keeps for them. Imports inside functions\n"
	"(braces, for JavaScript) are followed for application files (no package\n"
	"owns them) only; a computed name (importlib.import_module(name),\n"
	"require(name)) cannot be followed and is listed by line.\n"
	COMMON_HELP;

static void print_imports(const json_t *j)
{
	const char *file = json_string_value(json_object_get(j, "file"));
	size_t i;
	json_t *im;
	json_array_foreach(json_object_get(j, "imports"), i, im) {
		const char *m = json_string_value(json_object_get(im, "module"));
		int level = (int)json_integer_value(json_object_get(im, "level"));
		printf("%s:%d: %s%.*s%s%s", file, (int)json_integer_value(json_object_get(im, "line")),
		       json_is_true(json_object_get(im, "call")) ? "import_module " : "", level, "......",
		       m, json_is_true(json_object_get(im, "in_function")) ? " (in a function)" : "");
		size_t k;
		json_t *l;
		json_array_foreach(json_object_get(im, "loads"), k, l)
			printf("%s%s", k ? ", " : " -> ", json_string_value(l));
		putchar('\n');
	}
	json_array_foreach(json_object_get(j, "computed"), i, im)
		printf("%s:%d: a computed name: not followed\n", file, (int)json_integer_value(im));
}

static int cmd_imports(int argc, char **argv)
{
	cleanup_profile_cmd struct profile_cmd pcs;
	struct profile_cmd *pc = &pcs;
	int r = parse("profile imports", argc, argv, imports_help, -1, "an image and paths", pc);
	if (r >= 0)
		return r;
	if (pc->a.n < 2)
		return usage_error("profile imports", "expected an image and at least one path");
	struct image *img = NULL;
	struct rootfs rfs = { 0 };
	int rootfd = -1;
	struct units_state st = { 0 };
	struct perr err;
	json_t *all = json_array();
	if (!(r = open_root(pc->a.v[0], &pc->co, &img, &rfs, &rootfd)) &&
	    pkgdb_load(&st, rootfd, PKGDB_DPKG | PKGDB_DIST_INFO | PKGDB_APK, &err) < 0)
		r = report(&err);
	for (size_t i = 1; !r && i < pc->a.n; i++) {
		json_t *j;
		if (imports_explain(&st, rootfd, pc->a.v[i], &j, &err) < 0) {
			r = report(&err);
			break;
		}
		if (!pc->co.json)
			print_imports(j);
		json_array_append_new(all, j);
	}
	if (!r && pc->co.json) {
		json_dumpf(all, stdout, JSON_INDENT(1));
		putchar('\n');
	}
	json_decref(all);
	units_state_free(&st);
	close_root(img, &rfs, rootfd);
	return r;
}

/* ---- dispatch ---- */

int cmd_profile(int argc, char **argv)
{
	static const struct subcommand subcommands[] = {
		{ "list", cmd_list },	  { "show", cmd_show },	  { "check", cmd_check },
		{ "from-trace", cmd_from_trace }, { "merge", cmd_merge }, { "explain", cmd_explain },
		{ "imports", cmd_imports },
	};
	return run_subcommand("profile", help, subcommands, ARRAY_SIZE(subcommands), argc, argv);
}
