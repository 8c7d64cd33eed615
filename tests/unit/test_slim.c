/* The slim pipeline's library parts: which probes a slim runs (--exec,
 * --http, GET / per exposed TCP port, else the image's command) and their
 * report entries; the default output name next to the input; and the
 * pipeline's stops, on a real session of a real layout: a failed run or a
 * missing /bin/sh ends it before anything is written, with no events the
 * command would print twice. (Whole slims run in tests/e2e.) */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/slim.h"
#include "slimmer/slim_image.h"
#include "slimmer/slim_probes.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct probe_args args_of(enum probe_arg_kind k1, const char *t1, enum probe_arg_kind k2, const char *t2)
{
	struct probe_args a = { 0 };
	if (t1)
		probe_args_push(&a, k1, t1);
	if (t2)
		probe_args_push(&a, k2, t2);
	return a;
}

static void test_plan(void)
{
	struct image_config c = { 0 };
	strv_push(&c.exposed_ports, xstrdup("53/udp"));
	strv_push(&c.exposed_ports, xstrdup("8080/tcp"));
	struct probe_args none = { 0 };
	struct probe_args given = args_of(ARG_EXEC, "true", ARG_HTTP, "/health");
	probe_args_push(&given, ARG_HTTP, "POST:/x:9000");
	struct readiness ready = { 0 };
	struct probe_list l = { 0 };
	struct perr err;

	ok(probes_plan(&l, &none, &ready, &c, &err) == 0 && l.n == 1 && l.v[0].kind == P_HTTP &&
		   l.v[0].http.port == 8080 && l.v[0].http.any_answer &&
		   !strcmp(l.v[0].label, "GET / on port 8080") && l.n_wait_ports == 1 && l.wait_ports[0] == 8080,
	   "no probe given: GET / on each exposed TCP port, not UDP, any answer; ready when it listens");
	probes_free(&l);
	ok(probes_plan(&l, &given, &ready, &c, &err) == 0 && l.n == 3 && l.v[0].kind == P_EXEC &&
		   !strcmp(l.v[0].label, "exec 'true'") && l.v[1].http.port == 8080 && !l.v[1].http.any_answer &&
		   l.v[2].http.port == 9000 && !strcmp(l.v[2].http.method, "POST") && l.beside && !l.one_shot &&
		   l.n_wait_ports == 2 && l.wait_ports[0] == 8080 && l.wait_ports[1] == 9000,
	   "--exec beside a server, then --http in order; waits for the exposed and the probed ports");

	struct probe_result pr[3] = { { .code = 0, .ok = true }, { .code = 200, .ok = true },
				      { .code = 500, .noise = true } };
	json_t *j = probes_json(&l, pr, 3, true);
	ok(json_array_size(j) == 3 && json_integer_value(json_object_get(json_array_get(j, 0), "exit_code")) == 0 &&
		   !strcmp(json_string_value(json_object_get(json_array_get(j, 0), "runs")), "beside the entrypoint") &&
		   json_integer_value(json_object_get(json_array_get(j, 2), "http_status")) == 500 &&
		   !strcmp(json_string_value(json_object_get(json_array_get(j, 2), "body")), "nondeterministic"),
	   "report entries: where each ran, exit codes, HTTP statuses, what --verify compared");
	json_decref(j);
	probes_free(&l);

	struct image_config bare = { 0 };
	ok(probes_plan(&l, &none, &ready, &bare, &err) == 0 && l.n == 1 && l.v[0].kind == P_COMMAND &&
		   !strcmp(l.v[0].label, "the image's command") && !l.beside,
	   "no probe and no port: the image's own command");
	probes_free(&l);
	struct probe_args exec_only = args_of(ARG_EXEC, "ls /", ARG_RUN, "true");
	ok(probes_plan(&l, &exec_only, &ready, &bare, &err) == 0 && l.n == 2 && l.v[0].kind == P_RUN &&
		   l.v[1].kind == P_RUN && l.one_shot && !l.beside,
	   "no port and no --wait-*: a one-shot image, --exec runs in place of the entrypoint");
	probes_free(&l);
	strv_push(&ready.cmds, xstrdup("test -e /run/ready"));
	ok(probes_plan(&l, &exec_only, &ready, &bare, &err) == 0 && l.v[0].kind == P_EXEC &&
		   l.v[1].kind == P_RUN && !l.one_shot && l.beside && l.n_wait_cmds == 1 && !l.n_wait_ports,
	   "--wait-cmd makes it a server: --exec beside, --run still in place");
	probes_free(&l);
	strv_push(&ready.ports, xstrdup("70000"));
	ok(probes_plan(&l, &exec_only, &ready, &bare, &err) < 0 && strstr(err.msg, "70000"),
	   "--wait-port out of range: refused (%s)", err.msg);
	probes_free(&l);
	struct probe_args noport = args_of(ARG_HTTP, "/x", 0, NULL);
	ok(probes_plan(&l, &noport, &(struct readiness){ 0 }, &bare, &err) < 0 && strstr(err.msg, "/x"),
	   "--http without a port on an image that exposes none: refused (%s)", err.msg);
	probes_free(&l);
	probe_args_free(&noport);
	probe_args_free(&exec_only);
	probe_args_free(&given);
	strv_free(&ready.ports);
	strv_free(&ready.cmds);
	image_config_free(&c);
}

static void out_is(const char *in, const char *want)
{
	struct image img = { 0 };
	struct perr err;
	if (imgref_parse(in, true, &img.ref, &err) < 0) {
		ok(0, "%s: %s", in, err.msg);
		return;
	}
	char *got = slim_default_output(&img);
	ok(want ? got && !strcmp(got, want) : !got, "default output of %s: %s", in, got ? got : "(none)");
	free(got);
	imgref_free(&img.ref);
}

static void test_default_output(void)
{
	out_is("oci:/x/layout:v1", "oci:/x/layout:v1-slim");
	out_is("oci:/x/layout", "oci:/x/layout:latest-slim");
	out_is("docker-daemon:app:1.2", "docker-daemon:app:1.2-slim");
	out_is("docker-archive:/x/app.tar:app:1.2", "docker-archive:/x/app-slim.tar:app:1.2-slim");
	out_is("docker-archive:/x/My App.tar", "docker-archive:/x/My App-slim.tar:my-app:latest-slim");
	out_is("docker-archive:-", NULL);
}

/* --verify's "stdout differs from line N". */
static void test_stdout_difference(void)
{
	const char *al = NULL, *bl = NULL;
	ok(probe_stdout_difference("a\nb\n", 4, "a\nb\n", 4, &al, &bl) == 0, "same output: no line");
	size_t line = probe_stdout_difference("a\nb\nc\n", 6, "a\nb\nX\n", 6, &al, &bl);
	ok(line == 3 && *al == 'c' && *bl == 'X', "third line differs: line %zu", line);
	line = probe_stdout_difference("a\nbc", 4, "a\nbd", 4, &al, &bl);
	ok(line == 2 && !strncmp(al, "bc", 2) && !strncmp(bl, "bd", 2), "mid-line: the line's start (%zu)", line);
	const char *shorter = "a\n";
	line = probe_stdout_difference(shorter, 2, "a\nmore\n", 7, &al, &bl);
	ok(line == 2 && al == shorter + 2 && !strncmp(bl, "more", 4), "one is longer: line %zu, at its end", line);
}

/* What a host saw of the pipeline. */
struct host_log {
	int runs, opens, events;
};

static int host_open(void *ctx, const char *ref, struct session **s)
{
	(void)ref, (void)s;
	((struct host_log *)ctx)->opens++;
	return -1;
}

static void host_close(void *ctx, struct session *s)
{
	(void)ctx, (void)s;
}

/* A run that could not happen (the sandbox refused): the host has told
 * the user, the pipeline must stop. */
static int host_run_fails(void *ctx, struct session *s, const struct slim_run *run, struct run_result *res)
{
	(void)s, (void)run;
	memset(res, 0, sizeof(*res));
	((struct host_log *)ctx)->runs++;
	return -1;
}

static void host_event(void *ctx, const struct slim *sl, const struct slim_event *ev)
{
	(void)sl, (void)ev;
	((struct host_log *)ctx)->events++;
}

/* slim_run on a session of LAYOUT with OPTS: its result, what the host saw. */
static int slim_on(const char *layout, struct slim_opts *o, const char *out, struct host_log *log,
		   struct perr *err)
{
	struct session s;
	struct session_opts so = { .ref = layout, .open = { default_limits, NULL }, .cache_max = CACHE_MAX_UNSET };
	if (session_open(&so, &s, err) < 0)
		return -2;
	struct slim sl;
	struct imgref dst = { 0 };
	slim_init(&sl, o);
	int r = slim_load_rules(&sl, err) < 0 || slim_plan(&sl, s.img, err) < 0 ||
			imgref_parse(out, true, &dst, err) < 0
		? -2
		: 0;
	const struct slim_host h = { host_open, host_close, host_run_fails, host_event, log, NULL };
	if (!r)
		r = slim_run(&sl, &s, out, &dst, &h, err);
	slim_free(&sl);
	imgref_free(&dst);
	session_close(&s);
	return r;
}

static void test_pipeline_stops(void)
{
	char *top = test_tempdir();
	char *layout = xasprintf("%s/layout", top), *ref = xasprintf("oci:%s:latest", layout);
	char *out = xasprintf("oci:%s/out:slim", top), *out_dir = xasprintf("%s/out", top);
	static const struct tent ents[] = {
		{ 'd', "etc", NULL, 0755, NULL },
		{ 'f', "etc/hostname", "pare\n", 0644, NULL },
	};
	struct layer_spec ls = { .tar = build_tar(ents, ARRAY_SIZE(ents), 0), .comp = COMP_NONE };
	ok(make_layout(layout, &ls, 1, NULL) == 0, "a layout without /bin/sh");
	free(ls.tar.p);
	struct stat st;
	struct perr err = { 0 };

	struct slim_opts o = { .no_default_profiles = true };
	probe_args_push(&o.probes, ARG_EXEC, "true");
	struct host_log log = { 0 };
	int r = slim_on(ref, &o, out, &log, &err);
	ok(r == -1 && strstr(err.msg, "--exec, --run and --wait-cmd need /bin/sh in the image"), "--exec without /bin/sh: %s", err.msg);
	ok(log.runs == 0 && log.events == 0, "nothing ran: %d runs, %d events", log.runs, log.events);
	slim_opts_free(&o);

	struct slim_opts cmd_only = { .no_default_profiles = true, .verify = true };
	log = (struct host_log){ 0 };
	err.msg[0] = 0;
	r = slim_on(ref, &cmd_only, out, &log, &err);
	ok(r == SLIM_FAILED && !err.msg[0], "a run that could not happen: told by the host (%d, '%s')", r, err.msg);
	ok(log.runs == 1 && log.opens == 0 && log.events == 0,
	   "one run, no verify, no events: %d runs, %d opens, %d events", log.runs, log.opens, log.events);
	ok(stat(out_dir, &st) < 0 && errno == ENOENT, "nothing written");
	rm_rf(top);
	free(top);
	free(layout);
	free(ref);
	free(out);
	free(out_dir);
}

int main(void)
{
	test_plan();
	test_default_output();
	test_stdout_difference();
	test_pipeline_stops();
	return tap_done();
}
