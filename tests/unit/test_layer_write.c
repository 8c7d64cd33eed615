/* The layer builder: sorted, deterministic (byte-identical twice, gzip
 * included), hardlinks kept, SOURCE_DATE_EPOCH clamping, and a round trip
 * through the applier reproducing the selected files. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "image/apply.h"
#include "image/layer_write.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/xattr.h>
#include <sys/stat.h>

static char *top;

static int apply_buf(const char *dir, const char *p, size_t len)
{
	struct perr err;
	mkdir(dir, 0755);
	int rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct apply_opts o = { .lim = default_limits, .privileged = geteuid() == 0 };
	struct applier *ap;
	applier_new(rootfd, &o, &ap, &err);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_open_memory(a, p, len);
	int r = applier_apply_layer(ap, a, &err);
	if (r == 0)
		r = applier_finish(ap, &err);
	if (r < 0)
		tap_diag("apply: %s", err.msg);
	archive_read_free(a);
	applier_free(ap);
	close(rootfd);
	return r;
}

static struct buf build(const char *root, const struct strv *paths, enum compression c, bool clamp,
			struct built_layer *bl)
{
	struct perr err;
	struct buf out = { 0 };
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = open(top, O_TMPFILE | O_RDWR, 0600);
	struct build_opts o = { .comp = c, .clamp_mtime = clamp, .epoch = 1000000003 };
	if (layer_build(rootfd, paths, fd, &o, bl, &err) < 0)
		tap_diag("build: %s", err.msg);
	struct stat st;
	fstat(fd, &st);
	out.len = (size_t)st.st_size;
	out.p = xmalloc(out.len + 1);
	pread(fd, out.p, out.len, 0);
	close(fd);
	close(rootfd);
	return out;
}

int main(void)
{
	top = test_tempdir();
	char *src = xasprintf("%s/src", top), *dst = xasprintf("%s/dst", top);
	static const struct tent tree[] = {
		{ 'd', "usr", NULL, 0755, NULL }, { 'd', "usr/bin", NULL, 0755, NULL },
		{ 'f', "usr/bin/tool", "#!/bin/sh\necho hi\n", 04755, NULL },
		{ 'h', "usr/bin/tool-again", "usr/bin/tool", 0, NULL },
		{ 'l', "bin", "usr/bin", 0777, NULL },
		{ 'f', "usr/bin/cap", "elf", 0755, "user.note=kept" },
		{ 'f', "usr/bin/unused", "not selected", 0644, NULL },
	};
	struct buf t = build_tar(tree, sizeof(tree) / sizeof(tree[0]), 0);
	ok(apply_buf(src, t.p, t.len) == 0, "source tree prepared");
	free(t.p);

	struct strv paths = { 0 };
	const char *sel[] = { "usr/bin/tool-again", "bin", "usr", "usr/bin", "usr/bin/tool", "usr/bin/cap", "usr/bin" };
	for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++)
		strv_push(&paths, xstrdup(sel[i]));

	struct built_layer a, b, c;
	struct buf la = build(src, &paths, COMP_GZIP, false, &a);
	sleep(1); /* a timestamp leaking into the output would now differ */
	struct buf lb = build(src, &paths, COMP_GZIP, false, &b);
	ok(la.len == lb.len && !memcmp(la.p, lb.p, la.len), "gzip layer is byte-identical on rebuild");
	ok(!strcmp(a.digest, b.digest) && !strcmp(a.diff_id, b.diff_id), "same digests");
	ok(a.entries == 6, "duplicates dropped, unselected files left out (%llu entries)", (unsigned long long)a.entries);
	char dg[80];
	sha256_buf(la.p, la.len, dg);
	ok(!strcmp(dg, a.digest) && (int64_t)la.len == a.size, "reported digest and size match the bytes");

	struct buf lc = build(src, &paths, COMP_NONE, false, &c);
	ok(!strcmp(c.digest, c.diff_id) && !strcmp(c.diff_id, a.diff_id), "uncompressed: digest = diff_id = gzip's diff_id");
	sha256_buf(lc.p, lc.len, dg);
	ok(!strcmp(dg, c.diff_id), "diff_id is the tar's sha256");

	/* Entries in sorted order. */
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	archive_read_support_format_tar(ar);
	archive_read_open_memory(ar, lc.p, lc.len);
	char prev[256] = "";
	bool sorted = true;
	while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
		sorted &= strcmp(prev, archive_entry_pathname(e)) < 0;
		snprintf(prev, sizeof(prev), "%s", archive_entry_pathname(e));
	}
	archive_read_free(ar);
	ok(sorted, "entries sorted");

	ok(apply_buf(dst, la.p, la.len) == 0, "built layer applies");
	char *p1 = xasprintf("%s/usr/bin/tool", dst), *p2 = xasprintf("%s/usr/bin/tool-again", dst);
	char *p3 = xasprintf("%s/usr/bin/unused", dst), *p4 = xasprintf("%s/usr/bin/cap", dst);
	struct stat s1, s2, s3;
	ok(stat(p1, &s1) == 0 && stat(p2, &s2) == 0 && s1.st_ino == s2.st_ino, "hardlink kept");
	ok((s1.st_mode & 07777) == 04755 && s1.st_mtime == 1000000002, "mode and mtime kept");
	ok(stat(p3, &s3) < 0, "unselected file absent");
	char xv[16] = "";
	ok(getxattr(p4, "user.note", xv, sizeof(xv)) == 4 && !memcmp(xv, "kept", 4), "user xattr kept");

	struct built_layer d;
	struct buf ld = build(src, &paths, COMP_NONE, true, &d);
	char *dst2 = xasprintf("%s/dst2", top);
	apply_buf(dst2, ld.p, ld.len);
	char *q = xasprintf("%s/usr/bin/cap", dst2), *q2 = xasprintf("%s/usr/bin/tool", dst2);
	ok(stat(q, &s1) == 0 && s1.st_mtime == 1000000003 && stat(q2, &s2) == 0 && s2.st_mtime == 1000000002,
	   "SOURCE_DATE_EPOCH clamps later mtimes only");
	ok(strcmp(d.diff_id, c.diff_id), "clamping changes the layer");

	/* Headers: a short ASCII name gets a ustar header alone; a UTF-8 name
	 * a pax path in UTF-8, whatever our locale; bytes that are not UTF-8
	 * a pax path of those bytes. All read back as they were. */
	char *names = xasprintf("%s/names", top);
	mkdir(names, 0755);
	static const char *const odd[] = { "plain", "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem", "bad\xff\xfename" };
	struct strv np = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		char *f = xasprintf("%s/%s", names, odd[i]);
		close(open(f, O_CREAT | O_WRONLY, 0644));
		free(f);
		strv_push(&np, xstrdup(odd[i]));
	}
	struct built_layer h;
	struct buf lh = build(names, &np, COMP_NONE, false, &h);
	ok(h.entries == 3, "names that are not ASCII or not UTF-8 are written, not refused");
	/* Sorted: "F..." and "bad..." each a pax header, its record and a
	 * ustar header; "plain" a ustar header alone; then the end marker. */
	ok(lh.len == 512 * (3 + 3 + 1) + 1024, "a pax header only where the name needs one (%zu bytes)", lh.len);
	ar = archive_read_new();
	archive_read_support_format_tar(ar);
	archive_read_open_memory(ar, lh.p, lh.len);
	size_t found = 0;
	int rr;
	/* In our C locale, a UTF-8 name reads back with a warning (it cannot
	 * be converted to the locale), as its bytes. */
	while ((rr = archive_read_next_header(ar, &e)) == ARCHIVE_OK || rr == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(e), *utf8 = archive_entry_pathname_utf8(e);
		for (size_t i = 0; i < ARRAY_SIZE(odd); i++)
			found += (raw && !strcmp(raw, odd[i])) || (utf8 && !strcmp(utf8, odd[i]));
	}
	archive_read_free(ar);
	ok(found == 3, "every name reads back byte for byte");
	ok(memmem(lh.p, lh.len, "hdrcharset=BINARY", 17) && memmem(lh.p, lh.len, "path=F\xc5\x91", 8) &&
	   !memmem(lh.p, lh.len, "LIBARCHIVE.", 11), "UTF-8 as UTF-8; BINARY for the one that is not UTF-8 alone");
	free(lh.p);
	strv_free(&np);
	free(names);

	free(la.p); free(lb.p); free(lc.p); free(ld.p);
	free(p1); free(p2); free(p3); free(p4); free(q); free(q2);
	strv_free(&paths);
	rm_rf(top);
	free(top); free(src); free(dst); free(dst2);
	return tap_done();
}
