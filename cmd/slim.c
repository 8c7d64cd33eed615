/* pare slim: probes under the tracer, keep-set closure, one new layer,
 * a report, and --verify (the same probes against the slim image). */
#define _GNU_SOURCE
#include "cmd/runopts.h"

#include <ctype.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "image/layer_write.h"
#include "base/digest.h"
#include "slimmer/glob.h"
#include "base/resolve.h"
#include "slimmer/keepset.h"
#include "slimmer/rules.h"
#include "image/writer.h"
#include "tracer/syscalls.h"
#include "slimmer/slim_image.h"
#include "slimmer/slim_report.h"
#include "slimmer/slim_probes.h"

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
	"      --exec CMD          a probe: run `/bin/sh -c CMD` in the image instead of its\n"
	"                          entrypoint (repeatable; each runs in its own sandbox, in\n"
	"                          order). Without probes the entrypoint/cmd runs to its end\n"
	"                          (or --timeout). A probe exiting non-zero fails the slim.\n"
	"      --exec-file FILE    one probe command per line\n"
	"      --http [METHOD:]PATH[:PORT]  a probe: an HTTP request to the running entrypoint,\n"
	"                          from inside the sandbox's network, once the port accepts\n"
	"                          (retried until --timeout, default 30 s); then the\n"
	"                          entrypoint gets its stop signal. PORT defaults to the first\n"
	"                          exposed TCP port. Without any probe, an image exposing\n"
	"                          TCP ports gets GET / on each. 4xx/5xx fails the slim.\n"
	"      --http-file FILE    HTTP probes from JSON: [{\"method\", \"path\", \"port\",\n"
	"                          \"headers\": {..}, \"body\", \"status\": expected}]\n"
	"      --trace FILE        also keep what a `pare probe` trace recorded (repeatable)\n"
	"      --keep PATH|GLOB    keep these too (repeatable; * ? [..] per component, ** any depth)\n"
	"      --keep-file FILE    one --keep per line\n"
	"      --exclude GLOB      drop traced paths matching GLOB (--keep still wins)\n"
	"      --profile NAME|FILE keep-list profile to apply (repeatable); see 'pare profile list'.\n"
	"                          The 'base' profile (users, nss) applies unless\n"
	"                          --no-default-profiles\n"
	"      --profile-dir DIR   look for profiles by name here first\n"
	"      --no-default-profiles  do not apply 'base'\n"
	"      --units KIND[,KIND] package units: debian (a kept file of a dpkg package keeps\n"
	"                          the whole package but its docs), debian-docs (with docs),\n"
	"                          dist-info (pip's RECORD files)\n"
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
	COMPRESS_HELP
	"      --tracer MODE       auto (default), fanotify, ptrace or both; see 'pare probe --help'\n"
	RUN_HELP COMMON_HELP;

enum { OPT_EXEC = 1200, OPT_HTTP, OPT_HTTP_FILE, OPT_KEEP_WRITTEN, OPT_EXEC_FILE, OPT_TRACE, OPT_KEEP, OPT_KEEP_FILE, OPT_EXCLUDE,
       OPT_REPORT, OPT_VERIFY, OPT_PROFILE, OPT_PROFILE_DIR, OPT_NO_DEFAULT_PROFILES, OPT_UNITS };

/* ---- probes ---- */

/* One slim: its options, then what the steps found. */
struct slim {
	struct run_cmd rc;
	struct strv execs, http, http_files, traces, keep, exclude, profile_names, unit_kinds;
	const char *report, *profile_dir;
	bool verify, keep_written, no_default_profiles;
	struct compress_spec compress; /* of the slim layer, for oci: outputs */
	bool have_compress;
	struct probe_list probes;
	bool used_fanotify, used_ptrace, rootless;
	uint64_t noise_ms; /* --verify's second run of the original */
	struct rules rules;
	struct profile_set profiles;
	struct units_state units;
	struct dropped *dropped;
	size_t n_dropped;
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

static int slim_opt(void *ctx, int c, const char *optarg)
{
	struct slim *s = ctx;
	switch (c) {
	case OPT_EXEC: strv_push(&s->execs, xstrdup(optarg)); return 0;
	case OPT_HTTP:
		if (check_http(optarg) < 0)
			return -1;
		strv_push(&s->http, xstrdup(optarg));
		return 0;
	case OPT_HTTP_FILE: return side_file("http-file", optarg, &s->http_files);
	case OPT_EXEC_FILE: return read_lines("exec-file", optarg, &s->execs);
	case OPT_TRACE: return side_file("trace", optarg, &s->traces);
	case OPT_KEEP:
	case OPT_EXCLUDE:
		if (optarg[0] != '/' || !glob_valid(optarg)) {
			fprintf(stderr, "pare: invalid --%s '%s': an absolute path or glob\n",
				c == OPT_KEEP ? "keep" : "exclude", optarg);
			return -1;
		}
		strv_push(c == OPT_KEEP ? &s->keep : &s->exclude, xstrdup(optarg));
		return 0;
	case OPT_KEEP_FILE: return read_lines("keep-file", optarg, &s->keep);
	case OPT_REPORT: s->report = optarg; return 0;
	case OPT_VERIFY: s->verify = true; return 0;
	case OPT_COMPRESS: s->have_compress = true; return compress_opt(optarg, &s->compress);
	case OPT_KEEP_WRITTEN: s->keep_written = true; return 0;
	case OPT_PROFILE: strv_push(&s->profile_names, xstrdup(optarg)); return 0;
	case OPT_PROFILE_DIR: s->profile_dir = optarg; return 0;
	case OPT_NO_DEFAULT_PROFILES: s->no_default_profiles = true; return 0;
	case OPT_UNITS: {
		cleanup_free char *copy = xstrdup(optarg);
		char *save = NULL;
		for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
			if (unit_kind_parse(u) < 0) {
				fprintf(stderr, "pare: invalid --units '%s': use debian, debian-docs or dist-info\n", u);
				return -1;
			}
			strv_push(&s->unit_kinds, xstrdup(u));
		}
		return 0;
	}
	default: return run_cmd_opt(&s->rc, c, optarg);
	}
}

static void digest_fd(int fd, struct probe_result *pr)
{
	struct sha256 h;
	char buf[65536];
	ssize_t n;
	sha256_init(&h);
	pr->len = 0;
	free(pr->head);
	pr->head = xmalloc(STDOUT_HEAD);
	pr->head_len = 0;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		sha256_update(&h, buf, (size_t)n);
		pr->len += (uint64_t)n;
		size_t take = (size_t)n < STDOUT_HEAD - pr->head_len ? (size_t)n : STDOUT_HEAD - pr->head_len;
		memcpy(pr->head + pr->head_len, buf, take);
		pr->head_len += take;
	}
	sha256_final(&h, pr->digest);
	sha256_free(&h);
}

static int fail_probe(const struct slim *s, const char *what, size_t i, const char *why)
{
	fprintf(stderr, "pare: slim: %sprobe %zu (%s) %s\n", what, i + 1, s->probes.v[i].label, why);
	return EXIT_FAIL;
}

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

/* Where one run's stdout and stderr go: memfds, for the digest and for
 * the last lines of a failure. */
struct run_output {
	int out, err;
};

static void output_open(struct run_output *o, struct prepared *p)
{
	o->out = memfd_create("pare-probe-stdout", MFD_CLOEXEC);
	o->err = memfd_create("pare-probe-stderr", MFD_CLOEXEC);
	p->s.spec.proc.fds[1] = o->out >= 0 ? o->out : STDOUT_FILENO;
	p->s.spec.proc.fds[2] = o->err >= 0 ? o->err : STDERR_FILENO;
}

static void output_close(struct run_output *o, struct prepared *p)
{
	p->s.spec.proc.fds[1] = STDOUT_FILENO;
	p->s.spec.proc.fds[2] = STDERR_FILENO;
	closep(&o->out);
	closep(&o->err);
}

static void output_show(const struct run_output *o, const char *who)
{
	if (o->out >= 0)
		show_tail(who, "stdout", o->out);
	if (o->err >= 0)
		show_tail(who, "stderr", o->err);
}

static void note_tracers(struct slim *s, const struct run_result *res)
{
	s->used_fanotify |= res->used_fanotify;
	s->used_ptrace |= res->used_ptrace;
	s->rootless |= res->rootless;
}

/* One sandbox per exec probe (or for the command). 0, or an exit code
 * after reporting. */
static int run_exec_probe(struct slim *s, size_t i, struct run_cmd *rc, struct prepared *p,
			  struct trace *t, struct probe_result *pr, const char *what, bool must_succeed)
{
	char **saved_argv = p->s.spec.proc.argv;
	char *argv[] = { "/bin/sh", "-c", (char *)s->probes.v[i].cmd, NULL };
	if (s->probes.v[i].kind == P_EXEC)
		p->s.spec.proc.argv = argv;
	struct run_output o;
	output_open(&o, p);
	struct run_result res;
	int r = run_execute(rc, p, t ? rc->mode : TRACER_OFF, t, &res);
	p->s.spec.proc.argv = saved_argv;
	if (!r) {
		if (t)
			note_tracers(s, &res);
		pr->code = exit_code_of(&res);
		pr->timed_out = res.timed_out;
		pr->duration_ms = res.duration_ms;
		pr->ok = pr->code == 0 || (res.timed_out && s->probes.v[i].kind == P_COMMAND);
		if (o.out >= 0)
			digest_fd(o.out, pr);
		/* A one-shot probe must succeed; an entrypoint stopped by our
		 * --timeout is how a server's run ends. */
		if (must_succeed && !pr->ok) {
			char why[64];
			snprintf(why, sizeof(why), "exited with %d%s", pr->code,
				 res.timed_out ? " (timed out)" : "");
			r = fail_probe(s, what, i, why);
			output_show(&o, "its");
		}
	}
	output_close(&o, p);
	return r;
}

/* Why an HTTP probe failed, in the user's terms. */
static void http_why(const struct http_result *hr, const struct run_result *res, unsigned port,
		     char *why, size_t sz)
{
	if (hr->ok)
		snprintf(why, sz, "answered HTTP %d", hr->status);
	else if (hr->no_result && res->have_status && !res->timed_out && !res->interrupted)
		snprintf(why, sz, "got no answer: the entrypoint exited with %d before port %u answered",
			 exit_code_of(res), port);
	else
		snprintf(why, sz, "failed: %s", hr->error);
}

/* All HTTP probes in one sandbox, against the running entrypoint. */
static int run_http_probes(struct slim *s, size_t nhttp, struct run_cmd *rc, struct prepared *p,
			   struct trace *t, struct probe_result *out, const char *what,
			   bool must_succeed)
{
	struct http_probe *hp = xcalloc(nhttp, sizeof(*hp));
	struct http_result *hr = xcalloc(nhttp, sizeof(*hr));
	size_t *idx = xcalloc(nhttp, sizeof(*idx)), k = 0;
	for (size_t i = 0; i < s->probes.n; i++)
		if (s->probes.v[i].kind == P_HTTP) {
			idx[k] = i;
			hp[k++] = s->probes.v[i].http;
		}
	struct run_output o;
	output_open(&o, p);
	p->http = hp;
	p->n_http = nhttp;
	p->http_results = hr;
	struct run_result res;
	int r = run_execute(rc, p, t ? rc->mode : TRACER_OFF, t, &res);
	p->n_http = 0;
	if (!r && t)
		note_tracers(s, &res);
	for (size_t j = 0; !r && j < nhttp; j++) {
		struct probe_result *pr = &out[idx[j]];
		pr->duration_ms = res.duration_ms;
		int want = s->probes.v[idx[j]].http.expect;
		pr->ok = hr[j].ok && (want ? hr[j].status == want : hr[j].status < 400);
		pr->code = hr[j].status;
		snprintf(pr->digest, sizeof(pr->digest), "%s", hr[j].body_digest);
		snprintf(pr->error, sizeof(pr->error), "%s", hr[j].error);
		pr->len = hr[j].body_len;
		if (must_succeed && !pr->ok) {
			char why[300];
			http_why(&hr[j], &res, hp[j].port, why, sizeof(why));
			r = fail_probe(s, what, idx[j], why);
		}
	}
	if (r == EXIT_FAIL) /* once, after the failures: what the entrypoint said */
		output_show(&o, "the entrypoint's");
	output_close(&o, p);
	free(hp);
	free(hr);
	free(idx);
	return r;
}

/* Every probe, in order: exec probes one sandbox each, then the HTTP
 * probes in one. Traced into T when T is set. 0, or an exit code after
 * reporting. */
static int run_probes(struct slim *s, struct run_cmd *rc, struct prepared *p, struct trace *t,
		      struct probe_result *out, const char *what, bool must_succeed)
{
	size_t nhttp = 0;
	for (size_t i = 0; i < s->probes.n; i++) {
		if (s->probes.v[i].kind == P_HTTP) {
			nhttp++;
			continue;
		}
		int r = run_exec_probe(s, i, rc, p, t, &out[i], what, must_succeed);
		if (r)
			return r;
	}
	return nhttp ? run_http_probes(s, nhttp, rc, p, t, out, what, must_succeed) : 0;
}

/* ---- the keep-set ---- */


/* The profiles (base unless --no-default-profiles, then --profile's, each
 * with its includes) and the command line's rules, as one rule set. */
static int load_rules(struct slim *s)
{
	struct profile_path pp;
	struct perr err;
	int r = 0;
	profile_path_init(&pp, s->profile_dir);
	if (!s->no_default_profiles && profile_set_add(&s->profiles, &pp, "base", &err) < 0)
		r = -1;
	for (size_t i = 0; !r && i < s->profile_names.n; i++)
		if (profile_set_add(&s->profiles, &pp, s->profile_names.v[i], &err) < 0)
			r = -1;
	profile_path_free(&pp);
	if (r < 0)
		return report(&err);
	rules_add_profiles(&s->rules, &s->profiles);
	for (size_t i = 0; i < s->keep.n; i++)
		rules_add(&s->rules.keep, s->keep.v[i], NULL);
	for (size_t i = 0; i < s->exclude.n; i++)
		rules_add(&s->rules.exclude, s->exclude.v[i], NULL);
	for (size_t i = 0; i < s->unit_kinds.n; i++)
		rules_add_kind(&s->rules, (enum unit_kind)unit_kind_parse(s->unit_kinds.v[i]), NULL);
	return 0;
}

/* ---- output ---- */

/* The unit directory holding PATH that RULE pulled in. */
static int write_report(struct slim *s, const char *file, struct prepared *p, const char *dst,
			const struct keepset *k, const struct trace *t, const struct strset *written,
			int upper_fd,
			const struct strv *paths, const struct slim_written *w,
			const struct probe_result *pr, size_t npr, const char *verified)
{
	json_t *kept = slim_kept_json(k, paths, written, upper_fd, p->s.rootfd, &s->units, t);
	json_t *j = json_pack(
		"{s:s,s:s,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:s,s:s},s:o,s:o,s:o}", "image",
		p->s.img->ref.text, "output", dst, "before", "compressed",
		(json_int_t)w->before_compressed, "bytes", (json_int_t)w->before_bytes, "entries",
		(json_int_t)w->before_files, "after", "compressed", (json_int_t)w->layer.size,
		"bytes", (json_int_t)w->after_bytes,
		"uncompressed", (json_int_t)w->layer.uncompressed, "entries",
		(json_int_t)w->layer.entries, "layer", w->layer.digest, "diff_id", w->layer.diff_id,
		"probes", probes_json(&s->probes, pr, npr, s->verify), "verify",
		verified ? json_string(verified) : json_null(), "paths", kept);
	json_t *tr = json_array();
	if (s->used_fanotify)
		json_array_append_new(tr, json_string("fanotify"));
	if (s->used_ptrace)
		json_array_append_new(tr, json_string("ptrace"));
	json_object_set_new(j, "tracers", tr);
	json_t *rules_j = slim_rules_json(&s->profiles, &s->units, s->dropped, s->n_dropped);
	json_object_update(j, rules_j);
	json_decref(rules_j);
	if (t->n_sys) {
		json_t *sys = json_array();
		for (size_t i = 0; i < t->n_sys; i++) {
			char *name = sc_name(t->sys[i].nr, t->sys[i].arch);
			uint32_t by = t->sys[i].first_exe;
			json_array_append_new(sys, json_pack("{s:s,s:o}", "name", name ? name : "?",
							     "first_by", by == UINT32_MAX ? json_null()
										 : json_string(t->exes.v[by])));
			free(name);
		}
		json_object_set_new(j, "syscalls", sys);
	}
	json_object_set_new(j, "rootless", json_boolean(s->rootless));
	json_object_set_new(j, "sandbox", sandbox_json(&p->confine));
	json_t *warn = json_array();
	for (size_t i = 0; i < k->warnings.n; i++)
		json_array_append_new(warn, json_string(k->warnings.v[i]));
	json_object_set_new(j, "warnings", warn);
	if (s->verify)
		json_object_set_new(j, "verify_noise_check_ms", json_integer((json_int_t)s->noise_ms));
	/* through a temporary name: a reader never sees half a report */
	cleanup_free char *text = json_dumps(j, JSON_INDENT(1));
	json_decref(j);
	struct perr err;
	if (!text || write_file_atomic(file, text, &err) < 0) {
		fprintf(stderr, "pare: cannot write the report: %s\n", text ? err.msg : "out of memory");
		return EXIT_FAIL;
	}
	return 0;
}

/* ---- the summary ---- */

/* "gzip", "uncompressed", or "mixed" when the layers differ. */
static const char *layers_compression(const struct image *img)
{
	const char *name = NULL;
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		enum compression c = image_layer_compression(img, i);
		const char *n = c == COMP_NONE ? "uncompressed" : compression_name(c);
		if (name && strcmp(name, n))
			return "mixed";
		name = n;
	}
	return name ? name : "uncompressed";
}

static void print_summary(const struct slim *s, const struct image *img, const char *dst,
			  const struct slim_written *w, size_t npr)
{
	char b1[32], b2[32], b3[32], b4[32], names[512] = "";
	for (size_t i = 0; i < s->profiles.n; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 s->profiles.p[i].name);
	const char *before_comp = layers_compression(img);
	const char *after_comp = w->comp == COMP_NONE ? "uncompressed" : compression_name(w->comp);
	char ratio[32] = ""; /* only like against like */
	if (!strcmp(before_comp, after_comp) && w->before_compressed)
		snprintf(ratio, sizeof(ratio), " (%.1f%%)",
			 100.0 * (double)w->layer.size / (double)w->before_compressed);
	fprintf(stderr, "pare: slim: %s -> %s\n  files:  %llu -> %llu entries\n"
			"  size:   %s -> %s of files (%.1f%%)\n"
			"  layers: %s %s -> %s %s%s\n"
			"  probes: %zu passed\n"
			"  profiles: %s\n",
		img->ref.text, dst, (unsigned long long)w->before_files,
		(unsigned long long)w->layer.entries, human_size(w->before_bytes, b1),
		human_size(w->after_bytes, b2),
		w->before_bytes ? 100.0 * (double)w->after_bytes / (double)w->before_bytes : 0.0,
		human_size(w->before_compressed, b3), before_comp, human_size((uint64_t)w->layer.size, b4),
		after_comp, ratio, npr, s->profiles.n ? names : "none");
	/* Units and packages in one line; each is in the report. */
	size_t units = 0, packages = 0, paths = 0, idle = 0;
	for (size_t i = 0; i < s->units.n_pulled; i++) {
		const struct pulled *u = &s->units.pulled[i];
		*(strcmp(u->kind, "unit") ? &packages : &units) += 1;
		paths += u->paths;
		idle += u->paths == 0;
	}
	char none_new[48] = "";
	if (idle)
		snprintf(none_new, sizeof(none_new), "; %zu added nothing new", idle);
	if (units + packages)
		fprintf(stderr, "  pulled in: %zu unit%s, %zu package%s, %zu more paths%s (%s)\n", units,
			units == 1 ? "" : "s", packages, packages == 1 ? "" : "s", paths, none_new,
			s->report ? "each is in the report" : "--report FILE lists each");
}

/* ---- verify ---- */

/* The first line where A and B differ (1-based), or 0 when they agree as
 * far as both go; *AL / *BL point at that line in each. */
static size_t first_difference(const char *a, size_t an, const char *b, size_t bn, const char **al,
			       const char **bl)
{
	size_t line = 1, i = 0, start = 0;
	for (; i < an && i < bn && a[i] == b[i]; i++)
		if (a[i] == '\n') {
			line++;
			start = i + 1;
		}
	if (i == an && i == bn)
		return 0;
	*al = a + start;
	*bl = b + start;
	return line;
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
	size_t line = first_difference(was->head, was->head_len, now->head, now->head_len, &al, &bl);
	if (!line && strcmp(was->digest, now->digest))
		fprintf(stderr, "    stdout: the first %zu bytes agree; %llu bytes in the original, %llu in the slim image\n",
			was->head_len, (unsigned long long)was->len, (unsigned long long)now->len);
	if (!line)
		return;
	fprintf(stderr, "    stdout differs from line %zu:\n", line);
	print_line("original:", al, was->head + was->head_len);
	print_line("slim:    ", bl, now->head + now->head_len);
}

/* Noise: each probe once more against the original image, untraced. An
 * output that differs between two runs of the original (Perl's hash order,
 * timestamps, PIDs) is compared by exit status only; an exit status that
 * differs makes the probe flaky, and the slim fails. Returns 0 or an exit
 * code; *COST_MS gets the time it took. */
static int check_noise(struct slim *s, struct run_cmd *rc, struct prepared *p, struct probe_result *pr,
		       size_t n, uint64_t *cost_ms)
{
	struct probe_result *again = xcalloc(n, sizeof(*again));
	uint64_t start = monotonic_ms();
	p->what = "verify (second run of the original)";
	int r = run_probes(s, rc, p, NULL, again, "verify (second run of the original): ", false);
	p->what = "slim";
	*cost_ms = monotonic_ms() - start;
	for (size_t i = 0; !r && i < n; i++) {
		pr[i].flaky = again[i].code != pr[i].code || again[i].ok != pr[i].ok;
		pr[i].noise = !pr[i].flaky && strcmp(again[i].digest, pr[i].digest);
		if (!pr[i].flaky)
			continue;
		fprintf(stderr, "pare: slim: verify: probe %zu (%s) is flaky: %s %d, then %d, on two runs of the "
				"original image; it cannot show that the slim image behaves the same\n",
			i + 1, s->probes.v[i].label, s->probes.v[i].kind == P_HTTP ? "HTTP" : "exit", pr[i].code,
			again[i].code);
		r = EXIT_FAIL;
	}
	probe_results_free(again, n);
	return r;
}

static int verify(struct slim *s, struct run_cmd *rc, const char *dst, const struct probe_result *orig, size_t n,
		  const char **verdict)
{
	struct run_cmd vrc = *rc;
	struct prepared vp;
	struct probe_result *now = xcalloc(n, sizeof(*now));
	vrc.ref = dst;
	/* vrc owns copies of the lists run_cmd_free() frees */
	struct { struct strv *to; const struct strv *from; } lists[] = {
		{ &vrc.env, &rc->env }, { &vrc.cap_add, &rc->cap_add }, { &vrc.cap_drop, &rc->cap_drop },
	};
	for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
		*lists[k].to = (struct strv){ 0 };
		for (size_t i = 0; i < lists[k].from->n; i++)
			strv_push(lists[k].to, xstrdup(lists[k].from->v[i]));
	}
	int r = run_prepare(&vrc, &vp);
	vp.what = "verify";
	if (!r)
		r = run_probes(s, &vrc, &vp, NULL, now, "verify: ", false);
	for (size_t i = 0; !r && i < n; i++) {
		bool same_out = orig[i].noise || !strcmp(orig[i].digest, now[i].digest);
		if (orig[i].code == now[i].code && same_out && orig[i].ok == now[i].ok)
			continue;
		bool http = s->probes.v[i].kind == P_HTTP;
		fprintf(stderr, "pare: slim: verify: probe %zu (%s) diverged: %s %d -> %d%s%s, %s %s\n",
			i + 1, s->probes.v[i].label, http ? "status" : "exit", orig[i].code, now[i].code,
			*now[i].error ? " " : "", now[i].error, http ? "body" : "stdout",
			orig[i].noise ? "not compared (it differs from run to run)" : same_out ? "same" : "differs");
		show_divergence(&s->probes.v[i], &orig[i], &now[i]);
		r = EXIT_FAIL;
	}
	if (r)
		fprintf(stderr, "pare: slim: the slim image is at %s; try it with 'pare run %s'\n", dst, dst);
	*verdict = r ? "diverged" : "same";
	probe_results_free(now, n);
	run_cleanup(&vp);
	run_cmd_free(&vrc);
	return r;
}

static void slim_state_free(struct slim *s)
{
	probes_free(&s->probes);
	struct strv *lists[] = { &s->execs, &s->http, &s->http_files, &s->traces, &s->keep,
				 &s->exclude, &s->profile_names, &s->unit_kinds };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		strv_free(lists[i]);
	for (size_t i = 0; i < s->n_dropped; i++)
		free(s->dropped[i].path);
	free(s->dropped);
	s->dropped = NULL;
	s->n_dropped = 0;
	units_state_free(&s->units);
	rules_free(&s->rules);
	profile_set_free(&s->profiles);
}

int cmd_slim(int argc, char **argv)
{
	static const struct option extra[] = {
		RUN_LONGOPTS,
		{ "output", required_argument, NULL, 'o' },
		{ "tracer", required_argument, NULL, OPT_TRACER },
		{ "exec", required_argument, NULL, OPT_EXEC },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "http-file", required_argument, NULL, OPT_HTTP_FILE },
		{ "exec-file", required_argument, NULL, OPT_EXEC_FILE },
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
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ 0 },
	};
	struct slim sl = { 0 }, *s = &sl;
	struct run_cmd *rc = &s->rc;
	struct prepared p;
	struct perr err = { 0 };
	struct trace t;
	struct keepset k;
	struct strv paths = { 0 };
	struct slim_written w = { 0 };
	struct imgref dst = { 0 };
	cleanup_free char *dst_text = NULL;
	char *upper_dir = NULL;
	int upper_fd = -1;
	struct strset written = { 0 };
	static const struct cmd_spec spec = { "slim", help, extra, slim_opt, ARGS_PERMUTE_COMMAND, 1,
					      "an image" };
	run_cmd_init(rc);
	rules_init(&s->rules);
	int r = run_cmd_parse(&spec, argc, argv, s, rc);
	if (r >= 0) {
		slim_state_free(s);
		return r;
	}
	struct probe_result *pr = NULL;
	size_t npr = 0;
	trace_init(&t);
	keepset_init(&k);
	const char *verdict = NULL;
	if ((r = load_rules(s))) {
		run_cmd_free(rc);
		slim_state_free(s);
		return r;
	}
	r = run_prepare(rc, &p);
	p.what = "slim";
	if (r)
		goto out;
	if (probes_plan(&s->probes, &s->execs, &s->http, &s->http_files, &p.s.img->config, &err) < 0) {
		r = report(&err);
		goto out;
	}
	npr = s->probes.n;
	pr = xcalloc(npr, sizeof(*pr));
	dst_text = rc->output ? xstrdup(rc->output) : slim_default_output(p.s.img);
	if (!dst_text) {
		r = usage_error("slim", "the image comes from standard input: name the output with -o");
		goto out;
	}
	if (imgref_parse(dst_text, true, &dst, &err) < 0) {
		r = report(&err);
		goto out;
	}
	if ((r = compress_fits("slim", s->have_compress ? &s->compress : NULL, &dst)))
		goto out;
	if (s->execs.n && !image_has_path(p.s.rootfd, "/bin/sh")) {
		fprintf(stderr, "pare: slim: --exec needs /bin/sh in the image\n");
		r = EXIT_FAIL;
		goto out;
	}
	if (s->keep_written) {
		/* One writable layer on the host for all probes, to read back. */
		upper_dir = make_tempdir("pare-written", &err);
		cleanup_free char *u = upper_dir ? xasprintf("%s/upper", upper_dir) : NULL;
		cleanup_free char *wk = upper_dir ? xasprintf("%s/work", upper_dir) : NULL;
		if (!upper_dir || mkdir(u, 0755) < 0 || mkdir(wk, 0755) < 0 ||
		    (upper_fd = open(u, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			if (upper_dir && !err.msg[0])
				perr_set(&err, errno, "cannot prepare '%s'", upper_dir);
			r = report(&err);
			goto out;
		}
		p.s.spec.upper_dir = upper_dir;
	}
	if ((r = run_probes(s, rc, &p, &t, pr, "", true)))
		goto out;
	if (s->verify) { /* before anything is written: a flaky probe fails the slim */
		const char *shared_upper = p.s.spec.upper_dir;
		p.s.spec.upper_dir = NULL; /* the second run starts from the image, not from what the first wrote */
		r = check_noise(s, rc, &p, pr, npr, &s->noise_ms);
		p.s.spec.upper_dir = shared_upper;
		if (r)
			goto out;
	}
	if (t.lost) {
		fprintf(stderr, "pare: slim: the trace is incomplete (%s); refusing to slim\n", t.lost_why);
		r = EXIT_FAIL;
		goto out;
	}
	if (rc->seccomp_profile && seccomp_profile_write(&t, rc->seccomp_profile, &err) < 0) {
		r = report(&err);
		goto out;
	}
	for (size_t i = 0; i < s->traces.n; i++)
		if (trace_read_file(&t, s->traces.v[i], &err) < 0) {
			perr_wrap(&err, "--trace");
			r = report(&err);
			goto out;
		}
	trace_check_image(&t, p.s.rootfd); /* "exists", for the report's excluded paths */
	slim_seed(&k, &s->rules, &t, &p.s.plan, p.s.img, p.s.rootfd, &s->dropped, &s->n_dropped);
	if (rules_close(&s->rules, &k, p.s.rootfd, &s->units, &err) < 0) {
		r = report(&err);
		goto out;
	}
	keepset_paths(&k, &paths);
	if (upper_fd >= 0)
		slim_collect_written(&s->rules, &t, upper_fd, &k, &paths, &written);
	slim_measure(p.s.img, p.s.rootfd, &paths, &w);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "slim: writing %zu paths to %s...", paths.n, dst_text);
	int wr = slim_write_image(p.s.img, p.s.rootfd, &dst, s->have_compress ? &s->compress : NULL, &paths,
			     written.n ? &written : NULL, upper_fd, &w, &err);
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	if (wr < 0) {
		perr_wrap(&err, "cannot write %s", dst_text);
		r = report(&err);
		goto out;
	}
	print_summary(s, p.s.img, dst_text, &w, npr);
	for (size_t i = 0; i < k.warnings.n; i++)
		fprintf(stderr, "pare: slim: warning: %s\n", k.warnings.v[i]);
	if (k.warnings_dropped)
		fprintf(stderr, "pare: slim: warning: and %zu more (see the report)\n", k.warnings_dropped);
	if (s->verify) {
		r = verify(s, rc, dst_text, pr, npr, &verdict);
		size_t noisy = 0;
		for (size_t i = 0; i < npr; i++)
			noisy += pr[i].noise;
		char how[160] = "";
		if (noisy)
			snprintf(how, sizeof(how), "; %zu compared by status only: %s output differs from run to run",
				 noisy, noisy == 1 ? "its" : "their");
		if (!r)
			fprintf(stderr, "  verify: the slim image behaves the same (%zu probe%s%s); the original's "
					"second run, to tell noise, took %.1f s\n",
				npr, npr == 1 ? "" : "s", how, (double)s->noise_ms / 1000);
	}
	if (s->report) {
		int rr = write_report(s, s->report, &p, dst_text, &k, &t, &written, upper_fd, &paths, &w, pr, npr, verdict);
		r = r ? r : rr;
	}
out:
	if (upper_fd >= 0)
		close(upper_fd);
	if (upper_dir) {
		struct perr ignored;
		remove_tree_at(AT_FDCWD, upper_dir, &ignored);
		free(upper_dir);
	}
	strset_free(&written);
	probe_results_free(pr, npr);
	strv_free(&paths);
	keepset_free(&k);
	trace_free(&t);
	imgref_free(&dst);
	run_cleanup(&p);
	run_cmd_free(rc);
	slim_state_free(s);
	return r;
}
