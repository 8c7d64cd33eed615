/* Application trees on hand-made images: a kept file no package owns
 * keeps the tree under its top-most unowned directory; what packages own
 * (dpkg lists, pip RECORDs, apk's database) does not; generated trees
 * (__pycache__ of packaged sources, caches) never do; the size cap warns
 * and keeps only what was kept; --app-dir names a tree by hand; an image
 * with no database says the rule could not apply; the warnings for what
 * stays out (untouched trees, a written directory half kept). */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/apptree.h"
#include "slimmer/rules.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char *top;

/* Debian-like: /usr/bin/tool is dpkg's, /usr/lib/py/mod.py pip's (RECORD);
 * /srv/site is the application, with a template no probe reads; the
 * bytecode cache of the packaged module is unowned. */
static void make_debian(const char *r)
{
	put_file(r, "usr/bin/tool", "tool");
	put_file(r, "var/lib/dpkg/info/tool.list", "/.\n/usr\n/usr/bin\n/usr/bin/tool\n/usr/lib\n");
	put_file(r, "usr/lib/py/mod.py", "");
	put_file(r, "usr/lib/py/mod-1.0.dist-info/RECORD", "mod.py,,\n");
	put_file(r, "usr/lib/py/__pycache__/mod.cpython-311.pyc", "pyc");
	put_file(r, "srv/site/app.py", "import templates");
	put_file(r, "srv/site/templates/about.html", "about");
	put_file(r, "srv/site/templates/home.html", "home");
	put_file(r, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	put_file(r, "var/cache/thing/a", "cache");
	put_file(r, "opt/big/data.bin", "0123456789012345678901234567890123456789");
	put_file(r, "opt/big/run", "");
	put_file(r, "var/lib/db/base/1", "page one");
	put_file(r, "var/lib/db/base/2", "page two");
	put_file(r, "var/lib/db/log", "x");
	put_file(r, "var/lib/dpkg/info/db.list", "/var/lib/db\n/var/lib/db/base\n");
	/* a web server's document root, its package's, with pages put there */
	put_file(r, "var/lib/dpkg/info/web.list", "/var/www\n/var/www/html\n/var/www/html/index.pkg.html\n");
	put_file(r, "var/www/html/index.pkg.html", "the package's");
	put_file(r, "var/www/html/index.html", "home");
	put_file(r, "var/www/html/other.html", "other");
	put_file(r, "var/www/html/img/logo.png", "png");
}

/* Alpine-like: apk's database owns /usr/bin/tool; /app is the application. */
static void make_alpine(const char *r)
{
	put_file(r, "usr/bin/tool", "tool");
	put_file(r, "lib/apk/db/installed", "C:Q1abc=\nP:tool\nV:1.0\nF:usr\nF:usr/bin\nR:tool\n\n");
	put_file(r, "app/main.rb", "");
	put_file(r, "app/lib/lazy.rb", "");
}

static bool warned(const struct keepset *k, const char *part)
{
	for (size_t i = 0; i < k->warnings.n; i++)
		if (strstr(k->warnings.v[i], part))
			return true;
	return false;
}

struct run {
	struct rules ru;
	struct keepset k;
	struct units_state st;
	int rootfd;
};

static void begin(struct run *x, const char *img)
{
	rules_init(&x->ru);
	keepset_init(&x->k);
	memset(&x->st, 0, sizeof(x->st));
	cleanup_free char *r = xasprintf("%s/%s", top, img);
	x->rootfd = open(r, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static bool close_with(struct run *x, const char *const *traced)
{
	struct perr err = { 0 };
	for (; *traced; traced++)
		keepset_add(&x->k, *traced, KEEP_TRACED, "open-read");
	bool r = rules_close(&x->ru, &x->k, x->rootfd, &x->st, &err) == 0;
	if (!r)
		tap_diag("rules_close: %s", err.msg);
	return r;
}

static void end(struct run *x)
{
	units_state_free(&x->st);
	keepset_free(&x->k);
	rules_free(&x->ru);
	close(x->rootfd);
}

static void test_debian(void)
{
	struct run x;
	begin(&x, "deb");
	static const char *const traced[] = { "/srv/site/app.py", "/srv/site/templates/home.html",
					      "/usr/bin/tool", "/usr/lib/py/mod.py",
					      "/usr/lib/py/__pycache__/mod.cpython-311.pyc", "/etc/passwd",
					      "/var/cache/thing/a", NULL };
	ok(close_with(&x, traced), "closes");
	ok(kept_for(&x.k, "srv/site/templates/about.html", KEEP_APP), "the untouched template comes, as the application's");
	ok(!keepset_find(&x.k, "usr/lib/py/__pycache__") || !kept_for(&x.k, "usr/lib/py/__pycache__", KEEP_APP),
	   "a bytecode cache of a packaged module is not an application tree");
	ok(!keepset_find(&x.k, "opt/big/data.bin"), "an application tree nothing touched stays out");
	size_t apps = 0;
	for (size_t i = 0; i < x.st.n_pulled; i++)
		apps += !strcmp(x.st.pulled[i].kind, "application");
	ok(apps == 1 && !strcmp(x.st.pulled[0].name, "srv/site"),
	   "one tree pulled in, /srv/site (/srv is a hierarchy directory, /etc and /var/cache are not trees): %zu",
	   apps);
	ok(x.k.warnings.n == 0, "no warnings from the closure (%zu)", x.k.warnings.n);
	struct trace t;
	trace_init(&t);
	trace_add(&t, "/var/lib/db/base/1", OP_OPEN_WRITE, UINT32_MAX, SRC_FANOTIFY);
	trace_add(&t, "/tmp/scratch", OP_OPEN_WRITE, UINT32_MAX, SRC_FANOTIFY);
	keepset_add(&x.k, "/var/lib/db/base/1", KEEP_TRACED, "open-write");
	app_trees_check(&x.ru, &x.k, &x.st, &t, x.rootfd);
	ok(warned(&x.k, "application files no probe touched are left out: /opt/big (2 files, 40 B)"),
	   "an untouched application tree is named with its size");
	ok(!warned(&x.k, "/srv/site (") && !warned(&x.k, "/var/cache") && !warned(&x.k, "dist-info"),
	   "not a kept tree, a generated one, nor pip's metadata");
	ok(warned(&x.k, "a probe wrote /var/lib/db/base/1 in /var/lib/db/base, but 1 other entry of that directory (8 B) is left out"),
	   "a directory written in, half kept, is named (a packaged data directory: no tree)");
	ok(!warned(&x.k, "/tmp"), "writes in /tmp are not");
	trace_free(&t);
	end(&x);

	/* off */
	begin(&x, "deb");
	x.ru.app.off = true;
	static const char *const one[] = { "/srv/site/app.py", NULL };
	ok(close_with(&x, one) && !keepset_find(&x.k, "srv/site/templates/about.html"),
	   "--no-app-trees: only what was kept");
	end(&x);

	/* over the cap */
	begin(&x, "deb");
	x.ru.app.max = 10;
	static const char *const big[] = { "/opt/big/run", NULL };
	ok(close_with(&x, big) && !keepset_find(&x.k, "opt/big/data.bin"), "a tree over the cap is not kept whole");
	ok(warned(&x.k, "application tree /opt/big holds 40 B, over the 10 B cap"), "and a warning names it and its size");
	end(&x);

	/* by hand: a packaged directory too */
	begin(&x, "deb");
	rules_add(&x.ru.app.dirs, "/usr/lib/py", NULL);
	static const char *const mod[] = { "/usr/lib/py/mod.py", NULL };
	ok(close_with(&x, mod) && kept_for(&x.k, "usr/lib/py/__pycache__/mod.cpython-311.pyc", KEEP_APP),
	   "--app-dir keeps the named tree whole, whoever owns it");
	end(&x);
}

static void test_loose(void)
{
	struct run x;
	begin(&x, "deb");
	static const char *const page[] = { "/var/www/html/index.html", NULL };
	ok(close_with(&x, page) && kept_for(&x.k, "var/www/html/other.html", KEEP_APP),
	   "a page put into a package's document root keeps the pages beside it");
	ok(!keepset_find(&x.k, "var/www/html/index.pkg.html") && !keepset_find(&x.k, "var/www/html/img/logo.png"),
	   "but not the package's own file, nor what is below (a tree of its own)");
	end(&x);
	begin(&x, "deb");
	static const char *const passwd[] = { "/etc/passwd", NULL };
	ok(close_with(&x, passwd) && !kept_for(&x.k, "etc/passwd", KEEP_APP), "a loose file in /etc keeps nothing beside it");
	end(&x);
}

static void test_alpine_and_none(void)
{
	struct run x;
	begin(&x, "alpine");
	static const char *const traced[] = { "/app/main.rb", "/usr/bin/tool", NULL };
	ok(close_with(&x, traced) && kept_for(&x.k, "app/lib/lazy.rb", KEEP_APP), "apk's database: /app is the application");
	ok(!kept_for(&x.k, "usr/bin/tool", KEEP_APP) && !kept_for(&x.k, "usr/bin", KEEP_APP), "and /usr/bin/tool is apk's");
	end(&x);

	begin(&x, "none");
	static const char *const app[] = { "/app/main.rb", NULL };
	ok(close_with(&x, app) && !keepset_find(&x.k, "app/lib/lazy.rb"), "no database: no tree");
	ok(warned(&x.k, "has no package database"), "and the rule says it could not apply");
	end(&x);
}

int main(void)
{
	top = test_tempdir();
	cleanup_free char *deb = xasprintf("%s/deb", top), *alp = xasprintf("%s/alpine", top),
			  *none = xasprintf("%s/none", top);
	make_debian(deb);
	make_alpine(alp);
	make_alpine(none);
	cleanup_free char *db = xasprintf("%s/lib/apk", none);
	rm_rf(db);
	test_debian();
	test_loose();
	test_alpine_and_none();
	rm_rf(top);
	free(top);
	return tap_done();
}
