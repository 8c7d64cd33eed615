/* pare slim: the options, the runs on our terminal, and what the user
 * sees; the pipeline itself (probes, keep-set, image, verify, report) is
 * slimmer/slim.c's. */
#define _GNU_SOURCE
#include "cmd/runopts.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimmer/glob.h"
#include "slimmer/slim.h"
#include "slimmer/slim_runs.h"

static const char help[] =
	"usage: pare slim REF [OPTIONS] [-- CMD [ARG...]]\n\n"
	"Run REF's program under probes in the sandbox, record every file it touches,\n"
	"and write an image holding only those files plus their closure (symlinks,\n"
	"parent directories, ELF interpreter and libraries, #! interpreters) and what\n"
	"--keep names. With --verify, the same probes run against the slim image and\n"
	"must behave the same (exit status and stdout, HTTP status and body).\n"
	"Options may come before or after REF. A CMD after '--' replaces the image's\n"
	"cmd for the probe runs, as with pare run:\n"
	"  pare slim app.tar -o oci:out:app --verify -- /app/tool.pl '{\"a\":[1]}'\n\n"
	"options:\n"
	"  -o, --output DST        where to write (oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG],\n"
	"                          docker-daemon:NAME:TAG); default: REF's tag + \"-slim\",\n"
	"                          next to REF\n"
	"      --exec CMD          a probe: run `/bin/sh -c CMD` beside the image's running\n"
	"                          entrypoint, as docker exec does (the same sandbox, user,\n"
	"                          env, workdir and confinement), once it is ready; traced\n"
	"                          like it. Probes run in the order given (--exec and --http\n"
	"                          mixed); then the entrypoint gets its stop signal. A probe\n"
	"                          exiting non-zero fails the slim. On an image with no\n"
	"                          exposed TCP port and no --wait-* option (a one-shot image)\n"
	"                          --exec runs as --run. Without probes the entrypoint/cmd\n"
	"                          runs to its end (or --timeout)\n"
	"      --exec-file FILE    one --exec per line\n"
	"      --run CMD           a probe: run `/bin/sh -c CMD` in place of the entrypoint,\n"
	"                          in its own sandbox (one-shot tools, test suites); these\n"
	"                          run first, in order\n"
	"      --wait-port PORT    the entrypoint is ready once PORT accepts a connection\n"
	"                          (repeatable). By default: every exposed TCP port and\n"
	"                          each --http probe's\n"
	"      --wait-cmd CMD      ready once `/bin/sh -c CMD` beside it exits 0 (retried)\n"
	"                          Readiness is bounded by --timeout (default 30 s); an\n"
	"                          entrypoint that exits first fails the slim\n"
	"      --probe-timeout SECS  each probe beside the entrypoint (default 60)\n"
	"      --http [METHOD:]PATH[:PORT]  a probe: an HTTP request to the running entrypoint,\n"
	"                          from inside the sandbox's network, once it is ready.\n"
	"                          PORT defaults to the first exposed TCP port. Without any\n"
	"                          probe, an image exposing TCP ports gets GET / on each; a\n"
	"                          port that accepts but does not speak HTTP passes, noted\n"
	"                          as such. 4xx/5xx fails the slim.\n"
	"      --http-file FILE    HTTP probes from JSON: [{\"method\", \"path\", \"port\",\n"
	"                          \"headers\": {..}, \"body\", \"status\": expected}]\n"
	"      --trace FILE        also keep what a `pare probe` trace recorded (repeatable)\n"
	"      --keep PATH|GLOB    keep these too (repeatable; * ? [..] per component, ** any depth)\n"
	"      --keep-file FILE    one --keep per line\n"
	"      --exclude GLOB      drop traced paths matching GLOB (--keep still wins)\n"
	"      --profile NAME|FILE keep-list profile to apply (repeatable); see 'pare profile list'.\n"
	"                          By default 'base' (users, nss) applies, and so do\n"
	"                          'certs' and 'tzdata' when the image has a CA bundle or\n"
	"                          time zones, 'python' and 'node' when the probes ran them\n"
	"      --profile-dir DIR   look for profiles by name here first\n"
	"      --no-profile NAME   leave out one of the default profiles (repeatable)\n"
	"      --no-default-profiles  apply none of them\n"
	"      --units KIND[,KIND] package units: debian (a kept file of a dpkg package keeps\n"
	"                          the whole package but its docs), debian-docs (with docs),\n"
	"                          dist-info (pip's RECORD files), or a directory glob (a kept\n"
	"                          file below a matching directory keeps that directory)\n"
	"      --no-app-trees      do not keep application trees whole. By default a kept file\n"
	"                          that no package database owns (dpkg, pip RECORD, apk) keeps\n"
	"                          the tree under its top-most unowned directory (/app,\n"
	"                          /srv/site): templates and modules loaded lazily come too\n"
	"      --app-tree-max SIZE at most SIZE per application tree (default 256m; 0: no cap);\n"
	"                          a larger one keeps only what the probes used, with a warning\n"
	"      --no-import-closure  do not follow imports statically. By default a kept .py\n"
	"                          file keeps the modules it imports, found on the image's own\n"
	"                          python3 paths (a library module what importing it runs, an\n"
	"                          application file every import, in functions too), and a\n"
	"                          kept .js file what it requires or imports, as Node resolves\n"
	"                          it; .rb and .pl/.pm files their require and use\n"
	"      --app-dir DIR|GLOB  an application tree named by hand, kept whole (no cap) when\n"
	"                          a file below it is kept, whoever owns it\n"
	"      --keep-written      also keep the files the probes wrote (created or changed),\n"
	"                          as they left them; the probes then share one writable\n"
	"                          layer, in order, as in one container\n"
	"      --report FILE       JSON report: sizes, probes, and every kept path with its reasons\n"
	"      --seccomp-profile FILE  also write a Docker seccomp profile allowing the syscalls\n"
	"                          the probes made plus the runtime's (slower: the tracer stops\n"
	"                          on every syscall); the report names who made each first\n"
	"      --verify            rerun the probes against the slim image and compare. Each\n"
	"                          probe also runs twice on the original: output that differs\n"
	"                          between those runs (hash order, times, PIDs) is noise, and\n"
	"                          that probe is compared by exit (HTTP) status only; a status\n"
	"                          that differs makes the probe flaky, and the slim fails\n"
	COMPRESS_HELP JOBS_HELP
	"      --tracer MODE       auto (default), ebpf, notify, fanotify, ptrace or both;\n"
	"                          see 'pare probe --help'\n"
	RUN_HELP COMMON_HELP SIDE_HELP;

enum { OPT_EXEC = 1200, OPT_HTTP, OPT_HTTP_FILE, OPT_KEEP_WRITTEN, OPT_EXEC_FILE, OPT_TRACE, OPT_KEEP, OPT_KEEP_FILE, OPT_EXCLUDE,
       OPT_REPORT, OPT_VERIFY, OPT_PROFILE, OPT_PROFILE_DIR, OPT_NO_DEFAULT_PROFILES, OPT_UNITS,
       OPT_NO_APP_TREES, OPT_APP_TREE_MAX, OPT_APP_DIR, OPT_NO_PROFILE,
       OPT_NO_IMPORT_CLOSURE, OPT_RUN, OPT_WAIT_PORT, OPT_WAIT_CMD, OPT_PROBE_TIMEOUT };

/* The command: the run options, the slim's, and where the slim layer's
 * compression is kept while the options are parsed. */
struct slim_cmd {
	struct run_cmd rc;
	struct slim_opts o;
	struct compress_spec compress; /* gzip, the default, when not given */
	bool have_compress;
	int jobs;
	int (*closed)(void *ctx, struct slim *sl, struct perr *err); /* a fleet's map step */
	void *closed_ctx;
	bool verify_only;  /* pare fleet verify: no second run of the original to tell of */
};

/* A user's list file: one entry per line, '#' comments. Errors name the
 * option. */
static int read_lines(const char *opt, const char *file, struct strv *out)
{
	struct perr err;
	cleanup_free char *text = NULL;
	size_t len;
	if (read_side_file(file, SIDE_FILE_MAX, &text, &len, &err) < 0) {
		fprintf(stderr, "pare: --%s: %s\n", opt, err.msg);
		return -1;
	}
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (*line != '#')
			strv_push(out, xstrdup(line));
	return 0;
}

static int exec_file(const char *file, struct probe_args *out)
{
	struct strv lines = { 0 };
	int r = read_lines("exec-file", file, &lines);
	for (size_t i = 0; i < lines.n; i++)
		probe_args_push(out, ARG_EXEC, lines.v[i]);
	strv_free(&lines);
	return r;
}

static bool looks_like_image(const char *arg)
{
	struct stat st;
	return imgref_has_transport(arg) || (arg[0] != '/' && stat(arg, &st) == 0);
}

/* A malformed probe is a usage error, found before anything runs. */
static int check_http(const char *arg)
{
	struct http_probe h;
	struct perr err;
	if (looks_like_image(arg)) {
		fprintf(stderr, "pare: --http took '%s' as its value, but that is an image; "
				"an HTTP probe is [METHOD:]PATH[:PORT] (e.g. --http GET:/)\n"
				"(Hint: see 'pare slim --help')\n", arg);
		return -1;
	}
	if (http_probe_parse(arg, 80, &h, &err) < 0) {
		fprintf(stderr, "pare: %s\n(Hint: [METHOD:]PATH[:PORT], e.g. GET:/ or POST:/api:8080)\n",
			err.msg);
		return -1;
	}
	http_probe_free(&h);
	return 0;
}

/* A side file read later (after the probes): refused now if unreadable. */
static int side_file(const char *opt, const char *file, struct strv *out)
{
	struct perr err;
	if (check_side_file(file, &err) < 0) {
		fprintf(stderr, "pare: --%s: %s\n", opt, err.msg);
		return -1;
	}
	strv_push(out, xstrdup(file));
	return 0;
}

static int http_file(const char *file, struct probe_args *out)
{
	struct strv one = { 0 };
	int r = side_file("http-file", file, &one);
	if (!r)
		probe_args_push(out, ARG_HTTP_FILE, file);
	strv_free(&one);
	return r;
}

static int probe_timeout(const char *arg, uint64_t *ms)
{
	char *end;
	double v = strtod(arg, &end);
	if (end == arg || *end || !(v > 0) || v > 86400) {
		fprintf(stderr, "pare: --probe-timeout '%s' is not a number of seconds\n"
				"(Hint: e.g. --probe-timeout 120)\n", arg);
		return -1;
	}
	*ms = (uint64_t)(v * 1000);
	return 0;
}

static int slim_opt(void *ctx, int c, const char *optarg)
{
	struct slim_cmd *s = ctx;
	switch (c) {
	case OPT_EXEC: probe_args_push(&s->o.probes, ARG_EXEC, optarg); return 0;
	case OPT_RUN: probe_args_push(&s->o.probes, ARG_RUN, optarg); return 0;
	case OPT_HTTP:
		if (check_http(optarg) < 0)
			return -1;
		probe_args_push(&s->o.probes, ARG_HTTP, optarg);
		return 0;
	case OPT_HTTP_FILE: return http_file(optarg, &s->o.probes);
	case OPT_EXEC_FILE: return exec_file(optarg, &s->o.probes);
	case OPT_WAIT_PORT: strv_push(&s->o.ready.ports, xstrdup(optarg)); return 0;
	case OPT_WAIT_CMD: strv_push(&s->o.ready.cmds, xstrdup(optarg)); return 0;
	case OPT_PROBE_TIMEOUT: return probe_timeout(optarg, &s->o.probe_timeout_ms);
	case OPT_TRACE: return side_file("trace", optarg, &s->o.traces);
	case OPT_KEEP:
	case OPT_EXCLUDE:
		if (optarg[0] != '/' || !glob_valid(optarg)) {
			fprintf(stderr, "pare: invalid --%s '%s': an absolute path or glob\n",
				c == OPT_KEEP ? "keep" : "exclude", optarg);
			return -1;
		}
		strv_push(c == OPT_KEEP ? &s->o.keep : &s->o.exclude, xstrdup(optarg));
		return 0;
	case OPT_KEEP_FILE: return read_lines("keep-file", optarg, &s->o.keep);
	case OPT_REPORT: s->o.report = optarg; return 0;
	case OPT_VERIFY: s->o.verify = true; return 0;
	case OPT_COMPRESS: s->have_compress = true; return compress_opt(optarg, &s->compress);
	case OPT_JOBS: return jobs_opt(optarg, &s->jobs);
	case OPT_KEEP_WRITTEN: s->o.keep_written = true; return 0;
	case OPT_PROFILE: strv_push(&s->o.profile_names, xstrdup(optarg)); return 0;
	case OPT_PROFILE_DIR: s->o.profile_dir = optarg; return 0;
	case OPT_NO_DEFAULT_PROFILES: s->o.no_default_profiles = true; return 0;
	case OPT_UNITS: {
		cleanup_free char *copy = xstrdup(optarg);
		char *save = NULL;
		for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
			if (u[0] == '/' ? !glob_valid(u) : unit_kind_parse(u) < 0) {
				fprintf(stderr, "pare: invalid --units '%s': use debian, debian-docs, dist-info "
						"or a directory glob (/app/vendor/*)\n", u);
				return -1;
			}
			strv_push(&s->o.unit_kinds, xstrdup(u));
		}
		return 0;
	}
	case OPT_NO_APP_TREES: s->o.no_app_trees = true; return 0;
	case OPT_NO_IMPORT_CLOSURE: s->o.no_import_closure = true; return 0;
	case OPT_NO_PROFILE: strv_push(&s->o.no_profiles, xstrdup(optarg)); return 0;
	case OPT_APP_TREE_MAX:
		if (parse_size(optarg, &s->o.app_tree_max) < 0) {
			fprintf(stderr, "pare: invalid --app-tree-max '%s': a size, e.g. 512m (0: no cap)\n", optarg);
			return -1;
		}
		s->o.have_app_tree_max = true;
		return 0;
	case OPT_APP_DIR:
		if (optarg[0] != '/' || !glob_valid(optarg)) {
			fprintf(stderr, "pare: invalid --app-dir '%s': an absolute directory or glob\n", optarg);
			return -1;
		}
		strv_push(&s->o.app_dirs, xstrdup(optarg));
		return 0;
	default: return run_cmd_opt(&s->rc, c, optarg);
	}
}

/* ---- what the user sees ---- */

/* The last lines a probe wrote to FD (a memfd), indented, after a failure. */
static void show_tail(const char *who, const char *stream, int fd)
{
	enum { MAX_LINES = 10, MAX_BYTES = 4096 };
	char buf[MAX_BYTES + 1];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > MAX_BYTES ? size - MAX_BYTES : 0;
	ssize_t n = size > 0 ? pread(fd, buf, (size_t)(size - from), from) : 0;
	if (n <= 0)
		return;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	char *start = buf + n;
	for (int lines = 0; start > buf && lines < MAX_LINES; lines += *--start == '\n')
		;
	if (*start == '\n')
		start++;
	fprintf(stderr, "  %s%s %s:\n", from || start > buf ? "last lines of " : "", who, stream);
	for (char *save = NULL, *l = strtok_r(start, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "  | %s\n", l);
}

/* ---- the summary ---- */

static const char *where_probes_ran(const struct probe_list *l)
{
	if (l->one_shot) /* the rule a user might not expect: say it */
		return " (a one-shot image: no exposed TCP port and no --wait-*, so --exec ran in place of "
		       "the entrypoint)";
	return l->beside ? " (beside the running entrypoint)" : "";
}

static void print_summary(const struct slim *s)
{
	const struct image *img = s->s->img;
	const struct slim_written *w = &s->w;
	const char *dst = s->dst_text;
	size_t npr = s->probes.n;
	char b1[32], b2[32], b3[32], b4[32], names[512] = "";
	for (size_t i = 0; i < s->profiles.n; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 s->profiles.p[i].name);
	const char *before_comp = image_layers_compression(img);
	const char *after_comp = w->comp == COMP_NONE ? "uncompressed" : compression_name(w->comp);
	char ratio[32] = ""; /* only like against like */
	if (!strcmp(before_comp, after_comp) && w->before_compressed)
		snprintf(ratio, sizeof(ratio), " (%.1f%%)",
			 100.0 * (double)w->layer.size / (double)w->before_compressed);
	fprintf(stderr, "pare: slim: %s -> %s\n  files:  %llu -> %llu entries\n"
			"  size:   %s -> %s of files (%.1f%%)\n"
			"  layers: %s %s -> %s %s%s\n"
			"%s%s%s"
			"  probes: %zu passed%s\n"
			"  profiles: %s\n",
		img->ref.text, dst, (unsigned long long)w->before_files,
		(unsigned long long)w->layer.entries, human_size(w->before_bytes, b1),
		human_size(w->after_bytes, b2),
		w->before_bytes ? 100.0 * (double)w->after_bytes / (double)w->before_bytes : 0.0,
		human_size(w->before_compressed, b3), before_comp, human_size((uint64_t)w->layer.size, b4),
		after_comp, ratio, w->manifest[0] ? "  digest: " : "", w->manifest, w->manifest[0] ? "\n" : "", npr,
		where_probes_ran(&s->probes), s->profiles.n ? names : "none");
	/* Units and packages in one line; each is in the report. */
	size_t units = 0, packages = 0, paths = 0, idle = 0;
	char apps[512] = "";
	for (size_t i = 0; i < s->units.n_pulled; i++) {
		const struct pulled *u = &s->units.pulled[i];
		if (!strcmp(u->kind, "application")) {
			size_t at = strlen(apps);
			snprintf(apps + at, sizeof(apps) - at, "%s/%s (%zu path%s)", at ? ", " : "", u->name, u->paths,
				 u->paths == 1 ? "" : "s");
			continue;
		}
		*(strcmp(u->kind, "unit") ? &packages : &units) += 1;
		paths += u->paths;
		idle += u->paths == 0;
	}
	char none_new[48] = "";
	if (idle)
		snprintf(none_new, sizeof(none_new), "; %zu added nothing new", idle);
	if (*apps)
		fprintf(stderr, "  application trees, kept whole: %s\n", apps);
	if (units + packages)
		fprintf(stderr, "  pulled in: %zu unit%s, %zu package%s, %zu more paths%s (%s)\n", units,
			units == 1 ? "" : "s", packages, packages == 1 ? "" : "s", paths, none_new,
			s->o->report ? "each is in the report" : "--report FILE lists each");
}


static void print_line(const char *tag, const char *line, const char *end)
{
	const char *nl = memchr(line, '\n', (size_t)(end - line));
	int n = (int)((nl ? nl : end) - line);
	if (line >= end)
		fprintf(stderr, "    %s (no more output)\n", tag);
	else
		fprintf(stderr, "    %s %.*s%s\n", tag, n > 200 ? 200 : n, line, n > 200 ? "..." : "");
}

/* What differs, in the user's terms: for a command, the first differing
 * line of stdout; for HTTP, the status lines and body sizes. */
static void show_divergence(const struct probe *pb, const struct probe_result *was,
			    const struct probe_result *now)
{
	if (pb->kind == P_HTTP) {
		fprintf(stderr, "    original: HTTP %d, %llu bytes of body\n    slim:     ", was->code,
			(unsigned long long)was->len);
		if (*now->error && !now->code)
			fprintf(stderr, "%s\n", now->error);
		else
			fprintf(stderr, "HTTP %d, %llu bytes of body\n", now->code, (unsigned long long)now->len);
		return;
	}
	if (was->code != now->code)
		fprintf(stderr, "    exit status: %d in the original, %d in the slim image\n", was->code, now->code);
	const char *al = NULL, *bl = NULL;
	size_t line = probe_stdout_difference(was->head, was->head_len, now->head, now->head_len, &al, &bl);
	if (!line && strcmp(was->digest, now->digest))
		fprintf(stderr, "    stdout: the first %zu bytes agree; %llu bytes in the original, %llu in the slim image\n",
			was->head_len, (unsigned long long)was->len, (unsigned long long)now->len);
	if (!line)
		return;
	fprintf(stderr, "    stdout differs from line %zu:\n", line);
	print_line("original:", al, was->head + was->head_len);
	print_line("slim:    ", bl, now->head + now->head_len);
}


static void print_diverged(const struct slim *sl, const struct slim_event *ev)
{
	const struct probe *pb = &sl->probes.v[ev->probe];
	const struct probe_result *was = ev->was, *now = ev->now;
	bool same_out = was->noise || !strcmp(was->digest, now->digest);
	bool http = pb->kind == P_HTTP;
	fprintf(stderr, "pare: slim: verify: probe %zu (%s) diverged: %s %d -> %d%s%s, %s %s\n",
		ev->probe + 1, pb->label, http ? "status" : "exit", was->code, now->code,
		*now->error ? " " : "", now->error, http ? "body" : "stdout",
		was->noise ? "not compared (it differs from run to run)" : same_out ? "same" : "differs");
	show_divergence(pb, was, now);
}

static void print_verified(const struct slim_cmd *c, const struct slim *sl, bool ok)
{
	if (!ok) {
		fprintf(stderr, "pare: slim: the slim image is at %s; try it with 'pare run %s'\n",
			sl->dst_text, sl->dst_text);
		return;
	}
	size_t npr = sl->probes.n, noisy = 0;
	for (size_t i = 0; i < npr; i++)
		noisy += sl->results[i].noise;
	char how[160] = "";
	if (noisy)
		snprintf(how, sizeof(how), "; %zu compared by status only: %s output differs from run to run",
			 noisy, noisy == 1 ? "its" : "their");
	if (c->verify_only) /* the noise was told by the map step */
		fprintf(stderr, "  verify: %s behaves as its original did (%zu probe%s%s)\n", sl->dst_text, npr,
			npr == 1 ? "" : "s", how);
	else
		fprintf(stderr, "  verify: the slim image behaves the same (%zu probe%s%s); the original's "
				"second run, to tell noise, took %.1f s\n",
			npr, npr == 1 ? "" : "s", how, (double)sl->noise_ms / 1000);
}

static void print_written(const struct slim *sl)
{
	print_summary(sl);
	for (size_t i = 0; i < sl->keep.warnings.n; i++)
		fprintf(stderr, "pare: slim: warning: %s\n", sl->keep.warnings.v[i]);
	if (sl->keep.warnings_dropped)
		fprintf(stderr, "pare: slim: warning: and %zu more (see the report)\n", sl->keep.warnings_dropped);
}

static void on_event(void *ctx, const struct slim *sl, const struct slim_event *ev)
{
	const struct probe *pb = ev->probe < sl->probes.n ? &sl->probes.v[ev->probe] : NULL;
	bool tty = isatty(STDERR_FILENO);
	switch (ev->kind) {
	case SLIM_PROBE_FAILED:
		fprintf(stderr, "pare: slim: %sprobe %zu (%s) %s\n", ev->prefix, ev->probe + 1, pb->label, ev->why);
		break;
	case SLIM_NOT_READY:
		fprintf(stderr, "pare: slim: %snot ready for the probes: %s\n", ev->prefix, ev->why);
		break;
	case SLIM_PROBE_OUTPUT:
		if (ev->out_fd >= 0)
			show_tail(ev->whose, "stdout", ev->out_fd);
		if (ev->err_fd >= 0)
			show_tail(ev->whose, "stderr", ev->err_fd);
		break;
	case SLIM_PROBE_FLAKY:
		fprintf(stderr, "pare: slim: verify: probe %zu (%s) is flaky: %s %d, then %d, on two runs of the "
				"original image; it cannot show that the slim image behaves the same\n",
			ev->probe + 1, pb->label, pb->kind == P_HTTP ? "HTTP" : "exit", ev->was->code, ev->now->code);
		break;
	case SLIM_WRITE_START:
		if (tty)
			fprintf(stderr, "slim: writing %zu paths to %s...", sl->paths.n, sl->dst_text);
		break;
	case SLIM_WRITE_END:
		if (tty)
			fputs("\r\033[K", stderr);
		break;
	case SLIM_WRITTEN: print_written(sl); break;
	case SLIM_DIVERGED: print_diverged(sl, ev); break;
	case SLIM_VERIFIED: print_verified(ctx, sl, ev->ok); break;
	}
}

/* ---- the runs, on our terminal ---- */

/* The session --verify opens on the slim image, with the command's options. */
struct verify_session {
	struct run_cmd rc;
	struct prepared p;
};

static int host_open(void *ctx, const char *ref, struct session **out)
{
	const struct slim_cmd *c = ctx;
	struct verify_session *v = xcalloc(1, sizeof(*v));
	v->rc = c->rc; /* shares its lists: not freed with it */
	/* The slim image is read as the destination was written. */
	if (strcmp(ref, c->rc.ref))
		v->rc.co.open.reg = c->rc.co.dest;
	v->rc.ref = ref;
	if (run_prepare(&v->rc, &v->p)) {
		run_cleanup(&v->p);
		free(v);
		return -1;
	}
	*out = &v->p.s;
	return 0;
}

static void host_close(void *ctx, struct session *s)
{
	(void)ctx;
	struct verify_session *v = container_of(s, struct verify_session, p.s);
	run_cleanup(&v->p);
	free(v);
}

static int host_run(void *ctx, struct session *s, const struct slim_run *run, struct run_result *res)
{
	struct slim_cmd *c = ctx;
	struct prepared *p = container_of(s, struct prepared, s);
	struct tracer_opts o = { .mode = run->mode, .steps = run->steps, .n_steps = run->n_steps,
				 .step_results = run->step_results, .step_timeout_ms = run->step_timeout_ms,
				 .wait_ctx = (void *)run->step };
	return run_execute_with(&c->rc, p, &o, run->trace, res) ? -1 : 0;
}

static int host_closed(void *ctx, struct slim *sl, struct perr *err)
{
	struct slim_cmd *c = ctx;
	return c->closed(c->closed_ctx, sl, err);
}

/* Where the slim image goes: -o, else next to the input. */
static int name_output(const struct slim_cmd *c, const struct image *img, struct imgref *dst, char **text)
{
	struct perr err;
	*text = c->rc.output ? xstrdup(c->rc.output) : slim_default_output(img);
	if (!*text)
		return usage_error("slim", "the image comes from standard input: name the output with -o");
	if (imgref_parse(*text, true, dst, &err) < 0)
		return report(&err);
	dst->reg = c->rc.co.dest;
	return compress_fits("slim", c->have_compress ? c->o.compress : NULL, dst);
}

/* pare slim's arguments parsed (a fleet image's "slim" list too): NULL
 * with *RC the exit code when there is nothing to run (--help, a usage
 * error). */
struct slim_cmd *slim_cmd_parse(int argc, char **argv, int *rc)
{
	static const struct option extra[] = {
		RUN_LONGOPTS,
		{ "output", required_argument, NULL, 'o' },
		{ "tracer", required_argument, NULL, OPT_TRACER },
		{ "exec", required_argument, NULL, OPT_EXEC },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "http-file", required_argument, NULL, OPT_HTTP_FILE },
		{ "exec-file", required_argument, NULL, OPT_EXEC_FILE },
		{ "run", required_argument, NULL, OPT_RUN },
		{ "wait-port", required_argument, NULL, OPT_WAIT_PORT },
		{ "wait-cmd", required_argument, NULL, OPT_WAIT_CMD },
		{ "probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "keep-file", required_argument, NULL, OPT_KEEP_FILE },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "keep-written", no_argument, NULL, OPT_KEEP_WRITTEN },
		{ "seccomp-profile", required_argument, NULL, OPT_SECCOMP_PROFILE },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "profile-dir", required_argument, NULL, OPT_PROFILE_DIR },
		{ "no-default-profiles", no_argument, NULL, OPT_NO_DEFAULT_PROFILES },
		{ "units", required_argument, NULL, OPT_UNITS },
		{ "no-app-trees", no_argument, NULL, OPT_NO_APP_TREES },
		{ "no-import-closure", no_argument, NULL, OPT_NO_IMPORT_CLOSURE },
		{ "no-profile", required_argument, NULL, OPT_NO_PROFILE },
		{ "app-tree-max", required_argument, NULL, OPT_APP_TREE_MAX },
		{ "app-dir", required_argument, NULL, OPT_APP_DIR },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ 0 },
	};
	static const struct cmd_spec spec = { "slim", help, extra, slim_opt, ARGS_PERMUTE_COMMAND, 1,
					      "an image", true };
	struct slim_cmd *c = xcalloc(1, sizeof(*c));
	run_cmd_init(&c->rc);
	int r = run_cmd_parse(&spec, argc, argv, c, &c->rc);
	if (r >= 0) {
		*rc = r;
		slim_cmd_free(c);
		return NULL;
	}
	c->o.mode = c->rc.mode;
	c->o.seccomp_profile = c->rc.seccomp_profile;
	if (!c->have_compress)
		c->compress = (struct compress_spec){ .comp = COMP_GZIP };
	c->compress.threads = c->jobs;
	c->o.compress = &c->compress;
	return c;
}

void slim_cmd_free(struct slim_cmd *c)
{
	run_cmd_free(&c->rc);
	slim_opts_free(&c->o);
	free(c);
}

const char *slim_cmd_ref(const struct slim_cmd *c) { return c->rc.ref; }
const struct slim_opts *slim_cmd_opts(const struct slim_cmd *c) { return &c->o; }
const struct common_opts *slim_cmd_common(const struct slim_cmd *c) { return &c->rc.co; }
bool slim_cmd_no_cache(const struct slim_cmd *c) { return c->rc.no_cache; }
bool slim_cmd_names_output(const struct slim_cmd *c) { return c->rc.output != NULL; }

int slim_cmd_output(const struct slim_cmd *c, const struct image *img, struct imgref *dst, char **text)
{
	return name_output(c, img, dst, text);
}

int slim_cmd_run(struct slim_cmd *c, int (*closed)(void *ctx, struct slim *sl, struct perr *err), void *ctx)
{
	struct slim sl;
	struct prepared p;
	struct perr err = { 0 };
	struct imgref dst = { 0 };
	cleanup_free char *dst_text = NULL;
	int r;
	slim_init(&sl, &c->o);
	if (slim_load_rules(&sl, &err) < 0) {
		r = report(&err);
		goto done;
	}
	r = run_prepare(&c->rc, &p);
	if (!r && slim_plan(&sl, p.s.img, &err) < 0)
		r = report(&err);
	if (!r)
		r = name_output(c, p.s.img, &dst, &dst_text);
	if (!r) {
		c->closed = closed;
		c->closed_ctx = ctx;
		const struct slim_host host = { host_open, host_close, host_run, on_event, c,
						closed ? host_closed : NULL };
		int sr = slim_run(&sl, &p.s, dst_text, &dst, &host, &err);
		r = sr < 0 ? report(&err) : sr ? EXIT_FAIL : 0;
	}
	imgref_free(&dst);
	run_cleanup(&p);
done:
	slim_free(&sl);
	return r;
}

int slim_cmd_verify(struct slim_cmd *c, const struct probe_result *was, size_t n, const char *dst_text)
{
	struct slim sl;
	struct perr err = { 0 };
	int r = 0;
	slim_init(&sl, &c->o);
	c->verify_only = true;
	cleanup_image struct image *img = NULL;
	struct open_opts oo = c->rc.co.open;
	oo.reg = c->rc.co.dest;
	if (image_open_text(dst_text, &oo, &img, &err) < 0 || slim_plan(&sl, img, &err) < 0)
		r = report(&err);
	if (!r && sl.probes.n != n)
		r = usage_error("fleet verify", "%s has %zu probes, its keep record %zu: probe it again",
				dst_text, sl.probes.n, n);
	for (size_t i = 0; !r && i < n; i++) {
		sl.results[i] = was[i];
		sl.results[i].head = NULL;
	}
	if (!r) {
		const struct slim_host host = { host_open, host_close, host_run, on_event, c, NULL };
		sl.dst_text = dst_text;
		r = slim_verify(&sl, &host) ? EXIT_FAIL : 0;
	}
	slim_free(&sl);
	return r;
}

int cmd_slim(int argc, char **argv)
{
	int rc = 0;
	struct slim_cmd *c = slim_cmd_parse(argc, argv, &rc);
	if (!c)
		return rc;
	rc = slim_cmd_run(c, NULL, NULL);
	slim_cmd_free(c);
	return rc;
}
