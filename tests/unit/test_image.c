/* Image-level checks on real OCI layouts built by the helpers: digests,
 * sizes, diff_ids, media types, JSON limits, bombs, truncated tars, and
 * blobs that are symlinks or FIFOs. Every failure must leave no DIR. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "image/apply.h"
#include "base/digest.h"
#include "image/ref.h"
#include "base/resolve.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static char *top;

static const struct tent simple[] = {
	{ 'd', "etc", NULL, 0755, NULL },
	{ 'f', "etc/hostname", "pare\n", 0644, NULL },
	{ 'l', "bin", "usr/bin", 0777, NULL },
};

/* Build a layout from SPEC, unpack it; returns unpack's result. */
static int try_unpack(struct layer_spec *spec, size_t n, const char *config, struct limits *lim,
		      struct perr *err, bool *dest_gone)
{
	static int serial;
	char *layout = xasprintf("%s/layout%d", top, ++serial);
	char *dest = xasprintf("%s/dest%d", top, serial);
	struct imgref ref = { .transport = T_OCI, .path = layout, .text = layout };
	struct open_opts oo = { .lim = lim ? *lim : default_limits };
	struct image *img = NULL;
	struct stat st;
	make_layout(layout, spec, n, config);
	int r = image_open(&ref, &oo, &img, err);
	if (r == 0) {
		struct apply_opts ao = { .lim = oo.lim, .privileged = geteuid() == 0 };
		r = image_unpack(img, dest, &ao, NULL, err);
		image_close(img);
	}
	*dest_gone = lstat(dest, &st) < 0;
	free(layout);
	free(dest);
	return r;
}

static struct layer_spec spec_of(const struct tent *t, size_t n, enum compression c)
{
	struct layer_spec s = { .tar = build_tar(t, n, 0), .comp = c };
	return s;
}

#define CHECK_FAILS(spec, cfg, lim, needle, name)                                              \
	do {                                                                                    \
		struct perr e_ = { 0 };                                                         \
		bool gone_;                                                                     \
		int r_ = try_unpack(spec, 1, cfg, lim, &e_, &gone_);                             \
		ok(r_ < 0 && strstr(e_.msg, needle) && gone_, "%s (%s)", name, e_.msg);         \
	} while (0)

static void test_good(void)
{
	for (int c = COMP_NONE; c <= COMP_ZSTD; c++) {
		struct layer_spec s = spec_of(simple, 3, (enum compression)c);
		struct perr err = { 0 };
		bool gone;
		int r = try_unpack(&s, 1, NULL, NULL, &err, &gone);
		ok(r == 0 && !gone, "%s layer unpacks (%s)", compression_name((enum compression)c), r ? err.msg : "");
		free(s.tar.p);
	}
	/* Zero padding after the tar end marker is part of the diff_id. */
	struct layer_spec s = { .tar = build_tar(simple, 3, 8192), .comp = COMP_GZIP };
	struct perr err = { 0 };
	bool gone;
	ok(try_unpack(&s, 1, NULL, NULL, &err, &gone) == 0, "diff_id covers bytes after the end marker (%s)", err.msg);
	free(s.tar.p);
}

static void test_digests(void)
{
	struct layer_spec s = spec_of(simple, 3, COMP_GZIP);
	s.corrupt_blob = true;
	CHECK_FAILS(&s, NULL, NULL, "mismatch", "corrupted blob refused");
	s.corrupt_blob = false;
	s.size_delta = 1;
	CHECK_FAILS(&s, NULL, NULL, "size mismatch", "descriptor size too large refused");
	s.size_delta = -1;
	CHECK_FAILS(&s, NULL, NULL, "size mismatch", "descriptor size too small refused");
	s.size_delta = 0;
	s.bad_diff_id = true;
	CHECK_FAILS(&s, NULL, NULL, "diff_id mismatch", "wrong diff_id refused");
	s.bad_diff_id = false;
	s.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
	CHECK_FAILS(&s, NULL, NULL, "zstd", "gzip blob labelled zstd refused");
	s.media_type = "application/x-unknown";
	CHECK_FAILS(&s, NULL, NULL, "unsupported media type", "unknown media type refused");
	s.media_type = NULL;
	s.blob_as_symlink = true;
	CHECK_FAILS(&s, NULL, NULL, "symlink", "blob that is a symlink refused");
	s.blob_as_symlink = false;
	s.blob_as_fifo = true;
	CHECK_FAILS(&s, NULL, NULL, "not a regular file", "blob that is a FIFO refused without blocking");
	free(s.tar.p);
	struct layer_spec plain = spec_of(simple, 3, COMP_NONE);
	plain.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
	CHECK_FAILS(&plain, NULL, NULL, "gzip", "plain tar labelled gzip refused");
	free(plain.tar.p);
}

/* What may follow a compressed stream: another member (gzip) or frame
 * (zstd), nothing else. */
static void test_trailing(void)
{
	for (int c = COMP_GZIP; c <= COMP_ZSTD; c++) {
		const char *name = compression_name((enum compression)c);
		struct layer_spec s = spec_of(simple, 3, (enum compression)c);
		char junk[] = "PK\x03\x04 not a compressed member";
		s.append = (struct buf){ junk, sizeof(junk) - 1 };
		CHECK_FAILS(&s, NULL, NULL, "bytes after the end", c == COMP_GZIP ? "garbage after gzip refused"
										 : "garbage after zstd refused");
		char zeros[512] = { 0 };
		s.append = (struct buf){ zeros, sizeof(zeros) };
		CHECK_FAILS(&s, NULL, NULL, "bytes after the end", c == COMP_GZIP ? "zeros after gzip refused"
										 : "zeros after zstd refused");
		/* The same tar in two members (frames): one stream, accepted. */
		struct buf half = { s.tar.p, 1024 }, rest = { s.tar.p + 1024, s.tar.len - 1024 };
		struct buf a = compress_buf(half, (enum compression)c), b = compress_buf(rest, (enum compression)c);
		struct buf joined = { xmalloc(a.len + b.len), a.len + b.len };
		memcpy(joined.p, a.p, a.len);
		memcpy(joined.p + a.len, b.p, b.len);
		s.append = (struct buf){ 0 };
		s.raw_blob = joined;
		struct perr err = { 0 };
		bool gone;
		int r = try_unpack(&s, 1, NULL, NULL, &err, &gone);
		ok(r == 0 && !gone, "%s in two members is one stream (%s)", name, r ? err.msg : "");
		/* Cut inside the second member: truncated, not short. */
		s.raw_blob.len = a.len + b.len / 2;
		CHECK_FAILS(&s, NULL, NULL, "truncated", c == COMP_GZIP ? "gzip cut inside a member refused"
								       : "zstd cut inside a frame refused");
		free(a.p);
		free(b.p);
		free(joined.p);
		free(s.tar.p);
	}
}

static void test_truncated_and_bombs(void)
{
	char data[4000];
	memset(data, 'D', sizeof(data) - 1);
	data[sizeof(data) - 1] = 0;
	struct tent bigf[] = { { 'f', "f", data, 0644, NULL } };
	struct layer_spec s = spec_of(bigf, 1, COMP_NONE);
	s.tar.len = 2000; /* mid-data; digests are computed over what is stored */
	CHECK_FAILS(&s, NULL, NULL, "Truncated", "truncated tar refused");
	/* Only the last block's padding and the end marker missing (as umoci
	 * 0.4 `insert` writes): accepted, as docker and umoci do. */
	free(s.tar.p);
	s = spec_of(bigf, 1, COMP_NONE);
	size_t cut = s.tar.len;
	while (cut > 0 && s.tar.p[cut - 1] == 0)
		cut--;
	s.tar.len = cut;
	struct perr e2 = { 0 };
	bool gone2;
	ok(try_unpack(&s, 1, NULL, NULL, &e2, &gone2) == 0, "missing final padding tolerated (%s)", e2.msg);
	free(s.tar.p);

	/* 64 MiB of zeros compresses to ~64 kB: a small bomb for a 1 MiB cap. */
	size_t big = 64u << 20;
	char *zeros = xcalloc(1, big);
	struct tent t[] = { { 'f', "bomb", NULL, 0644, NULL } };
	struct layer_spec b = { .comp = COMP_GZIP };
	t[0].data = NULL;
	b.tar = build_tar(t, 1, 0);
	/* Replace the empty file with a large one: build by hand. */
	free(b.tar.p);
	zeros[big - 1] = 0;
	memset(zeros, 'A', big - 1);
	t[0].data = zeros;
	b.tar = build_tar(t, 1, 0);
	struct limits lim = default_limits;
	lim.max_bytes = 1u << 20;
	CHECK_FAILS(&b, NULL, &lim, "limit", "decompression bomb stops at --max-bytes");
	/* The expansion limit on a smaller bomb (valgrind runs this too): 8 MiB
	 * from ~8 kB is ~1000x, past 200x once above a lowered floor. */
	size_t small = 8u << 20;
	char *as = xmalloc(small + 1);
	memset(as, 'A', small);
	as[small] = 0;
	struct tent ts[] = { { 'f', "bomb", as, 0644, NULL } };
	struct layer_spec sb = { .tar = build_tar(ts, 1, 0), .comp = COMP_GZIP };
	lim = default_limits;
	lim.expansion_floor = 1u << 20;
	CHECK_FAILS(&sb, NULL, &lim, "expands past", "a layer expanding past 200x its size is refused");
	lim.max_expansion = 0;
	struct perr e3 = { 0 };
	bool gone3;
	ok(try_unpack(&sb, 1, NULL, &lim, &e3, &gone3) == 0, "--max-expansion 0 lifts that limit (%s)", e3.msg);
	lim = default_limits;
	lim.expansion_floor = 16u << 20;
	ok(try_unpack(&sb, 1, NULL, &lim, &e3, &gone3) == 0, "below the floor, any ratio is fine (%s)", e3.msg);
	free(sb.tar.p);
	free(as);
	free(b.tar.p);
	free(zeros);

	struct layer_spec many = spec_of(simple, 3, COMP_NONE);
	lim = default_limits;
	lim.max_entries = 2;
	CHECK_FAILS(&many, NULL, &lim, "entries", "entry count limit");
	free(many.tar.p);
}

static void test_json(void)
{
	struct layer_spec s = spec_of(simple, 3, COMP_NONE);
	CHECK_FAILS(&s, "{not json", NULL, "invalid JSON", "malformed config refused");
	CHECK_FAILS(&s, "{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":{\"diff_ids\":[\"x\"]}}", NULL,
		    "malformed digest", "malformed diff_id refused");
	CHECK_FAILS(&s, "{\"os\":\"linux\",\"architecture\":\"amd64\",\"os\":\"x\",\"rootfs\":{}}", NULL,
		    "invalid JSON", "duplicate keys refused");
	CHECK_FAILS(&s, "{\"os\":1,\"architecture\":\"amd64\",\"rootfs\":{}}", NULL, "expected a string",
		    "wrong type refused");
	size_t depth = 10000;
	char *deep = xmalloc(2 * depth + 64);
	size_t n = (size_t)sprintf(deep, "{\"os\":\"linux\",\"x\":");
	for (size_t i = 0; i < depth; i++)
		deep[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = ']';
	strcpy(deep + n, "}");
	CHECK_FAILS(&s, deep, NULL, "nested deeper", "deeply nested JSON refused");
	free(deep);
	struct limits lim = default_limits;
	lim.max_json = 100;
	char *huge = xasprintf("{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":{\"diff_ids\":[]},\"pad\":\"%0200d\"}", 0);
	CHECK_FAILS(&s, huge, &lim, "limit", "oversized JSON refused");
	free(huge);
	free(s.tar.p);

	struct perr err;
	struct index idx;
	const char *bad_digest = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:../../etc/passwd\",\"size\":1}]}";
	ok(parse_index(bad_digest, strlen(bad_digest), &default_limits, &idx, &err) < 0 &&
	   strstr(err.msg, "malformed digest"), "digest with a path in it refused");
	index_free(&idx);
}

static void test_refs(void)
{
	struct imgref r;
	struct perr err;
	ok(imgref_parse("oci:/x/y:v1", true, &r, &err) == 0 && r.transport == T_OCI && !strcmp(r.path, "/x/y") &&
	   !strcmp(r.tag, "v1"), "oci:DIR:TAG");
	imgref_free(&r);
	ok(imgref_parse("docker-archive:/a.tar:foo/bar:2", true, &r, &err) == 0 && r.transport == T_DOCKER_ARCHIVE &&
	   !strcmp(r.tag, "foo/bar:2"), "docker-archive:FILE:NAME:TAG");
	imgref_free(&r);
	ok(imgref_parse("docker-daemon:app", true, &r, &err) == 0 && !strcmp(r.tag, "app:latest"),
	   "docker-daemon NAME gets :latest");
	imgref_free(&r);
	ok(imgref_parse("docker-daemon:", true, &r, &err) < 0, "docker-daemon without a name refused");
	imgref_free(&r);
	ok(imgref_parse("docker-daemon:a b", true, &r, &err) < 0, "invalid docker name refused");
	imgref_free(&r);
	ok(imgref_parse("weird:/thing", false, &r, &err) < 0 && strstr(err.msg, "unknown transport 'weird'") &&
	   strstr(err.msg, "docker-archive:FILE"), "word:/path: unknown transport, naming the known ones");
	imgref_free(&r);
	ok(imgref_parse("containers-storage:./x", false, &r, &err) < 0 &&
	   strstr(err.msg, "unknown transport 'containers-storage'") && strstr(err.msg, "docker://"),
	   "word:./path: unknown transport");
	imgref_free(&r);
	ok(imgref_parse("oci-archive:./x.tar:v1", false, &r, &err) == 0 && r.transport == T_OCI_ARCHIVE &&
	   !strcmp(r.path, "./x.tar") && !strcmp(r.tag, "v1"), "oci-archive:FILE:TAG");
	imgref_free(&r);
	ok(imgref_parse("docker://127.0.0.1:5000/a/b:1", false, &r, &err) == 0 && r.transport == T_REGISTRY &&
	   !strcmp(r.host, "127.0.0.1:5000") && !strcmp(r.repo, "a/b") && !strcmp(r.tag, "1") && !r.digest,
	   "docker://HOST:PORT/REPO:TAG");
	imgref_free(&r);
	ok(imgref_parse("docker://redis", false, &r, &err) == 0 && !strcmp(r.host, "registry-1.docker.io") &&
	   !strcmp(r.repo, "library/redis") && !strcmp(r.tag, "latest"), "docker://NAME is Docker Hub's library/NAME:latest");
	imgref_free(&r);
	ok(imgref_parse("docker://docker.io/nginx:1", false, &r, &err) == 0 && !strcmp(r.host, "registry-1.docker.io") &&
	   !strcmp(r.repo, "library/nginx") && !strcmp(r.tag, "1"), "docker://docker.io/NAME is Docker Hub's library/NAME");
	imgref_free(&r);
	ok(imgref_parse("docker://index.docker.io/rw/php", false, &r, &err) == 0 && !strcmp(r.host, "registry-1.docker.io") &&
	   !strcmp(r.repo, "rw/php"), "docker://index.docker.io/OWNER/NAME is Docker Hub's too");
	imgref_free(&r);
	ok(imgref_parse("docker://docker.io.example.com/a:1", false, &r, &err) == 0 && !strcmp(r.host, "docker.io.example.com") &&
	   !strcmp(r.repo, "a"), "docker://docker.io.example.com is not Docker Hub");
	imgref_free(&r);
	ok(imgref_parse("docker://localhost/x:7@sha256:aec8beaf3a7e61347995ed0c485f1dc6dec94236c04fd9b5885d274732d94669",
			false, &r, &err) == 0 && !strcmp(r.host, "localhost") && !strcmp(r.repo, "x") && !r.tag &&
	   r.digest && !strncmp(r.digest, "sha256:aec8", 11), "docker://localhost/REPO:TAG@DIGEST: the digest wins");
	imgref_free(&r);
	ok(imgref_parse("docker://h.io/UPPER:1", false, &r, &err) < 0 && strstr(err.msg, "invalid repository name"),
	   "docker:// with an uppercase repository refused");
	imgref_free(&r);
	ok(imgref_parse("docker://h.io/a@sha256:12", false, &r, &err) < 0 && strstr(err.msg, "invalid digest"),
	   "docker:// with a short digest refused");
	imgref_free(&r);
	ok(imgref_parse("docker://h.io/a:b/c", false, &r, &err) < 0, "docker:// with a '/' in the tag refused");
	imgref_free(&r);
	ok(imgref_parse("weird:thing", false, &r, &err) < 0 &&
	   strstr(err.msg, "no such file; did you mean docker-daemon:weird:thing?"), "a bare name:tag: did you mean docker-daemon");
	imgref_free(&r);
	ok(imgref_parse("rw/php", false, &r, &err) < 0 && strstr(err.msg, "did you mean docker-daemon:rw/php:latest?"),
	   "a bare name: did you mean docker-daemon NAME:latest");
	imgref_free(&r);
	ok(imgref_parse("/nonexistent/app.tar", false, &r, &err) < 0 && !strstr(err.msg, "did you mean") &&
	   err.errnum == ENOENT, "a missing file is just missing");
	imgref_free(&r);
	ok(imgref_parse("myapp:slim", true, &r, &err) < 0 && strstr(err.msg, "is an image name, not a file"),
	   "an output that is a bare name:tag is refused with a hint");
	imgref_free(&r);
	static const char *const canon[][2] = {
		{ "rw/php:latest", "docker.io/rw/php:latest" },
		{ "rw/php", "docker.io/rw/php:latest" },
		{ "redis", "docker.io/library/redis:latest" },
		{ "redis:7", "docker.io/library/redis:7" },
		{ "docker.io/redis:7", "docker.io/library/redis:7" },
		{ "index.docker.io/rw/php:1", "docker.io/rw/php:1" },
		{ "localhost/app:1", "localhost/app:1" },
		{ "127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest" },
		{ "ghcr.io/o/r:v1", "ghcr.io/o/r:v1" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(canon); i++) {
		char *c = docker_ref_canonical(canon[i][0]);
		ok(!strcmp(c, canon[i][1]), "docker normalises %s to %s (got %s)", canon[i][0], canon[i][1], c);
		free(c);
	}
	struct compress_spec cs;
	ok(compress_spec_parse("zstd:19", &cs, &err) == 0 && cs.comp == COMP_ZSTD && cs.level == 19, "zstd:19");
	ok(compress_spec_parse("gzip", &cs, &err) == 0 && cs.comp == COMP_GZIP && cs.level == 0, "gzip: default level");
	ok(compress_spec_parse("none", &cs, &err) == 0 && cs.comp == COMP_NONE, "none");
	ok(compress_spec_parse("gzip:10", &cs, &err) < 0 && strstr(err.msg, "1 to 9"), "gzip:10 refused");
	ok(compress_spec_parse("zstd:0", &cs, &err) < 0 && compress_spec_parse("zstd:", &cs, &err) < 0, "zstd:0 and zstd: refused");
	ok(compress_spec_parse("none:3", &cs, &err) < 0 && strstr(err.msg, "no level"), "none:3 refused");
	ok(compress_spec_parse("gzipx", &cs, &err) < 0 && compress_spec_parse("", &cs, &err) < 0, "unknown kinds refused");
	ok(docker_ref_equal("rw/php:latest", "docker.io/rw/php:latest") && !docker_ref_equal("rw/php:1", "rw/php:2"),
	   "names compare as docker compares them");
	imgref_free(&r);
	ok(imgref_parse("/nonexistent/pare", false, &r, &err) < 0, "missing bare path");
	imgref_free(&r);
	ok(digest_valid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "valid digest");
	ok(!digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"), "uppercase digest refused");
	ok(!digest_valid("sha512:e3b0"), "other algorithms refused");
	char d[80];
	sha256_buf("", 0, d);
	ok(!strcmp(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256 of nothing");
	char norm[64];
	ok(clean_in_root_path("/a/./b/../../../c//d/", norm, 63, &err) == 0 && !strcmp(norm, "c/d"),
	   "in-root normalisation clamps '..' at the root (%s)", norm);
	ok(clean_in_root_path("../..", norm, 63, &err) == 0 && !strcmp(norm, ""), "'..' alone is the root");
	ok(clean_entry_path("a/../b", norm, 63, &err) < 0, "entry names still refuse '..'");
	ok(clean_in_root_path("x/y", norm, 2, &err) < 0, "in-root normalisation checks its bound");
	uint64_t v;
	ok(parse_size("2G", &v) == 0 && v == 2ULL << 30, "size suffix");
	ok(parse_size("-1", &v) < 0 && parse_u64("12x", &v) < 0 && parse_size("99999999999T", &v) < 0, "bad numbers refused");
}

int main(void)
{
	top = test_tempdir();
	test_good();
	test_digests();
	test_trailing();
	test_truncated_and_bombs();
	test_json();
	test_refs();
	rm_rf(top);
	free(top);
	return tap_done();
}
