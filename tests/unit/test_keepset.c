/* The keep-set closure on a small tree built like a Debian image (merged
 * /usr symlinks, a real ELF with its interpreter and libc copied from this
 * machine, a #! script, a symlinked CA bundle, a hostile symlink). */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/keepset.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static char root[4096];

static void mk(const char *rel, int mode)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	mkdir(p, (mode_t)mode);
}

static void ln(const char *target, const char *rel)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	(void)!symlink(target, p);
}

static void put(const char *rel, const char *text)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0755);
	(void)!write(fd, text, strlen(text));
	close(fd);
}

static bool copy(const char *host, const char *rel)
{
	char p[4200], buf[65536];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int in = open(host, O_RDONLY | O_CLOEXEC), out = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0755);
	ssize_t n;
	bool okk = in >= 0 && out >= 0;
	while (okk && (n = read(in, buf, sizeof(buf))) > 0)
		okk = write(out, buf, (size_t)n) == n;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return okk;
}

static bool has(const struct keepset *k, const char *path, char type, enum keep_why why)
{
	const struct keep_entry *e = keepset_find(k, path);
	if (!e || e->type != type)
		return false;
	for (size_t i = 0; i < e->nr; i++)
		if (e->r[i].why == why)
			return true;
	return false;
}

static bool skip_ssl_link(const void *ctx, const char *abs)
{
	(void)ctx;
	return !strcmp(abs, "/usr/lib/ssl/cert.pem");
}

static bool skipping; /* closed() sets skip_ssl_link as the reverse pass's filter */

static int closed(struct keepset *k, const char *const *seeds, size_t n)
{
	struct perr err;
	keepset_init(k);
	if (skipping)
		k->skip_link = skip_ssl_link;
	for (size_t i = 0; i < n; i++)
		keepset_add(k, seeds[i], KEEP_TRACED, NULL);
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r = keepset_close(k, rootfd, &err);
	close(rootfd);
	return r;
}

int main(void)
{
	char *tmp = test_tempdir();
	snprintf(root, sizeof(root), "%s/img", tmp);
	mkdir(root, 0755);
	const char *dirs[] = { "usr", "usr/bin", "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/lib64",
			       "usr/local", "usr/local/bin", "etc", "etc/ssl", "usr/lib/ssl", "data" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		mk(dirs[i], 0755);
	ln("usr/bin", "bin");
	ln("usr/lib", "lib");
	ln("usr/lib64", "lib64");
	ln("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2");
	bool elf = copy("/usr/bin/true", "usr/bin/app") &&
		   copy("/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6") &&
		   copy("/lib64/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
	ok(elf, "test tree: a real ELF, its libc and interpreter copied from this machine");
	put("usr/local/bin/run.sh", "#!/bin/app -x\necho hi\n");
	put("etc/ssl/cert.pem", "certs\n");
	ln("/etc/ssl/cert.pem", "usr/lib/ssl/cert.pem");
	put("data/unused", "x\n");
	put("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n");
	ln("/../../../../etc/shadow", "evil");

	struct keepset k;
	const char *s1[] = { "/usr/local/bin/run.sh" };
	ok(closed(&k, s1, 1) == 0, "closure of a script");
	ok(has(&k, "usr/local/bin/run.sh", 'f', KEEP_TRACED), "the seed");
	ok(has(&k, "bin", 'l', KEEP_SYMLINK), "/bin: a symlink on the way to the #! interpreter");
	ok(has(&k, "usr/bin/app", 'f', KEEP_SHEBANG), "the #! interpreter, at its physical place");
	ok(!keepset_find(&k, "bin/app"), "no tar entry below a symlink");
	ok(has(&k, "usr/lib64/ld-linux-x86-64.so.2", 'l', KEEP_INTERP), "PT_INTERP (a symlink)");
	ok(has(&k, "lib64", 'l', KEEP_SYMLINK), "/lib64 on the way to it");
	ok(has(&k, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 'f', KEEP_LINK_TARGET),
	   "the interpreter's real file");
	ok(has(&k, "usr/lib/x86_64-linux-gnu/libc.so.6", 'f', KEEP_NEEDED), "DT_NEEDED libc.so.6");
	ok(has(&k, "usr/local", 'd', KEEP_PARENT) && has(&k, "", 'd', KEEP_PARENT), "parents, the root too");
	ok(!keepset_find(&k, "data/unused") && !keepset_find(&k, "etc/ssl/cert.pem"),
	   "nothing unrelated");
	struct strv paths = { 0 };
	keepset_paths(&k, &paths);
	bool sorted = true;
	for (size_t i = 1; i < paths.n; i++)
		sorted &= strcmp(paths.v[i - 1], paths.v[i]) < 0;
	ok(sorted && paths.n > 10 && strcmp(paths.v[0], ""), "paths: sorted, relative, no root entry");
	strv_free(&paths);
	keepset_free(&k);

	const char *s2[] = { "/etc/ssl/cert.pem", "/evil", "/data/missing" };
	ok(closed(&k, s2, 3) == 0, "closure of an opened file (as fanotify reports it)");
	ok(has(&k, "usr/lib/ssl/cert.pem", 'l', KEEP_LINK_TO), "a symlink resolving to it is kept");
	ok(has(&k, "usr/lib/ssl", 'd', KEEP_PARENT), "with its parents");
	ok(has(&k, "evil", 'l', KEEP_TRACED) && !keepset_find(&k, "etc/shadow"),
	   "an escaping symlink stays a symlink; its target is looked up in the root only");
	ok(!keepset_find(&k, "data/missing"), "paths not in the image are dropped");
	ok(k.warnings.n == 0, "a complete closure warns of nothing");
	keepset_free(&k);
	skipping = true;
	ok(closed(&k, s2, 1) == 0 && keepset_find(&k, "etc/ssl/cert.pem") &&
		   !keepset_find(&k, "usr/lib/ssl/cert.pem"),
	   "a symlink the filter says no to (an --exclude) is not added back by the reverse pass");
	keepset_free(&k);
	skipping = false;

	/* What the closure cannot follow is said, not dropped: a binary whose
	 * library is nowhere, an ELF file that does not parse. */
	ok(copy("/usr/bin/true", "usr/local/bin/orphan"), "test tree: an ELF without its library");
	put("usr/local/bin/broken", "\177ELF\2\1\1 truncated");
	char libc[4200];
	snprintf(libc, sizeof(libc), "%s/usr/lib/x86_64-linux-gnu/libc.so.6", root);
	unlink(libc);
	const char *s3[] = { "/usr/local/bin/orphan", "/usr/local/bin/broken" };
	ok(closed(&k, s3, 2) == 0, "closure with a missing library and a broken ELF file");
	bool needs = false, broken = false;
	for (size_t i = 0; i < k.warnings.n; i++) {
		needs |= strstr(k.warnings.v[i], "/usr/local/bin/orphan needs libc.so.6, which is in none") != NULL;
		broken |= strstr(k.warnings.v[i], "usr/local/bin/broken: its libraries were not followed") != NULL;
		tap_diag("warning: %s", k.warnings.v[i]);
	}
	ok(needs, "warned: the library found nowhere");
	ok(broken, "warned: the ELF file that does not parse");
	keepset_free(&k);

	rm_rf(tmp);
	free(tmp);
	return tap_done();
}
