/* Layer application: whiteouts, metadata, and the hostile corpus (every
 * escape attempt must be refused or land inside the root, and the sentinel
 * outside must stay untouched). Runs once with openat2 and once with the
 * userspace fallback; run-unit.sh also runs it under a seccomp filter that
 * makes openat2 fail with ENOSYS, as an old kernel would. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "image/apply.h"
#include "base/resolve.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static char *top, *root, *outside;
static const char *mode_name;

/* Apply LAYERS (arrays of entries) in order onto a fresh root. Returns the
 * result of the first failing layer, with its message in ERR. */
static int apply_layers(const struct tent *const *layers, const size_t *counts, size_t n,
			struct perr *err)
{
	rm_rf(root);
	mkdir(root, 0755);
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct apply_opts o = { .lim = default_limits, .privileged = geteuid() == 0 };
	struct applier *ap;
	int r = 0;
	applier_new(rootfd, &o, &ap, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct buf tar = build_tar(layers[i], counts[i], 0);
		struct archive *a = archive_read_new();
		archive_read_support_format_tar(a);
		archive_read_open_memory(a, tar.p, tar.len);
		r = applier_apply_layer(ap, a, err);
		archive_read_free(a);
		free(tar.p);
	}
	if (r == 0)
		r = applier_finish(ap, err);
	applier_free(ap);
	close(rootfd);
	return r;
}

#define LAYERS(...) ((const struct tent *const[]){ __VA_ARGS__ })
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *in_root(const char *rel)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s", root, rel);
	return buf;
}

static bool exists(const char *rel)
{
	struct stat st;
	return lstat(in_root(rel), &st) == 0;
}

static void test_basic(void)
{
	static const struct tent l1[] = {
		{ 'd', "etc", NULL, 0755, NULL },
		{ 'f', "etc/passwd", "root:x:0:0\n", 0644, NULL },
		{ 'f', "bin/su", "suid\n", 04755, NULL },
		{ 'l', "lib", "usr/lib", 0777, NULL },
		{ 'd', "usr/lib", NULL, 0555, NULL },
		{ 'f', "usr/lib/libc.so", "elf\n", 0755, "user.pare=yes" },
		{ 'h', "usr/lib/libc-hard.so", "usr/lib/libc.so", 0, NULL },
		{ 'p', "run/fifo", NULL, 0600, NULL },
	};
	struct perr err = { 0 };
	struct stat st, st2;
	int r = apply_layers(LAYERS(l1), (size_t[]){ N(l1) }, 1, &err);
	ok(r == 0, "%s: basic layer applies (%s)", mode_name, r ? err.msg : "");
	ok(file_has(in_root("etc/passwd"), "root:x:0:0\n"), "%s: file content", mode_name);
	ok(lstat(in_root("bin/su"), &st) == 0 && (st.st_mode & 07777) == 04755, "%s: setuid kept", mode_name);
	ok(lstat(in_root("usr/lib"), &st) == 0 && (st.st_mode & 07777) == 0555 && st.st_mtime == 1000000004,
	   "%s: directory mode and mtime set after its children", mode_name);
	ok(lstat(in_root("etc/passwd"), &st) == 0 && st.st_mtime == 1000000001, "%s: file mtime", mode_name);
	char target[64] = "";
	ok(readlink(in_root("lib"), target, sizeof(target) - 1) > 0 && !strcmp(target, "usr/lib"),
	   "%s: symlink target kept", mode_name);
	ok(lstat(in_root("usr/lib/libc.so"), &st) == 0 && lstat(in_root("usr/lib/libc-hard.so"), &st2) == 0 &&
	   st.st_ino == st2.st_ino, "%s: hardlink is a hardlink", mode_name);
	char xv[16] = "";
	ssize_t xn = lgetxattr(in_root("usr/lib/libc.so"), "user.pare", xv, sizeof(xv));
	ok(xn == 3 && !memcmp(xv, "yes", 3), "%s: user xattr preserved", mode_name);
	ok(lstat(in_root("run/fifo"), &st) == 0 && S_ISFIFO(st.st_mode), "%s: fifo created", mode_name);
	ok(lstat(in_root("bin"), &st) == 0 && S_ISDIR(st.st_mode), "%s: missing parent created", mode_name);
}

static void test_whiteouts(void)
{
	static const struct tent low[] = {
		{ 'f', "a/keep", "k", 0, NULL }, { 'f', "a/gone", "g", 0, NULL },
		{ 'f', "o/lower1", "1", 0, NULL }, { 'f', "o/sub/lower2", "2", 0, NULL },
		{ 'f', "p/lower", "x", 0, NULL }, { 'd', "q", NULL, 0755, NULL },
		{ 'f', "q/lower", "y", 0, NULL },
	};
	/* Opaque marker after this layer's entries (o), before them (p), and a
	 * new child in a lower directory that stays (o/sub/new). */
	static const struct tent up[] = {
		{ 'f', "a/.wh.gone", "", 0, NULL },
		{ 'f', "o/new", "n", 0, NULL },
		{ 'f', "o/sub/new", "n2", 0, NULL },
		{ 'f', "o/.wh..wh..opq", "", 0, NULL },
		{ 'f', "p/.wh..wh..opq", "", 0, NULL },
		{ 'f', "p/mine", "m", 0, NULL },
		{ 'f', ".wh.q", "", 0, NULL },
		{ 'f', ".wh.never-existed", "", 0, NULL },
	};
	struct perr err = { 0 };
	int r = apply_layers(LAYERS(low, up), (size_t[]){ N(low), N(up) }, 2, &err);
	ok(r == 0, "%s: whiteout layers apply (%s)", mode_name, r ? err.msg : "");
	ok(exists("a/keep") && !exists("a/gone") && !exists("a/.wh.gone"), "%s: whiteout removes lower file", mode_name);
	ok(exists("o/new") && exists("o/sub/new") && !exists("o/lower1") && !exists("o/sub/lower2"),
	   "%s: opaque marker after entries hides only lower content", mode_name);
	ok(exists("p/mine") && !exists("p/lower"), "%s: opaque marker before entries", mode_name);
	ok(!exists("q"), "%s: whiteout removes a lower directory tree", mode_name);
	ok(!exists("o/.wh..wh..opq"), "%s: markers are not materialised", mode_name);

	static const struct tent same[] = { { 'f', "s/f", "mine", 0, NULL }, { 'f', "s/.wh.f", "", 0, NULL } };
	r = apply_layers(LAYERS(same), (size_t[]){ N(same) }, 1, &err);
	ok(r == 0 && exists("s/f"), "%s: whiteout does not hide its own layer's entry", mode_name);

	const char *bad[] = { "x/.wh.", "x/.wh..", "x/.wh...", ".wh..wh.foo" };
	for (size_t i = 0; i < N(bad); i++) {
		struct tent t[] = { { 'f', "x/y", "1", 0, NULL }, { 'f', bad[i], "", 0, NULL } };
		r = apply_layers(LAYERS(t), (size_t[]){ 2 }, 1, &err);
		ok(r < 0 && strstr(err.msg, "malformed whiteout"), "%s: malformed whiteout '%s' refused", mode_name, bad[i]);
	}
}

static void test_hostile(void)
{
	struct perr err = { 0 };
	char abs_out[4200], rel_out[64];
	snprintf(abs_out, sizeof(abs_out), "%s", outside);
	snprintf(rel_out, sizeof(rel_out), "../../../../../../../../..%s", outside);
	int r;

	static const struct tent dotdot[] = { { 'f', "../escape", "x", 0, NULL } };
	r = apply_layers(LAYERS(dotdot), (size_t[]){ 1 }, 1, &err);
	ok(r < 0 && strstr(err.msg, "'..'"), "%s: '..' traversal refused", mode_name);
	static const struct tent dotdot2[] = { { 'f', "a/../../escape", "x", 0, NULL } };
	r = apply_layers(LAYERS(dotdot2), (size_t[]){ 1 }, 1, &err);
	ok(r < 0, "%s: inner '..' traversal refused", mode_name);

	struct tent absent[] = { { 'f', "", "x", 0, NULL } };
	absent[0].path = xasprintf("%s/abs-escape", outside);
	r = apply_layers(LAYERS(absent), (size_t[]){ 1 }, 1, &err);
	char *inside = xasprintf("%s/abs-escape", outside + 1);
	ok(r == 0 && exists(inside), "%s: absolute path lands inside the root", mode_name);
	free(inside);
	free((char *)absent[0].path);

	/* Layer 1 plants symlinks to the outside; layer 2 writes through them. */
	struct tent plant[] = { { 'l', "evil-abs", abs_out, 0, NULL }, { 'l', "evil-rel", rel_out, 0, NULL },
				{ 'l', "evil-file", NULL, 0, NULL } };
	char *sentinel = xasprintf("%s/sentinel", outside);
	plant[2].data = sentinel;
	static const struct tent through[] = {
		{ 'f', "evil-abs/pwned", "x", 0, NULL },
		{ 'f', "evil-rel/pwned", "x", 0, NULL },
		{ 'f', "evil-file", "overwritten", 0, NULL },
	};
	r = apply_layers(LAYERS(plant, through), (size_t[]){ N(plant), N(through) }, 2, &err);
	char *landed = xasprintf("%s/pwned", outside + 1);
	ok(r == 0 && exists(landed), "%s: writes through planted symlinks stay in the root (%s)", mode_name, r ? err.msg : "");
	ok(file_has(in_root("evil-file"), "overwritten"), "%s: symlink leaf replaced, not written through", mode_name);
	free(landed);

	/* Same-layer plant and use. */
	struct tent one[] = { { 'l', "d", abs_out, 0, NULL }, { 'f', "d/pwned2", "x", 0, NULL } };
	r = apply_layers(LAYERS(one), (size_t[]){ 2 }, 1, &err);
	ok(r == 0, "%s: same-layer symlink plant stays inside", mode_name);

	/* Hardlinks: to outside via '..', and through a planted symlink. */
	struct tent hl1[] = { { 'h', "link", NULL, 0, NULL } };
	char *hl_target = xasprintf("../../../..%s", sentinel);
	hl1[0].data = hl_target;
	r = apply_layers(LAYERS(hl1), (size_t[]){ 1 }, 1, &err);
	ok(r < 0, "%s: hardlink with '..' target refused", mode_name);
	struct tent hl2[] = { { 'l', "out", abs_out, 0, NULL }, { 'h', "link", "out/sentinel", 0, NULL } };
	r = apply_layers(LAYERS(hl2), (size_t[]){ 2 }, 1, &err);
	ok(r < 0, "%s: hardlink through a planted symlink resolves in the root (and fails)", mode_name);
	struct tent hl3[] = { { 'l', "lnk", sentinel, 0, NULL }, { 'h', "hl", "lnk", 0, NULL },
			      { 'f', "hl", "clobber", 0, NULL } };
	r = apply_layers(LAYERS(hl3), (size_t[]){ 3 }, 1, &err);
	ok(r == 0, "%s: hardlink to a symlink links the symlink itself", mode_name);
	free(hl_target);
	free(sentinel);

	/* The root itself. */
	static const struct tent rootlink[] = { { 'l', ".", "/", 0, NULL } };
	r = apply_layers(LAYERS(rootlink), (size_t[]){ 1 }, 1, &err);
	ok(r < 0 && strstr(err.msg, "root"), "%s: root turned into a symlink refused", mode_name);
	static const struct tent rootlink2[] = { { 'l', "./", "/tmp", 0, NULL } };
	r = apply_layers(LAYERS(rootlink2), (size_t[]){ 1 }, 1, &err);
	ok(r < 0, "%s: root turned into a symlink ('./') refused", mode_name);
	static const struct tent rootfile[] = { { 'f', "/", "x", 0, NULL } };
	r = apply_layers(LAYERS(rootfile), (size_t[]){ 1 }, 1, &err);
	ok(r < 0, "%s: root turned into a file refused", mode_name);
	struct stat st;
	ok(lstat(root, &st) == 0 && S_ISDIR(st.st_mode), "%s: root is still a directory", mode_name);

	/* A directory entry replacing a planted symlink: the link goes. */
	struct tent dirover[] = { { 'l', "x", abs_out, 0, NULL }, { 'd', "x", NULL, 0700, NULL } };
	r = apply_layers(LAYERS(dirover), (size_t[]){ 2 }, 1, &err);
	ok(r == 0 && lstat(in_root("x"), &st) == 0 && S_ISDIR(st.st_mode), "%s: dir replaces symlink", mode_name);

	ok(sentinel_intact(outside), "%s: sentinel outside the root untouched", mode_name);
}

static void test_devices(void)
{
	static const struct tent dev[] = { { 'c', "dev/null", NULL, 0666, NULL } };
	struct perr err = { 0 };
	struct stat st;
	int r = apply_layers(LAYERS(dev), (size_t[]){ 1 }, 1, &err);
	if (geteuid() == 0)
		ok(r == 0 && lstat(in_root("dev/null"), &st) == 0 && S_ISCHR(st.st_mode),
		   "%s: device node created as root", mode_name);
	else
		ok(r == 0 && !exists("dev/null"), "%s: device node skipped without root", mode_name);
}

static void test_limits(void)
{
	struct perr err = { 0 };
	char longname[5000];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	struct tent t[] = { { 'f', longname, "x", 0, NULL } };
	int r = apply_layers(LAYERS(t), (size_t[]){ 1 }, 1, &err);
	ok(r < 0 && strstr(err.msg, "longer"), "%s: over-long path refused", mode_name);
}

static void run_all(void)
{
	test_basic();
	test_whiteouts();
	test_hostile();
	test_devices();
	test_limits();
}

/* Make openat2 fail with ENOSYS, as on Linux < 5.6 (crun's no_openat2). */
static void install_no_openat2(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 ||
	    seccomp_load(ctx) < 0) {
		printf("Bail out! cannot install seccomp filter\n");
		exit(1);
	}
	seccomp_release(ctx);
}

int main(int argc, char **argv)
{
	bool seccomp_mode = argc > 1 && !strcmp(argv[1], "--no-openat2");
	top = test_tempdir();
	root = xasprintf("%s/root", top);
	outside = xasprintf("%s/outside", top);
	sentinel_setup(outside);
	if (seccomp_mode) {
		install_no_openat2();
		mode_name = "seccomp-ENOSYS";
		run_all();
		ok(resolve_no_openat2, "ENOSYS from openat2 selects the fallback");
	} else {
		mode_name = "openat2";
		run_all();
		resolve_no_openat2 = true;
		mode_name = "fallback";
		run_all();
	}
	rm_rf(top);
	free(top);
	free(root);
	free(outside);
	return tap_done();
}
