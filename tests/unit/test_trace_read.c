/* Reading traces back (pare slim --trace): what trace_to_json writes is
 * read into the same paths and operations, merged with what is there,
 * and a file that is not a trace is refused with its name and the field. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "tracer/trace.h"

#include <string.h>

static const struct trace_entry *find(const struct trace *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].path, path))
			return &t->e[i];
	return NULL;
}

static void refused(const char *text, const char *want, const char *name)
{
	struct trace t;
	struct perr err = { 0 };
	trace_init(&t);
	int r = trace_read_buf(&t, text, strlen(text), "t.json", &err);
	ok(r < 0 && strstr(err.msg, "t.json") && strstr(err.msg, want), "refused: %s (%s)", name, err.msg);
	trace_free(&t);
}

int main(void)
{
	struct trace w;
	trace_init(&w);
	uint32_t sh = trace_exe(&w, "/bin/sh");
	trace_add(&w, "/etc/passwd", OP_OPEN_READ, sh, SRC_FANOTIFY);
	trace_add(&w, "/etc/passwd", OP_STAT, sh, SRC_PTRACE);
	trace_add(&w, "/usr/bin/env", OP_EXEC, sh, SRC_PTRACE);
	trace_add(&w, "/tmp/out", OP_OPEN_WRITE, sh, SRC_FANOTIFY);
	const char *argv[] = { "/bin/sh", NULL };
	struct trace_meta m = { .image = "oci:x", .argv = argv, .tracers = { "fanotify", "ptrace" } };
	char *json = trace_to_json(&w, &m);

	struct trace r;
	trace_init(&r);
	trace_add(&r, "/already/there", OP_STAT, UINT32_MAX, SRC_PTRACE);
	struct perr err;
	ok(json && trace_read_buf(&r, json, strlen(json), "t.json", &err) == 0, "a written trace reads back");
	const struct trace_entry *p = find(&r, "/etc/passwd");
	ok(p && (p->ops & (1u << OP_OPEN_READ)) && (p->ops & (1u << OP_STAT)), "paths keep their operations");
	ok(find(&r, "/usr/bin/env") && (find(&r, "/usr/bin/env")->ops & (1u << OP_EXEC)), "an exec");
	ok(find(&r, "/already/there") && find(&r, "/tmp/out"), "merged with what the trace held");
	free(json);
	trace_free(&w);
	trace_free(&r);

	refused("[1, 2", "not a trace", "not JSON");
	refused("{\"paths\": []}", "\"pare_trace\": 1 missing", "not a pare trace");
	refused("{\"pare_trace\": 1, \"paths\": {}}", "\"paths\" must be an array", "paths not a list");
	refused("{\"pare_trace\": 1, \"paths\": [{\"path\": \"rel\", \"ops\": [\"stat\"]}]}",
		"paths[0]: \"path\" (absolute)", "a relative path");
	refused("{\"pare_trace\": 1, \"paths\": [{\"path\": \"/x\", \"ops\": [\"teleport\"]}]}",
		"paths[0].ops[0]: unknown operation", "an unknown operation");
	return tap_done();
}
