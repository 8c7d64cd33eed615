#define _GNU_SOURCE
#include "tracer/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/resolve.h"
#include "tracer/syscalls.h"

const char *const trace_op_names[OP__COUNT] = {
	[OP_OPEN_READ] = "open-read", [OP_OPEN_WRITE] = "open-write",
	[OP_OPEN_DIR] = "open-dir",   [OP_OPEN_PATH] = "open-path",
	[OP_EXEC] = "exec",           [OP_STAT] = "stat",
	[OP_ACCESS] = "access",       [OP_READLINK] = "readlink",
	[OP_READDIR] = "readdir",     [OP_CHDIR] = "chdir",
	[OP_XATTR] = "xattr",         [OP_STATFS] = "statfs",
	[OP_MODIFY] = "modify",
};

void trace_init(struct trace *t)
{
	memset(t, 0, sizeof(*t));
}

void trace_free(struct trace *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].path);
	free(t->e);
	strindex_free(&t->index);
	strv_free(&t->exes);
	for (size_t i = 0; i < t->n_execs; i++)
		strv_free(&t->execs[i].argv);
	free(t->execs);
	free(t->sys);
	free(t->image);
	memset(t, 0, sizeof(*t));
}

static const char *trace_key(const void *ctx, size_t i)
{
	return ((const struct trace *)ctx)->e[i].path;
}

const struct trace_entry *trace_find(const struct trace *t, const char *path)
{
	size_t at = strindex_find(&t->index, path, trace_key, t);
	return at == SIZE_MAX ? NULL : &t->e[at];
}

uint32_t trace_exe(struct trace *t, const char *path)
{
	for (size_t i = t->exes.n; i-- > 0;)
		if (!strcmp(t->exes.v[i], path))
			return (uint32_t)i;
	strv_push(&t->exes, xstrdup(path));
	return (uint32_t)(t->exes.n - 1);
}

void trace_add(struct trace *t, const char *path, enum trace_op op, uint32_t exe, int src)
{
	size_t at = strindex_find(&t->index, path, trace_key, t);
	if (at == SIZE_MAX) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 256;
			t->e = xrealloc(t->e, t->cap * sizeof(*t->e));
		}
		t->e[t->n] = (struct trace_entry){ .path = xstrdup(path) };
		at = t->n++;
		strindex_put(&t->index, at, t->n, trace_key, t);
	}
	struct trace_entry *e = &t->e[at];
	e->ops |= 1u << op;
	e->sources |= src;
	if (exe == UINT32_MAX)
		return;
	for (unsigned i = 0; i < e->n_by; i++)
		if (e->by[i] == exe)
			return;
	if (e->n_by < TRACE_MAX_BY)
		e->by[e->n_by++] = exe;
}

void trace_add_exec(struct trace *t, uint32_t exe, char **argv, size_t argc)
{
	t->execs = xrealloc(t->execs, (t->n_execs + 1) * sizeof(*t->execs));
	struct trace_exec *x = &t->execs[t->n_execs++];
	memset(x, 0, sizeof(*x));
	x->exe = exe;
	for (size_t i = 0; i < argc; i++)
		strv_push(&x->argv, xstrdup(argv[i]));
}

void trace_add_syscall(struct trace *t, int nr, uint32_t arch, uint32_t exe)
{
	for (size_t i = 0; i < t->n_sys; i++)
		if (t->sys[i].nr == nr && t->sys[i].arch == arch)
			return;
	t->sys = xrealloc(t->sys, (t->n_sys + 1) * sizeof(*t->sys));
	t->sys[t->n_sys++] = (struct trace_syscall){ nr, arch, exe };
}

void trace_set_lost(struct trace *t, const char *why)
{
	if (!t->lost)
		snprintf(t->lost_why, sizeof(t->lost_why), "%s", why);
	t->lost = true;
}

void trace_check_image(struct trace *t, int rootfd)
{
	for (size_t i = 0; i < t->n; i++) {
		struct trace_entry *e = &t->e[i];
		char clean[4097], parent[4097];
		struct perr err;
		struct stat st;
		e->exists = false;
		if (clean_in_root_path(e->path, clean, sizeof(clean) - 1, &err) < 0)
			continue;
		if (!*clean) {
			e->exists = fstat(rootfd, &st) == 0;
			e->type = 'd';
			continue;
		}
		const char *base = split_parent(clean, parent, sizeof(parent));
		int dfd = root_open_dir(rootfd, parent, &err);
		if (dfd < 0)
			continue;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			e->exists = true;
			e->type = mode_type(st.st_mode);
		}
		close(dfd);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct trace_entry *)a)->path, ((const struct trace_entry *)b)->path);
}

static const char *type_name(char c)
{
	return c == 'f' ? "file" : c == 'd' ? "dir" : c == 'l' ? "symlink" : "other";
}

static json_t *exit_json(const struct trace_meta *m)
{
	if (!m->have_status)
		return json_null();
	if (WIFEXITED(m->status))
		return json_pack("{s:i}", "code", WEXITSTATUS(m->status));
	int sig = WIFSIGNALED(m->status) ? WTERMSIG(m->status) : 0;
	const char *name = sigabbrev_np(sig);
	return json_pack("{s:s+}", "signal", "SIG", name ? name : "?");
}

static int cmp_json_name(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
	return strcmp(x, y);
}

/* Sorted by name, so profiles built from it diff cleanly. */
static json_t *syscalls_json(const struct trace *t)
{
	json_t **items = xcalloc(t->n_sys + 1, sizeof(json_t *));
	size_t n = 0;
	for (size_t i = 0; i < t->n_sys; i++) {
		char *name = sc_name(t->sys[i].nr, t->sys[i].arch);
		cleanup_free char *fallback = name ? NULL : xasprintf("#%d", t->sys[i].nr);
		uint32_t by = t->sys[i].first_exe;
		items[n++] = json_pack("{s:s,s:I,s:o}", "name", name ? name : fallback, "arch",
				       (json_int_t)t->sys[i].arch, "first_by",
				       by == UINT32_MAX ? json_null() : json_string(t->exes.v[by]));
		free(name);
	}
	qsort(items, n, sizeof(json_t *), cmp_json_name);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	return arr;
}

/* Which recorders saw a path: fanotify reports the kernel's resolved
 * path of what was opened, the syscall recorders the path as written. */
static json_t *sources_json(uint8_t sources)
{
	static const struct { int bit; const char *name; } names[] = {
		{ SRC_EBPF, "ebpf" }, { SRC_FANOTIFY, "fanotify" }, { SRC_NOTIFY, "notify" },
		{ SRC_PTRACE, "ptrace" },
	};
	json_t *a = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (sources & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

char *trace_to_json(struct trace *t, const struct trace_meta *m)
{
	qsort(t->e, t->n, sizeof(*t->e), cmp_entry);
	strindex_rebuild(&t->index, t->n, trace_key, t); /* positions changed */

	json_t *root = json_object();
	json_object_set_new(root, "pare_trace", json_integer(1));
	json_object_set_new(root, "image", json_string(m->image ? m->image : ""));
	json_t *cmd = json_array();
	for (size_t i = 0; m->argv && m->argv[i]; i++)
		json_array_append_new(cmd, json_string(m->argv[i]));
	json_object_set_new(root, "command", cmd);
	json_t *tr = json_array();
	for (int i = 0; i < TRACE_TRACERS_MAX; i++)
		if (m->tracers[i])
			json_array_append_new(tr, json_string(m->tracers[i]));
	json_object_set_new(root, "tracers", tr);
	json_object_set_new(root, "rootless", json_boolean(m->rootless));
	json_object_set_new(root, "exit", exit_json(m));
	json_object_set_new(root, "timed_out", json_boolean(m->timed_out));
	json_object_set_new(root, "duration_ms", json_integer((json_int_t)m->duration_ms));
	json_object_set_new(root, "lost", json_boolean(t->lost));
	if (t->lost)
		json_object_set_new(root, "lost_reason", json_string(t->lost_why));
	json_object_set_new(root, "events", json_pack("{s:I,s:I,s:I,s:I}", "fanotify",
						      (json_int_t)t->events_fanotify, "ptrace_stops",
						      (json_int_t)t->stops_ptrace, "notifications",
						      (json_int_t)t->notifications, "ebpf",
						      (json_int_t)t->events_ebpf));

	json_t *paths = json_array();
	for (size_t i = 0; i < t->n; i++) {
		const struct trace_entry *e = &t->e[i];
		json_t *ops = json_array(), *by = json_array();
		for (int op = 0; op < OP__COUNT; op++)
			if (e->ops & (1u << op))
				json_array_append_new(ops, json_string(trace_op_names[op]));
		for (unsigned b = 0; b < e->n_by; b++)
			json_array_append_new(by, json_string(t->exes.v[e->by[b]]));
		json_t *o = json_pack("{s:s,s:o,s:b,s:o}", "path", e->path, "ops", ops, "exists",
				      e->exists, "by", by);
		json_object_set_new(o, "seen_by", sources_json(e->sources));
		if (e->exists)
			json_object_set_new(o, "type", json_string(type_name(e->type)));
		json_array_append_new(paths, o);
	}
	json_object_set_new(root, "paths", paths);

	json_t *execs = json_array();
	for (size_t i = 0; i < t->n_execs; i++) {
		json_t *argv = json_array();
		for (size_t a = 0; a < t->execs[i].argv.n; a++)
			json_array_append_new(argv, json_string(t->execs[i].argv.v[a]));
		json_array_append_new(execs, json_pack("{s:s,s:o}", "exe",
						       t->exes.v[t->execs[i].exe], "argv", argv));
	}
	json_object_set_new(root, "execs", execs);
	if (m->syscalls)
		json_object_set_new(root, "syscalls", syscalls_json(t));
	char *s = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	return s;
}

static int op_by_name(const char *name)
{
	for (int i = 0; i < OP__COUNT; i++)
		if (!strcmp(trace_op_names[i], name))
			return i;
	return -1;
}

int trace_read_file(struct trace *t, const char *file, struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	if (read_side_file(file, 1u << 30, &text, &len, err) < 0)
		return -1;
	return trace_read_buf(t, text, len, file, err);
}

int trace_read_buf(struct trace *t, const char *text, size_t len, const char *file, struct perr *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return perr_set(err, 0, "%s: not a trace: %s (line %d)", file, je.text, je.line);
	int rc = -1;
	json_t *paths = json_object_get(j, "paths");
	if (json_integer_value(json_object_get(j, "pare_trace")) != 1) {
		perr_set(err, 0, "%s: not a pare trace (\"pare_trace\": 1 missing)", file);
		goto out;
	}
	if (!json_is_array(paths)) {
		perr_set(err, 0, "%s: \"paths\" must be an array", file);
		goto out;
	}
	const char *image = json_string_value(json_object_get(j, "image"));
	if (image && !t->image)
		t->image = xstrdup(image);
	size_t i;
	json_t *e;
	json_array_foreach(paths, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		json_t *ops = json_object_get(e, "ops");
		if (!path || path[0] != '/' || !json_is_array(ops)) {
			perr_set(err, 0, "%s: paths[%zu]: \"path\" (absolute) and \"ops\" are required",
				 file, i);
			goto out;
		}
		size_t k;
		json_t *op;
		json_array_foreach(ops, k, op) {
			int o = json_is_string(op) ? op_by_name(json_string_value(op)) : -1;
			if (o < 0) {
				perr_set(err, 0, "%s: paths[%zu].ops[%zu]: unknown operation", file, i, k);
				goto out;
			}
			trace_add(t, path, (enum trace_op)o, UINT32_MAX, 0);
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}
