/* Shared plumbing for the libraries: error convention, cleanup attributes,
 * allocation that never returns NULL.
 *
 * Error convention (as in crun): a function that can fail takes a
 * `struct perr *` and returns an int, negative on failure, after filling the
 * error with perr_set(). Callers add context with perr_wrap() on the way up.
 * Only the command layer prints. */
#ifndef PARE_UTIL_H
#define PARE_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

struct perr {
	int errnum;      /* errno of the root cause, 0 when not a system error */
	char msg[2048];  /* "what: why" */
};

/* Fill ERR from a format; appends ": strerror(ERRNUM)" when ERRNUM != 0.
 * Always returns -1 so callers can `return perr_set(...)`. */
int perr_set(struct perr *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the current message with context: "context: old message". */
int perr_wrap(struct perr *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define cleanup_free __attribute__((cleanup(freep)))
#define cleanup_dir __attribute__((cleanup(closedirp)))
#define cleanup_close __attribute__((cleanup(closep)))
#define cleanup_file __attribute__((cleanup(fclosep)))

/* Hand ownership out of a cleanup-scoped variable. */
#define steal_pointer(pp) \
	({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(fdp) \
	({ int _fd = *(fdp); *(fdp) = -1; _fd; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The struct holding MEMBER at PTR. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* IN in ASCII lowercase into OUT (SZ bytes); false when it does not fit. */
bool ascii_lower(char *out, size_t sz, const char *in);

/* Checked number parsing: whole string, base 10, in range. */
int parse_u64(const char *s, uint64_t *out);
/* Sizes with an optional K/M/G/T suffix (powers of 1024, either case,
 * docker's "m", "mb" and "MiB" alike). */
int parse_size(const char *s, uint64_t *out);

/* Write all of BUF, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);
/* Read up to LEN bytes, retrying on EINTR and short reads; returns the
 * number read (less than LEN only at end of file) or -1. */
ssize_t read_full(int fd, void *buf, size_t len);

/* A file the user named beside the image (a trace, a profile, a probe
 * list): opened without blocking, refused unless regular, at most MAX
 * bytes; TEXT gets a final NUL. Errors name the file. */
#define SIDE_FILE_MAX (16u << 20)
int read_side_file(const char *file, uint64_t max, char **text, size_t *len, struct perr *err);
/* What a file of MODE is, for errors: "a FIFO", "a directory", "a
 * device", "a symlink", "a socket", "a regular file". */
const char *file_kind_name(mode_t mode);

/* Only that it opens, without blocking, as a regular file: to refuse a
 * bad option value before work that reads it later. */
int check_side_file(const char *file, struct perr *err);

/* Write TEXT and a final newline to PATH through PATH.tmp-PID and a
 * rename: a reader never sees half a file. */
int write_file_atomic(const char *path, const char *text, struct perr *err);
/* LEN bytes of DATA the same way, the file made with MODE (less the umask). */
int write_bytes_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct perr *err);

/* MODE less the process's umask: what open(..., MODE) would give, for
 * outputs made by mkstemp (0600) or mkdtemp (0700) that users expect to
 * look like any file they write. */
mode_t umask_mode(mode_t mode);

/* Create PATH and its missing parents with MODE (existing ones are fine). */
int mkdir_p(const char *path, mode_t mode, struct perr *err);
/* 'f' regular file, 'd' directory, 'l' symlink, 'o' anything else. */
char mode_type(mode_t m);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t monotonic_ms(void);

/* Remove PATH (file or tree) below DIRFD without following symlinks. */
int remove_tree_at(int dirfd, const char *name, struct perr *err);
/* Make a private temporary directory; returns malloc'd path. */
char *make_tempdir(const char *prefix, struct perr *err);

/* A growable list of strings. */
struct strv {
	char **v;
	size_t n, cap;
};
void strv_push(struct strv *s, char *owned);
void strv_free(struct strv *s);
/* qsort comparator for an array of char * (strcmp order). */
int strp_cmp(const void *a, const void *b);
void strv_sort(struct strv *s);
bool strv_has(const struct strv *s, const char *str);
static inline void strv_freep(struct strv *s) { strv_free(s); }
#define cleanup_strv __attribute__((cleanup(strv_freep)))

/* An open-addressing set of strings (paths), for per-layer bookkeeping. */
struct strset {
	char **slots;
	size_t cap, n;
};
bool strset_add(struct strset *s, const char *key); /* true when added */
bool strset_has(const struct strset *s, const char *key);
void strset_free(struct strset *s);

/* An open-addressing index from strings to positions in the caller's
 * array; the caller keeps the keys, KEY_AT(ctx, i) returns entry i's. */
typedef const char *(*strindex_key_fn)(const void *ctx, size_t i);
struct strindex {
	size_t *slots; /* position + 1, 0 = empty */
	size_t cap;
};
/* Position of KEY, or SIZE_MAX. */
size_t strindex_find(const struct strindex *x, const char *key, strindex_key_fn key_at,
		     const void *ctx);
/* Entry I (of N, already stored by the caller) holds a new key. */
void strindex_put(struct strindex *x, size_t i, size_t n, strindex_key_fn key_at, const void *ctx);
/* Index entries 0..N-1 afresh (after the caller reordered them). */
void strindex_rebuild(struct strindex *x, size_t n, strindex_key_fn key_at, const void *ctx);
void strindex_free(struct strindex *x);

/* A directory stream for REL below DIRFD ("" = DIRFD itself, which may
 * be an O_PATH fd), a final symlink never followed; NULL with errno set. */
DIR *opendir_at(int dirfd, const char *rel);

struct stat;
/* Visit every entry below ROOTFD, depth first, never following a symlink;
 * FN gets the path relative to the root ("usr/bin") and its lstat. */
void walk_tree(int rootfd, void (*fn)(void *ctx, const char *rel, const struct stat *st),
	       void *ctx);

/* Human sizes: "12.3 MB" (powers of 1000). BUF of at least 32 bytes. */
const char *human_size(uint64_t n, char *buf);

#endif
