/* The slim pipeline's library parts: which probes a slim runs (--exec,
 * --http, GET / per exposed TCP port, else the image's command) and their
 * report entries; the default output name next to the input. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/slim_image.h"
#include "slimmer/slim_probes.h"

#include <string.h>

static struct strv list(const char *a, const char *b)
{
	struct strv v = { 0 };
	if (a)
		strv_push(&v, xstrdup(a));
	if (b)
		strv_push(&v, xstrdup(b));
	return v;
}

static void test_plan(void)
{
	struct image_config c = { 0 };
	strv_push(&c.exposed_ports, xstrdup("53/udp"));
	strv_push(&c.exposed_ports, xstrdup("8080/tcp"));
	struct strv none = { 0 }, execs = list("true", NULL), http = list("/health", "POST:/x:9000");
	struct probe_list l = { 0 };
	struct perr err;

	ok(probes_plan(&l, &none, &none, &none, &c, &err) == 0 && l.n == 1 && l.v[0].kind == P_HTTP &&
		   l.v[0].http.port == 8080 && !strcmp(l.v[0].label, "GET / on port 8080"),
	   "no probe given: GET / on each exposed TCP port, not UDP");
	probes_free(&l);
	ok(probes_plan(&l, &execs, &http, &none, &c, &err) == 0 && l.n == 3 && l.v[0].kind == P_EXEC &&
		   !strcmp(l.v[0].label, "exec 'true'") && l.v[1].http.port == 8080 &&
		   l.v[2].http.port == 9000 && !strcmp(l.v[2].http.method, "POST"),
	   "--exec first, then --http in order; the first exposed port is the default");

	struct probe_result pr[3] = { { .code = 0, .ok = true }, { .code = 200, .ok = true },
				      { .code = 500, .noise = true } };
	json_t *j = probes_json(&l, pr, 3, true);
	ok(json_array_size(j) == 3 && json_integer_value(json_object_get(json_array_get(j, 0), "exit_code")) == 0 &&
		   json_integer_value(json_object_get(json_array_get(j, 2), "http_status")) == 500 &&
		   !strcmp(json_string_value(json_object_get(json_array_get(j, 2), "body")), "nondeterministic"),
	   "report entries: exit codes, HTTP statuses, what --verify compared");
	json_decref(j);
	probes_free(&l);

	struct image_config bare = { 0 };
	ok(probes_plan(&l, &none, &none, &none, &bare, &err) == 0 && l.n == 1 && l.v[0].kind == P_COMMAND &&
		   !strcmp(l.v[0].label, "the image's command"),
	   "no probe and no port: the image's own command");
	probes_free(&l);
	struct strv noport = list("/x", NULL);
	ok(probes_plan(&l, &none, &noport, &none, &bare, &err) < 0 && strstr(err.msg, "/x"),
	   "--http without a port on an image that exposes none: refused (%s)", err.msg);
	probes_free(&l);
	strv_free(&noport);
	strv_free(&execs);
	strv_free(&http);
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

int main(void)
{
	test_plan();
	test_default_output();
	return tap_done();
}
