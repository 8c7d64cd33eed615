/* The slim report's account of what was kept and why: each kept path with
 * its reasons (enough for `pare profile explain` to follow the chain), and
 * the profiles, the units they pulled in and the traced paths excluded. */
#define _GNU_SOURCE
#include "slimmer/slim_report.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		cleanup_free char *abs = !strcmp(u->kind, "unit") ? xasprintf("/%s", u->name) : NULL;
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
