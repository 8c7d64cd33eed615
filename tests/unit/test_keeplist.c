/* Keep-list profiles and rules: strict parsing, the search path, includes
 * and cycles, and units (directories, dpkg packages, dist-info RECORDs)
 * applied to a small tree built like a Debian image with merged /usr. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/authoring.h"
#include "slimmer/keeplist.h"
#include "slimmer/rules.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static char dir[4096];

static void ln(const char *base, const char *target, const char *rel)
{
	char p[8400];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	(void)!symlink(target, p);
}

static int parse(const char *json, struct profile *p, struct perr *err)
{
	return profile_parse(json, strlen(json), "t.json", p, err);
}

static bool fails_with(const char *json, const char *msg)
{
	struct profile p;
	struct perr err = { 0 };
	if (parse(json, &p, &err) == 0) {
		profile_free(&p);
		tap_diag("accepted: %s", json);
		return false;
	}
	if (!strstr(err.msg, msg) || strncmp(err.msg, "t.json: ", 8)) {
		tap_diag("message: %s", err.msg);
		return false;
	}
	return true;
}

/* Refused profiles: the JSON, a part of the message, what it shows. */
static const struct {
	const char *json, *msg, *what;
} bad_profiles[] = {
	{ "{\"name\": \"a\", \"kepe\": []}", "unknown key 'kepe'", "unknown keys are errors" },
	{ "{\"keep\": []}", "key 'name': missing", "name is required" },
	{ "{\"name\": \"Big Name\"}", "key 'name': use lowercase", "names are checked" },
	{ "{\"name\": \"a\", \"keep\": \"/x\"}", "key 'keep': not a list", "lists are lists" },
	{ "{\"name\": \"a\", \"keep\": [1]}", "key 'keep' item 1: not a string", "items are strings" },
	{ "{\"name\": \"a\", \"exclude\": [\"/a\", \"rel/x\"]}", "key 'exclude' item 2",
	  "relative globs are errors" },
	{ "{\"name\": \"a\", \"keep\": [\"/a/**b\"]}", "'/a/**b' is not", "** must be a whole component" },
	{ "{\"name\": \"a\", \"keep\": [\"/a/[bc\"]}", "'/a/[bc' is not", "brackets must close" },
	{ "{\"name\": \"a\", \"units\": [\"rpm\"]}", "'rpm' is neither a glob nor",
	  "unknown package databases are errors" },
	{ "{\"name\": \"a\", \"include\": [\"Not A Name\"]}", "key 'include' item 1",
	  "includes are names or files" },
	{ "{\"name\": \"a\", \"name\": \"b\"}", "t.json: line 1", "duplicate keys are errors" },
	{ "{\"name\": \"a\", \"keep\": [\"/**/a/**/b/**/c/**/d/**\"]}", "is not",
	  "at most four ** in a glob (each multiplies the matching work)" },
	{ "[]", "a profile is a JSON object", "the top level is an object" },
	{ "{\"name\": \"a\",}", "t.json: line 1", "JSON errors name the line" },
};

static void test_parse(void)
{
	struct profile p;
	struct perr err = { 0 };
	ok(parse("{\"name\": \"web\", \"description\": \"d\", \"include\": [\"tzdata\"],"
		 " \"keep\": [\"/etc/x\", \"**/y\"], \"exclude\": [\"/usr/share/doc/**\"],"
		 " \"units\": [\"**/node_modules/*\", \"debian\"]}",
		 &p, &err) == 0,
	   "a full profile parses (%s)", err.msg);
	ok(!strcmp(p.name, "web") && p.include.n == 1 && p.keep.n == 2 && p.exclude.n == 1 &&
		   p.units.n == 2,
	   "every list is read");
	ok(!strcmp(p.keep.v[1], "/**/y") && !strcmp(p.units.v[0], "/**/node_modules/*"),
	   "a pattern starting with ** gets its leading /");
	ok(!strcmp(p.units.v[1], "debian"), "a package database kind stays a name");
	char *json = profile_to_json(&p);
	struct profile back;
	ok(json && parse(json, &back, &err) == 0 && back.keep.n == 2 && !strcmp(back.description, "d"),
	   "profile_to_json reads back");
	if (json)
		profile_free(&back);
	free(json);
	profile_free(&p);

	for (size_t i = 0; i < ARRAY_SIZE(bad_profiles); i++)
		ok(fails_with(bad_profiles[i].json, bad_profiles[i].msg), "%s", bad_profiles[i].what);
}

static void test_builtins(void)
{
	bool all = n_builtin_profiles >= 17;
	struct profile_path none = { 0 };
	for (size_t i = 0; i < n_builtin_profiles; i++) {
		struct profile_set set = { 0 };
		struct perr err = { 0 };
		if (profile_set_add(&set, &none, builtin_profiles[i].name, &err) < 0 ||
		    strcmp(set.p[set.n - 1].name, builtin_profiles[i].name) ||
		    !set.p[set.n - 1].description) {
			tap_diag("%s: %s", builtin_profiles[i].name, err.msg);
			all = false;
		}
		profile_set_free(&set);
	}
	ok(all, "all %zu built-in profiles load with their includes and describe themselves",
	   n_builtin_profiles);
}

static void test_search(void)
{
	char pd[4200], home[4200];
	snprintf(pd, sizeof(pd), "%s/pd", dir);
	snprintf(home, sizeof(home), "%s/home", dir);
	put_file(pd, "web.json", "{\"name\": \"web\", \"include\": [\"tzdata\", \"extra/more.json\"], \"keep\": [\"/srv/**\"]}");
	put_file(pd, "extra/more.json", "{\"name\": \"more\", \"include\": [\"tzdata\"], \"keep\": [\"/opt/x\"]}");
	put_file(pd, "a.json", "{\"name\": \"a\", \"include\": [\"b\"]}");
	put_file(pd, "b.json", "{\"name\": \"b\", \"include\": [\"c\"]}");
	put_file(pd, "c.json", "{\"name\": \"c\", \"include\": [\"a\"]}");
	put_file(pd, "misnamed.json", "{\"name\": \"other\"}");
	put_file(home, ".config/pare/profiles/tzdata.json", "{\"name\": \"tzdata\", \"keep\": [\"/mine\"]}");
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");

	struct profile_path pp;
	struct profile_set set = { 0 };
	struct perr err = { 0 };
	profile_path_init(&pp, pd);
	ok(pp.dirs.n == 2, "the path: --profile-dir, then ~/.config/pare/profiles");
	ok(profile_set_add(&set, &pp, "web", &err) == 0, "a profile with includes loads (%s)", err.msg);
	ok(set.n == 3 && !strcmp(set.p[0].name, "tzdata") && !strcmp(set.p[1].name, "more") &&
		   !strcmp(set.p[2].name, "web"),
	   "includes come first, each once (a relative file is found next to its includer)");
	ok(set.n == 3 && set.p[0].keep.n == 1 && !strcmp(set.p[0].keep.v[0], "/mine"),
	   "a user profile shadows the built-in of its name");
	profile_set_free(&set);

	ok(profile_set_add(&set, &pp, "a", &err) < 0 && strstr(err.msg, "include cycle a -> b -> c -> a"),
	   "an include cycle is an error naming the chain (%s)", err.msg);
	profile_set_free(&set);
	ok(profile_set_add(&set, &pp, "misnamed", &err) < 0 && strstr(err.msg, "does not match the file name"),
	   "a profile found by name must carry that name");
	profile_set_free(&set);
	ok(profile_set_add(&set, &pp, "nope", &err) < 0 && strstr(err.msg, "no profile named 'nope'"),
	   "an unknown name is an error");
	profile_set_free(&set);

	struct profile_info *v;
	size_t n;
	ok(profile_list(&pp, &v, &n, &err) < 0 && strstr(err.msg, "misnamed.json"),
	   "listing names a bad file");
	char bad[4300];
	snprintf(bad, sizeof(bad), "%s/misnamed.json", pd);
	unlink(bad);
	ok(profile_list(&pp, &v, &n, &err) == 0, "then the path lists (%s)", err.msg);
	bool shadowed = false, mine = false;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, "tzdata") && !strcmp(v[i].source, "built-in"))
			shadowed = v[i].shadowed;
		if (!strcmp(v[i].name, "tzdata") && strcmp(v[i].source, "built-in"))
			mine = !v[i].shadowed;
	}
	ok(shadowed && mine, "the built-in tzdata is marked shadowed by the user's");
	profile_info_free(v, n);
	profile_path_free(&pp);
}

/* A Debian-like image: merged /usr, two packages, a pip distribution. */
static void make_image(const char *r)
{
	put_file(r, "usr/bin/tool", "tool");
	put_file(r, "usr/lib/libtool.so.1", "lib");
	put_file(r, "usr/share/tool/data.txt", "data");
	put_file(r, "usr/share/doc/tool/copyright", "(c)");
	put_file(r, "usr/bin/other", "other");
	ln(r, "usr/bin", "bin");
	put_file(r, "var/lib/dpkg/info/tool:amd64.list",
	    "/.\n/bin\n/bin/tool\n/usr\n/usr/bin\n/usr/lib/libtool.so.1\n/usr/share/tool\n"
	    "/usr/share/tool/data.txt\n/usr/share/doc/tool/copyright\n/usr/share/gone\n");
	put_file(r, "var/lib/dpkg/info/other.list", "/usr/bin\n/usr/bin/other\n");
	const char *site = "usr/lib/python3/dist-packages";
	char p[512];
	snprintf(p, sizeof(p), "%s/pkg/__init__.py", site);
	put_file(r, p, "");
	snprintf(p, sizeof(p), "%s/pkg/lazy.py", site);
	put_file(r, p, "");
	snprintf(p, sizeof(p), "%s/pkg/a,b.txt", site);
	put_file(r, p, "");
	put_file(r, "usr/local/bin/pkg-cli", "#!/bin/false\n");
	snprintf(p, sizeof(p), "%s/pkg-1.0.dist-info/RECORD", site);
	put_file(r, p, "pkg/__init__.py,sha256=x,0\npkg/lazy.py,,\n\"pkg/a,b.txt\",,\n../../../local/bin/pkg-cli,,\n");
	put_file(r, "app/node_modules/greet/index.js", "");
	put_file(r, "app/node_modules/greet/lib/extra.js", "");
	put_file(r, "app/node_modules/@s/one/index.js", "");
	put_file(r, "app/node_modules/@s/two/index.js", "");
	put_file(r, "app/node_modules/greet/skip.log", "");
}

static void begin(struct rules *ru, struct keepset *k, struct units_state *st)
{
	rules_init(ru);
	keepset_init(k);
	memset(st, 0, sizeof(*st));
}

static void end(struct rules *ru, struct keepset *k, struct units_state *st)
{
	units_state_free(st);
	keepset_free(k);
	rules_free(ru);
}

static void test_units(void)
{
	char r[4200];
	snprintf(r, sizeof(r), "%s/img", dir);
	make_image(r);
	int rootfd = open(r, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct perr err = { 0 };

	/* directory units */
	struct rules ru;
	struct keepset k;
	struct units_state st;
	begin(&ru, &k, &st);
	ru.app.off = true; /* /app is unowned: its tree would be kept whole (test_apptree) */
	rules_add(&ru.units, "/**/node_modules/[!@.]*", "node");
	rules_add(&ru.units, "/**/node_modules/@*/*", "node");
	rules_add(&ru.exclude, "/**/*.log", "node");
	keepset_add(&k, "/app/node_modules/greet/index.js", KEEP_TRACED, "open-read");
	keepset_add(&k, "/app/node_modules/@s/one/index.js", KEEP_TRACED, "open-read");
	ok(rules_close(&ru, &k, rootfd, &st, &err) == 0, "directory units close (%s)", err.msg);
	ok(kept_for(&k, "app/node_modules/greet/lib/extra.js", KEEP_UNIT), "a module is kept whole");
	ok(!keepset_find(&k, "app/node_modules/greet/skip.log"), "but not what an exclude rule drops");
	ok(!keepset_find(&k, "app/node_modules/@s/two/index.js"), "a scope is not a unit, its modules are");
	const struct keep_entry *e = keepset_find(&k, "app/node_modules/greet/lib/extra.js");
	ok(e && e->r[0].profile && !strcmp(e->r[0].profile, "node") &&
		   !strcmp(e->r[0].rule, "/**/node_modules/[!@.]*") &&
		   !strcmp(e->r[0].of, "app/node_modules/greet/index.js"),
	   "a unit's path names its rule, profile and the kept file that pulled it in");
	ok(st.n_pulled == 2, "two unit directories pulled in");
	end(&ru, &k, &st);

	/* dpkg packages */
	begin(&ru, &k, &st);
	rules_add_kind(&ru, UNIT_DEBIAN, "debian-packages");
	keepset_add(&k, "/bin/tool", KEEP_TRACED, "exec");
	ok(rules_close(&ru, &k, rootfd, &st, &err) == 0, "package units close (%s)", err.msg);
	ok(kept_for(&k, "usr/lib/libtool.so.1", KEEP_PACKAGE) && kept_for(&k, "usr/share/tool/data.txt", KEEP_PACKAGE),
	   "a kept file of a package keeps the package (found through the merged-/usr symlink)");
	ok(!keepset_find(&k, "usr/share/doc/tool/copyright"), "its documentation stays out");
	ok(!keepset_find(&k, "usr/bin/other"), "a shared directory (/usr/bin) pulls in nobody else");
	ok(st.n_pulled == 1 && !strcmp(st.pulled[0].name, "tool") && !strcmp(st.pulled[0].because, "/usr/bin/tool"),
	   "the report's pulled-in list names the package and why (%s)",
	   st.n_pulled ? st.pulled[0].because : "none");
	end(&ru, &k, &st);

	begin(&ru, &k, &st);
	rules_add_kind(&ru, UNIT_DEBIAN_DOCS, NULL);
	keepset_add(&k, "/usr/lib/libtool.so.1", KEEP_TRACED, "open-read");
	ok(rules_close(&ru, &k, rootfd, &st, &err) == 0 && keepset_find(&k, "usr/share/doc/tool/copyright"),
	   "debian-docs keeps the documentation too");
	end(&ru, &k, &st);

	/* pip's RECORD */
	begin(&ru, &k, &st);
	rules_add_kind(&ru, UNIT_DIST_INFO, "python");
	keepset_add(&k, "/usr/lib/python3/dist-packages/pkg/__init__.py", KEEP_TRACED, "open-read");
	ok(rules_close(&ru, &k, rootfd, &st, &err) == 0, "dist-info units close (%s)", err.msg);
	ok(kept_for(&k, "usr/lib/python3/dist-packages/pkg/lazy.py", KEEP_PACKAGE), "RECORD's other modules come");
	ok(kept_for(&k, "usr/lib/python3/dist-packages/pkg/a,b.txt", KEEP_PACKAGE), "a quoted CSV path is read");
	ok(kept_for(&k, "usr/local/bin/pkg-cli", KEEP_PACKAGE), "a script outside the package (../) comes");
	ok(st.n_pulled == 1 && !strcmp(st.pulled[0].name, "pkg-1.0") && !strcmp(st.pulled[0].kind, "python"),
	   "the distribution is named");
	end(&ru, &k, &st);

	/* keep rules and excludes */
	begin(&ru, &k, &st);
	rules_add(&ru.keep, "/usr/share/**", "p");
	rules_add(&ru.keep, "/bin/other", NULL);
	rules_add(&ru.exclude, "/usr/share/doc/**", NULL);
	rules_seed(&ru, &k, rootfd);
	ok(rules_close(&ru, &k, rootfd, &st, &err) == 0 && kept_for(&k, "usr/share/doc/tool/copyright", KEEP_RULE),
	   "a keep rule beats an exclude rule");
	ok(kept_for(&k, "usr/bin/other", KEEP_RULE), "a literal keep through a symlinked directory lands physically");
	ok(rules_excluded(&ru, "/usr/share/doc/x") && !rules_excluded(&ru, "/usr/share/x"),
	   "rules_excluded matches exclude globs only");
	end(&ru, &k, &st);
	close(rootfd);
}

static void test_authoring(void)
{
	char r[4200];
	snprintf(r, sizeof(r), "%s/img", dir);
	int rootfd = open(r, O_PATH | O_DIRECTORY | O_CLOEXEC);

	struct strv seen = { 0 };
	const char *paths[] = { "/app/node_modules/greet/index.js", "/app/node_modules/greet/lib/extra.js",
				"/app/node_modules/greet/skip.log", "/app/node_modules/@s/one/index.js",
				"/bin/tool", "/missing", "/usr/share" };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		strv_push(&seen, xstrdup(paths[i]));
	struct compacted *c;
	size_t n, files;
	profile_compact(rootfd, &seen, 2, &c, &n, &files);
	ok(files == 5, "from-trace: the files seen in the image (not missing ones, not directories): %zu", files);
	ok(n == 3 && !strcmp(c[0].rule, "/app/node_modules/@s/one/index.js") &&
		   !strcmp(c[1].rule, "/app/node_modules/greet/**") && c[1].covers == 3 &&
		   !strcmp(c[2].rule, "/usr/bin/tool"),
	   "a directory read whole becomes DIR/** with its count; a small or partly read one stays paths; paths are physical");
	compacted_free(c, n);
	profile_compact(rootfd, &seen, 4, &c, &n, &files);
	ok(n == 5, "--min-files above a directory's size keeps it as paths");
	compacted_free(c, n);
	strv_free(&seen);

	struct profile_set set = { 0 };
	struct perr err;
	const char *json = "{\"name\": \"m\", \"keep\": [\"/usr/share/**\", \"/bin/tool\", \"/nope\"],"
			   " \"units\": [\"debian\", \"dist-info\", \"/**/node_modules/*\"]}";
	set.p = xcalloc(1, sizeof(*set.p));
	set.n = profile_parse(json, strlen(json), "m.json", &set.p[0], &err) == 0;
	struct rule_match *m;
	profile_set_matches(&set, rootfd, &m, &n);
	ok(n == 6 && m[0].matches >= 4 && m[1].matches == 1 && m[2].matches == 0 && m[3].matches == 1 &&
		   m[4].matches == 1 && m[5].matches == 2,
	   "check: each rule's matches in the image (globs, a literal through a symlink, none, dpkg, RECORDs, unit directories)");
	free(m);
	profile_set_free(&set);

	struct profile two[2];
	const char *a = "{\"name\": \"a\", \"include\": [\"b\", \"tzdata\"], \"keep\": [\"/x\", \"/y\"]}";
	const char *b = "{\"name\": \"b\", \"keep\": [\"/y\", \"/z\"], \"units\": [\"debian\"]}";
	struct profile merged;
	if (profile_parse(a, strlen(a), "a", &two[0], &err) == 0 && profile_parse(b, strlen(b), "b", &two[1], &err) == 0) {
		profile_merge(two, 2, NULL, NULL, &merged);
		ok(!strcmp(merged.name, "a-b") && merged.keep.n == 3 && !strcmp(merged.keep.v[2], "/z") &&
			   merged.include.n == 1 && !strcmp(merged.include.v[0], "tzdata") && merged.units.n == 1 &&
			   !strcmp(merged.description, "merged from a-b"),
		   "merge: each rule once, in order; an include of a merged profile dropped");
		profile_free(&merged);
		profile_free(&two[0]);
		profile_free(&two[1]);
	}
	close(rootfd);
}

int main(void)
{
	char *d = test_tempdir();
	snprintf(dir, sizeof(dir), "%s", d);
	free(d);
	test_parse();
	test_builtins();
	test_search();
	test_units();
	test_authoring();
	rm_rf(dir);
	return tap_done();
}
