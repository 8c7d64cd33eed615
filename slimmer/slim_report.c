/* The slim report's account of what was kept and why: each kept path with
 * its reasons (enough for `pare profile explain` to follow the chain), and
 * the profiles, the units they pulled in and the traced paths excluded. */
#define _GNU_SOURCE
#include "slimmer/slim_report.h"

#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/syscalls.h"

static const char *unit_of(const struct units_state *units, const char *path, const char *rule)
{
	for (size_t i = 0; i < units->n_pulled; i++) {
		const struct pulled *u = &units->pulled[i];
		size_t n = strlen(u->name);
		if (!strcmp(u->kind, "unit") && !strcmp(u->rule, rule) && !strncmp(path, u->name, n) &&
		    (!path[n] || path[n] == '/'))
			return u->name;
	}
	return NULL;
}

/* {"why", "of", "by", "rule", "profile", "unit"}: enough for 'pare profile
 * explain' to follow the chain. */
static json_t *reason_json(const struct units_state *units, const struct keep_reason *kr,
			   const char *path, const struct trace *t)
{
	enum keep_why why = kr->why;
	json_t *o = json_pack("{s:s}", "why", keep_why_names[why]);
	const char *of = kr->of;
	bool is_path = why != KEEP_TRACED && why != KEEP_RULE && why != KEEP_ALWAYS;
	if (of) {
		cleanup_free char *abs = is_path && of[0] != '/' ? xasprintf("/%s", of) : NULL;
		json_object_set_new(o, is_path || why == KEEP_ALWAYS ? "of" : "ops", json_string(abs ? abs : of));
	}
	if (kr->rule)
		json_object_set_new(o, "rule", json_string(kr->rule));
	if (kr->rule || why == KEEP_RULE)
		json_object_set_new(o, "profile", kr->profile ? json_string(kr->profile) : json_null());
	if (why == KEEP_UNIT) {
		const char *dir = unit_of(units, path, kr->rule);
		cleanup_free char *abs = dir ? xasprintf("/%s", dir) : NULL;
		if (abs)
			json_object_set_new(o, "unit", json_string(abs));
	}
	if (why == KEEP_TRACED) {
		cleanup_free char *abs = xasprintf("/%s", path);
		const struct trace_entry *te = trace_find(t, abs);
		json_t *by = json_array();
		for (size_t i = 0; te && i < te->n_by; i++)
			json_array_append_new(by, json_string(t->exes.v[te->by[i]]));
		json_object_set_new(o, "by", by);
	}
	return o;
}

json_t *slim_rules_json(const struct profile_set *profiles, const struct units_state *units,
			const struct dropped *dropped, size_t n_dropped)
{
	json_t *o = json_object(), *ps = json_array(), *pulled = json_array(), *ex = json_array();
	for (size_t i = 0; i < profiles->n; i++)
		json_array_append_new(ps, json_pack("{s:s,s:s}", "name", profiles->p[i].name, "source",
						    profiles->p[i].source));
	for (size_t i = 0; i < units->n_pulled; i++) {
		const struct pulled *u = &units->pulled[i];
		bool dir = !strcmp(u->kind, "unit") || !strcmp(u->kind, "application");
		cleanup_free char *abs = dir ? xasprintf("/%s", u->name) : NULL;
		json_array_append_new(pulled, json_pack("{s:s,s:s,s:s,s:s,s:o,s:I}", "kind", u->kind,
							"name", abs ? abs : u->name, "because", u->because,
							"rule", u->rule, "profile",
							u->profile ? json_string(u->profile) : json_null(),
							"paths", (json_int_t)u->paths));
	}
	for (size_t i = 0; i < n_dropped; i++)
		json_array_append_new(ex, json_pack("{s:s,s:s,s:o}", "path", dropped[i].path, "rule",
						    dropped[i].rule->pattern, "profile",
						    dropped[i].rule->profile
							    ? json_string(dropped[i].rule->profile)
							    : json_null()));
	json_object_set_new(o, "profiles", ps);
	json_object_set_new(o, "pulled_in", pulled);
	json_object_set_new(o, "excluded", ex);
	return o;
}


json_t *slim_kept_json(const struct keepset *k, const struct strv *paths, const struct strset *written,
		       int upper_fd, int rootfd, const struct units_state *units, const struct trace *t)
{
	json_t *kept = json_array();
	for (size_t i = 0; i < paths->n; i++) {
		const struct keep_entry *e = keepset_find(k, paths->v[i]);
		json_t *rs = json_array();
		if (!e || strset_has(written, paths->v[i]))
			json_array_append_new(rs, json_pack("{s:s}", "why", "written by a probe (--keep-written)"));
		for (size_t r = 0; e && r < e->nr; r++)
			json_array_append_new(rs, reason_json(units, &e->r[r], paths->v[i], t));
		char type[2] = { e ? e->type : 'f', 0 };
		struct stat st;
		if (!e && upper_fd >= 0 && fstatat(upper_fd, paths->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			type[0] = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f';
		cleanup_free char *abs = xasprintf("/%s", paths->v[i]);
		json_t *o = json_pack("{s:s,s:s,s:o}", "path", abs, "type", type, "reasons", rs);
		char target[4097];
		ssize_t n = type[0] == 'l' ? readlinkat(rootfd, paths->v[i], target, sizeof(target) - 1) : -1;
		if (n >= 0) { /* lets 'pare profile explain' follow the names a user types */
			target[n] = 0;
			json_object_set_new(o, "target", json_string(target));
		}
		json_array_append_new(kept, o);
	}
	return kept;
}

static json_t *sizes_json(const struct slim_written *w)
{
	return json_pack("{s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:s,s:s,s:b,s:s?}}", "before", "compressed",
			 (json_int_t)w->before_compressed, "bytes", (json_int_t)w->before_bytes,
			 "entries", (json_int_t)w->before_files, "after", "compressed",
			 (json_int_t)w->layer.size, "bytes", (json_int_t)w->after_bytes, "uncompressed",
			 (json_int_t)w->layer.uncompressed, "entries", (json_int_t)w->layer.entries,
			 "layer", w->layer.digest, "diff_id", w->layer.diff_id, "reused", w->reused, "manifest",
			 w->manifest[0] ? w->manifest : NULL);
}

static json_t *syscalls_json(const struct trace *t)
{
	json_t *sys = json_array();
	for (size_t i = 0; i < t->n_sys; i++) {
		char *name = sc_name(t->sys[i].nr, t->sys[i].arch);
		uint32_t by = t->sys[i].first_exe;
		json_array_append_new(sys, json_pack("{s:s,s:o}", "name", name ? name : "?", "first_by",
						     by == UINT32_MAX ? json_null()
								      : json_string(t->exes.v[by])));
		free(name);
	}
	return sys;
}

/* Where the runs had volumes: nothing below them is in the slim image. */
static json_t *volumes_json(const struct sandbox_spec *spec)
{
	json_t *a = json_array();
	for (size_t i = 0; i < spec->n_volumes; i++) {
		const struct volume *v = &spec->volumes[i];
		json_t *o = json_pack("{s:s,s:s}", "target", v->target, "kind",
				      v->kind == VOLUME_TMPFS ? "tmpfs" : v->is_dir ? "directory" : "file");
		if (v->kind == VOLUME_BIND) {
			json_object_set_new(o, "source", json_string(v->source));
			json_object_set_new(o, "readonly", json_boolean(v->readonly || !v->is_dir));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *report_json(const struct slim *sl)
{
	const struct session *s = sl->s;
	json_t *j = json_pack("{s:s,s:s}", "image", s->img->ref.text, "output", sl->dst_text);
	json_object_update_new(j, sizes_json(&sl->w));
	json_object_set_new(j, "probes", probes_json(&sl->probes, sl->results, sl->probes.n, sl->o->verify));
	json_object_set_new(j, "verify", sl->verdict ? json_string(sl->verdict) : json_null());
	json_object_set_new(j, "paths", slim_kept_json(&sl->keep, &sl->paths, &sl->written, sl->upper_fd,
						       s->rootfd, &sl->units, &sl->trace));
	json_t *tr = json_array();
	if (sl->used_ebpf)
		json_array_append_new(tr, json_string("ebpf"));
	if (sl->used_fanotify)
		json_array_append_new(tr, json_string("fanotify"));
	if (sl->used_notify)
		json_array_append_new(tr, json_string("notify"));
	if (sl->used_ptrace)
		json_array_append_new(tr, json_string("ptrace"));
	json_object_set_new(j, "tracers", tr);
	json_object_update_new(j, slim_rules_json(&sl->profiles, &sl->units, sl->dropped, sl->n_dropped));
	if (sl->trace.n_sys)
		json_object_set_new(j, "syscalls", syscalls_json(&sl->trace));
	json_object_set_new(j, "volumes", volumes_json(&s->spec));
	json_object_set_new(j, "rootless", json_boolean(sl->rootless));
	json_object_set_new(j, "sandbox", confine_json(s->spec.confine));
	json_t *warn = json_array();
	for (size_t i = 0; i < sl->keep.warnings.n; i++)
		json_array_append_new(warn, json_string(sl->keep.warnings.v[i]));
	json_object_set_new(j, "warnings", warn);
	if (sl->o->verify)
		json_object_set_new(j, "verify_noise_check_ms", json_integer((json_int_t)sl->noise_ms));
	json_object_set_new(j, "timings_ms",
			    json_pack("{s:I,s:I,s:I,s:I,s:I}", "probes", (json_int_t)sl->probes_ms, "noise_check",
				      (json_int_t)sl->noise_ms, "closure", (json_int_t)sl->close_ms, "write",
				      (json_int_t)sl->write_ms, "verify", (json_int_t)sl->verify_ms));
	/* pare's own, not the probed program's (a child's, counted apart) */
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		json_object_set_new(j, "peak_rss_kb", json_integer((json_int_t)ru.ru_maxrss));
	return j;
}

int slim_report_write(const struct slim *sl, const char *file, struct perr *err)
{
	json_t *j = report_json(sl);
	/* through a temporary name: a reader never sees half a report */
	cleanup_free char *text = json_dumps(j, JSON_INDENT(1));
	json_decref(j);
	if (!text)
		return perr_set(err, 0, "cannot write the report: out of memory");
	if (write_file_atomic(file, text, err) < 0)
		return perr_wrap(err, "cannot write the report");
	return 0;
}
