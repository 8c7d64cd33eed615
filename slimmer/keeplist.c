#define _GNU_SOURCE
#include "slimmer/keeplist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "slimmer/glob.h"

#define PROFILE_MAX_BYTES (1u << 20)
#define INCLUDE_MAX_DEPTH 32

const char *const unit_kind_names[UNIT__COUNT] = {
	[UNIT_DEBIAN] = "debian",
	[UNIT_DEBIAN_DOCS] = "debian-docs",
	[UNIT_DIST_INFO] = "dist-info",
};

int unit_kind_parse(const char *name)
{
	for (int i = 0; i < UNIT__COUNT; i++)
		if (!strcmp(name, unit_kind_names[i]))
			return i;
	return -1;
}

static void jsonp(json_t **j)
{
	json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(jsonp)))

/* ---- parsing ---- */

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 64 || *s == '.' || *s == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(s);
}

enum list_kind { L_NAMES, L_GLOBS, L_UNITS };

static int parse_list(json_t *v, const char *key, enum list_kind kind, const char *source,
		      struct strv *out, struct perr *err)
{
	if (!json_is_array(v))
		return perr_set(err, 0, "%s: key '%s': not a list of strings", source, key);
	size_t i;
	json_t *item;
	json_array_foreach (v, i, item) {
		const char *s = json_string_value(item);
		if (!s)
			return perr_set(err, 0, "%s: key '%s' item %zu: not a string", source, key, i + 1);
		if (kind == L_NAMES && !valid_name(s) && !profile_ref_is_file(s))
			return perr_set(err, 0, "%s: key '%s' item %zu: '%s' is not a profile name or file",
					source, key, i + 1, s);
		if (kind == L_UNITS && s[0] != '/' && s[0] != '*') {
			if (unit_kind_parse(s) < 0)
				return perr_set(err, 0,
						"%s: key '%s' item %zu: '%s' is neither a glob nor a package "
						"database (debian, debian-docs, dist-info)",
						source, key, i + 1, s);
			strv_push(out, xstrdup(s));
			continue;
		}
		char *pat = kind != L_NAMES && !strncmp(s, "**", 2) ? xasprintf("/%s", s) : xstrdup(s);
		if (kind != L_NAMES && !glob_valid(pat)) {
			free(pat);
			return perr_set(err, 0,
					"%s: key '%s' item %zu: '%s' is not an absolute path or valid glob "
					"(\"**\" must be a whole component, at most %d of them; brackets "
					"must close)",
					source, key, i + 1, s, GLOB_MAX_ANY);
		}
		strv_push(out, pat);
	}
	return 0;
}

int profile_parse(const char *text, size_t len, const char *source, struct profile *out,
		  struct perr *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	cleanup_json json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return perr_set(err, 0, "%s: line %d: %s", source, jerr.line, jerr.text);
	if (!json_is_object(j))
		return perr_set(err, 0, "%s: a profile is a JSON object", source);
	const char *key;
	json_t *v;
	json_object_foreach (j, key, v) {
		int r = 0;
		if (!strcmp(key, "name") || !strcmp(key, "description")) {
			if (!json_is_string(v))
				r = perr_set(err, 0, "%s: key '%s': not a string", source, key);
			else if (key[0] == 'n')
				out->name = xstrdup(json_string_value(v));
			else
				out->description = xstrdup(json_string_value(v));
		} else if (!strcmp(key, "include")) {
			r = parse_list(v, key, L_NAMES, source, &out->include, err);
		} else if (!strcmp(key, "keep")) {
			r = parse_list(v, key, L_GLOBS, source, &out->keep, err);
		} else if (!strcmp(key, "exclude")) {
			r = parse_list(v, key, L_GLOBS, source, &out->exclude, err);
		} else if (!strcmp(key, "units")) {
			r = parse_list(v, key, L_UNITS, source, &out->units, err);
		} else {
			r = perr_set(err, 0,
				     "%s: unknown key '%s' (known: name, description, include, keep, "
				     "exclude, units)",
				     source, key);
		}
		if (r < 0) {
			profile_free(out);
			return -1;
		}
	}
	if (!out->name || !valid_name(out->name)) {
		int r = perr_set(err, 0, "%s: key 'name': %s", source,
				 out->name ? "use lowercase letters, digits, '.', '_' and '-'" : "missing");
		profile_free(out);
		return r;
	}
	out->source = xstrdup(source);
	return 0;
}

void profile_free(struct profile *p)
{
	free(p->name);
	free(p->description);
	free(p->source);
	free(p->dir);
	strv_free(&p->include);
	strv_free(&p->keep);
	strv_free(&p->exclude);
	strv_free(&p->units);
	memset(p, 0, sizeof(*p));
}

static json_t *strv_json(const struct strv *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(a, json_string(s->v[i]));
	return a;
}

char *profile_to_json(const struct profile *p)
{
	cleanup_json json_t *j = json_object();
	json_object_set_new(j, "name", json_string(p->name));
	if (p->description)
		json_object_set_new(j, "description", json_string(p->description));
	const struct {
		const char *key;
		const struct strv *v;
	} lists[] = { { "include", &p->include }, { "keep", &p->keep },
		      { "exclude", &p->exclude }, { "units", &p->units } };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		if (lists[i].v->n)
			json_object_set_new(j, lists[i].key, strv_json(lists[i].v));
	return json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* ---- finding and loading ---- */

void profile_path_init(struct profile_path *pp, const char *profile_dir)
{
	memset(pp, 0, sizeof(*pp));
	if (profile_dir)
		strv_push(&pp->dirs, xstrdup(profile_dir));
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (xdg && *xdg == '/')
		strv_push(&pp->dirs, xasprintf("%s/pare/profiles", xdg));
	else if (home && *home == '/')
		strv_push(&pp->dirs, xasprintf("%s/.config/pare/profiles", home));
}

void profile_path_free(struct profile_path *pp)
{
	strv_free(&pp->dirs);
}

bool profile_ref_is_file(const char *ref)
{
	size_t n = strlen(ref);
	return strchr(ref, '/') || (n > 5 && !strcmp(ref + n - 5, ".json"));
}

static int load_file(const char *file, const char *want_name, struct profile *out,
		     struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (read_side_file(file, PROFILE_MAX_BYTES, &text, &len, err) < 0 || profile_parse(text, len, file, out, err) < 0)
		return -1;
	if (want_name && strcmp(out->name, want_name)) {
		perr_set(err, 0, "%s: key 'name': '%s' does not match the file name '%s.json'", file,
			 out->name, want_name);
		profile_free(out);
		return -1;
	}
	char *slash = strrchr(file, '/');
	out->dir = slash ? xasprintf("%.*s", (int)(slash - file), file) : xstrdup(".");
	return 0;
}

static const struct builtin_profile *find_builtin(const char *name)
{
	for (size_t i = 0; i < n_builtin_profiles; i++)
		if (!strcmp(builtin_profiles[i].name, name))
			return &builtin_profiles[i];
	return NULL;
}

int profile_load(const struct profile_path *pp, const char *ref, struct profile *out,
		 struct perr *err)
{
	if (profile_ref_is_file(ref))
		return load_file(ref, NULL, out, err);
	if (!valid_name(ref))
		return perr_set(err, 0, "'%s' is not a profile name (or a file: add ./ or .json)", ref);
	for (size_t i = 0; i < pp->dirs.n; i++) {
		cleanup_free char *f = xasprintf("%s/%s.json", pp->dirs.v[i], ref);
		if (access(f, F_OK) == 0)
			return load_file(f, ref, out, err);
	}
	const struct builtin_profile *b = find_builtin(ref);
	if (!b)
		return perr_set(err, 0, "no profile named '%s' (Hint: see 'pare profile list')", ref);
	cleanup_free char *src = xasprintf("built-in profile '%s'", ref);
	if (profile_parse(b->json, strlen(b->json), src, out, err) < 0)
		return -1;
	free(out->source);
	out->source = xstrdup("built-in");
	return 0;
}

/* ---- sets with includes ---- */

static int set_add(struct profile_set *set, const struct profile_path *pp, const char *ref,
		   const char *base_dir, struct strv *chain, struct perr *err)
{
	cleanup_free char *file = profile_ref_is_file(ref) && ref[0] != '/' && base_dir
					  ? xasprintf("%s/%s", base_dir, ref)
					  : xstrdup(ref);
	struct profile p;
	if (profile_load(pp, file, &p, err) < 0)
		return -1;
	for (size_t i = 0; i < chain->n; i++)
		if (!strcmp(chain->v[i], p.name)) {
			char cyc[1024] = "";
			for (size_t k = i; k < chain->n; k++)
				snprintf(cyc + strlen(cyc), sizeof(cyc) - strlen(cyc), "%s -> ",
					 chain->v[k]);
			perr_set(err, 0, "%s: key 'include': include cycle %s%s", p.source, cyc, p.name);
			profile_free(&p);
			return -1;
		}
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->p[i].name, p.name)) {
			profile_free(&p);
			return 0;
		}
	if (chain->n >= INCLUDE_MAX_DEPTH) {
		perr_set(err, 0, "%s: includes nest deeper than %d", p.source, INCLUDE_MAX_DEPTH);
		profile_free(&p);
		return -1;
	}
	strv_push(chain, xstrdup(p.name));
	for (size_t i = 0; i < p.include.n; i++)
		if (set_add(set, pp, p.include.v[i], p.dir, chain, err) < 0) {
			perr_wrap(err, "included by %s", p.source);
			profile_free(&p);
			return -1;
		}
	free(chain->v[--chain->n]);
	set->p = xrealloc(set->p, (set->n + 1) * sizeof(*set->p));
	set->p[set->n++] = p;
	return 0;
}

int profile_set_add(struct profile_set *set, const struct profile_path *pp, const char *ref,
		    struct perr *err)
{
	cleanup_strv struct strv chain = { 0 };
	return set_add(set, pp, ref, NULL, &chain, err);
}

void profile_set_free(struct profile_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		profile_free(&set->p[i]);
	free(set->p);
	memset(set, 0, sizeof(*set));
}

/* ---- listing ---- */

static void info_push(struct profile_info **v, size_t *n, const struct profile *p, bool shadowed)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = (struct profile_info){ xstrdup(p->name),
					      xstrdup(p->description ? p->description : ""),
					      xstrdup(p->source), shadowed };
}

static bool info_has(const struct profile_info *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return true;
	return false;
}

int profile_list(const struct profile_path *pp, struct profile_info **out, size_t *n,
		 struct perr *err)
{
	*out = NULL;
	*n = 0;
	for (size_t d = 0; d < pp->dirs.n; d++) {
		struct dirent **names;
		int m = scandir(pp->dirs.v[d], &names, NULL, alphasort);
		if (m < 0)
			continue; /* a missing directory is an empty one */
		int r = 0;
		for (int i = 0; i < m; i++) {
			size_t len = strlen(names[i]->d_name);
			if (!r && len > 5 && !strcmp(names[i]->d_name + len - 5, ".json") &&
			    names[i]->d_name[0] != '.') {
				cleanup_free char *f = xasprintf("%s/%s", pp->dirs.v[d], names[i]->d_name);
				cleanup_free char *want = xasprintf("%.*s", (int)(len - 5), names[i]->d_name);
				struct profile p;
				if (load_file(f, want, &p, err) < 0) {
					r = -1;
				} else {
					info_push(out, n, &p, info_has(*out, *n, p.name));
					profile_free(&p);
				}
			}
			free(names[i]);
		}
		free(names);
		if (r < 0) {
			profile_info_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
	}
	for (size_t i = 0; i < n_builtin_profiles; i++) {
		struct profile p;
		if (profile_load(&(struct profile_path){ 0 }, builtin_profiles[i].name, &p, err) < 0) {
			profile_info_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
		info_push(out, n, &p, info_has(*out, *n, p.name));
		profile_free(&p);
	}
	return 0;
}

void profile_info_free(struct profile_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].description);
		free(v[i].source);
	}
	free(v);
}
