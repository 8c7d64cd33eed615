/* The record of one traced run: every path touched, with the operations
 * seen and the executables that did them; the commands executed; run
 * metadata. Serialised as the trace JSON documented in doc/trace.md. */
#ifndef PARE_TRACE_H
#define PARE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/util.h"

enum trace_op {
	OP_OPEN_READ,
	OP_OPEN_WRITE,
	OP_OPEN_DIR,
	OP_OPEN_PATH,
	OP_EXEC,
	OP_STAT,
	OP_ACCESS,
	OP_READLINK,
	OP_READDIR,
	OP_CHDIR,
	OP_XATTR,
	OP_STATFS,
	OP_MODIFY,
	OP__COUNT
};
extern const char *const trace_op_names[OP__COUNT];

/* Where a record came from (bit set in trace_entry.sources). */
enum { SRC_FANOTIFY = 1, SRC_PTRACE = 2, SRC_NOTIFY = 4, SRC_EBPF = 8 };

/* Recorders a run uses at once: ebpf, fanotify and notify (or ptrace). */
#define TRACE_TRACERS_MAX 3
#define TRACE_MAX_BY 8 /* executables remembered per path */

struct trace_entry {
	char *path;
	uint32_t ops;      /* 1 << enum trace_op */
	uint8_t sources;
	uint8_t n_by;
	uint32_t by[TRACE_MAX_BY]; /* indexes into trace.exes */
	/* filled by trace_check_image() */
	bool exists;
	char type;         /* 'f' file, 'd' dir, 'l' symlink, 'o' other */
};

struct trace_exec {
	uint32_t exe;      /* index into trace.exes */
	struct strv argv;
};

struct trace_syscall {
	int nr;
	uint32_t arch;
	uint32_t first_exe;
};

struct trace {
	struct trace_entry *e;
	size_t n, cap;
	struct strindex index; /* path -> position in e */
	struct strv exes;  /* interned executable paths */
	struct trace_exec *execs;
	size_t n_execs;
	struct trace_syscall *sys;
	size_t n_sys;
	uint64_t events_fanotify, stops_ptrace, notifications, events_ebpf;
	char *image;       /* the first read trace's "image" (trace_read_file) */
	bool lost;         /* fanotify queue overflow or a path we could not read */
	char lost_why[256];
};

void trace_init(struct trace *t);
void trace_free(struct trace *t);
/* Intern an executable path; returns its index. */
uint32_t trace_exe(struct trace *t, const char *path);
/* Record OP on absolute PATH by executable EXE (index, or UINT32_MAX). */
void trace_add(struct trace *t, const char *path, enum trace_op op, uint32_t exe, int src);
/* The entry of absolute PATH, or NULL. */
const struct trace_entry *trace_find(const struct trace *t, const char *path);
void trace_add_exec(struct trace *t, uint32_t exe, char **argv, size_t argc);
void trace_add_syscall(struct trace *t, int nr, uint32_t arch, uint32_t exe);
void trace_set_lost(struct trace *t, const char *why);
/* Look every path up in the pristine image root ROOTFD (in-root
 * resolution, final symlink not followed) and set exists/type. */
void trace_check_image(struct trace *t, int rootfd);

/* Merge the paths of a trace file written by `pare probe` into T. The
 * file is checked strictly; errors name the file and the field. */
int trace_read_file(struct trace *t, const char *file, struct perr *err);
/* The same from TEXT (LEN bytes), named FILE in errors. */
int trace_read_buf(struct trace *t, const char *text, size_t len, const char *file, struct perr *err);

/* Run metadata for the JSON document. */
struct trace_meta {
	const char *image;
	const char *const *argv;
	const char *tracers[TRACE_TRACERS_MAX];
	bool rootless;
	bool timed_out;
	int status;          /* wait status of the program */
	bool have_status;
	uint64_t duration_ms;
	bool syscalls;       /* --syscalls: include the "syscalls" list */
};
/* Serialise (sorted paths, stable output). Returns malloc'd JSON text. */
char *trace_to_json(struct trace *t, const struct trace_meta *m);

#endif
