/* Test helpers: real tars and OCI layouts built with libarchive, and the
 * sentinel oracle (files outside the root that must never change). */
#ifndef PARE_TEST_HELPERS_H
#define PARE_TEST_HELPERS_H

#include "image/image.h"
#include "slimmer/keepset.h"
#include <sys/types.h>

struct tent {
	char type;          /* f file, d dir, l symlink, h hardlink, p fifo, c chardev */
	const char *path;   /* written as is: "../x" and "/abs" are allowed */
	const char *data;   /* file content, or link target */
	mode_t mode;
	const char *xattr;  /* "name=value" or NULL */
};

struct buf {
	char *p;
	size_t len;
};

/* A tar (pax) of ENTS, with PAD extra zero bytes after the end marker. */
struct buf build_tar(const struct tent *ents, size_t n, size_t pad);
struct buf compress_buf(struct buf in, enum compression c);

struct layer_spec {
	struct buf tar;          /* uncompressed */
	enum compression comp;
	const char *media_type;  /* override, else from comp */
	bool corrupt_blob;       /* flip a byte of the stored blob */
	int64_t size_delta;      /* added to the descriptor's size */
	bool bad_diff_id;
	bool blob_as_symlink;    /* store the blob as a symlink to the real file */
	bool blob_as_fifo;
	struct buf append;       /* bytes after the compressed stream (not owned) */
	struct buf raw_blob;     /* stored as the blob instead of TAR compressed (not owned) */
};

/* Write an OCI layout at DIR (tag "latest"). Returns 0 on success. */
int make_layout(const char *dir, struct layer_spec *layers, size_t n, const char *config_override);

/* Sentinels: a directory outside every test root holding files whose
 * content and mtime are recorded; sentinel_intact() re-checks them. */
void sentinel_setup(const char *dir);
bool sentinel_intact(const char *dir);

/* Run CALL in a child that has installed the seccomp filter PROG: the
 * errno CALL failed with (0 when it succeeded), or -1 when the child could
 * not install the filter or died. */
struct sock_fprog;
int errno_under_filter(const struct sock_fprog *prog, long (*call)(void));

char *test_tempdir(void);
void rm_rf(const char *path);
bool file_has(const char *path, const char *content);
/* BASE/REL holding TEXT, its directories made as needed. */
void put_file(const char *base, const char *rel, const char *text);

/* Whether K keeps PATH for reason WHY (among others). */
bool kept_for(const struct keepset *k, const char *path, enum keep_why why);
/* *S with FMT appended, after a space unless *S is empty (malloc'd). */
void str_append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
