/* Syscall knowledge as data: which syscalls take paths, which argument is
 * the path, the dirfd, the flags, and what operation it means. The same
 * table generates the seccomp filter, so adding a syscall is one row. */
#ifndef PARE_SYSCALLS_H
#define PARE_SYSCALLS_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/util.h"
#include "tracer/trace.h"

/* When a row needs a ptrace stop. */
enum sc_when {
	SC_ALWAYS,     /* fanotify cannot see it (stat, access, readlink, ...) */
	SC_NO_FANOTIFY /* fanotify sees it when it is on (opens, execs, readdir) */
};

/* Special argument handling. */
enum sc_kind {
	SC_PLAIN,
	SC_OPEN,       /* op from the open flags in arg FLAGS */
	SC_OPENAT2,    /* flags inside struct open_how at arg FLAGS */
	SC_EMPTY_PATH, /* skipped by the filter when FLAGS has AT_EMPTY_PATH */
	SC_FD          /* the path is the fd in arg DIRFD (getdents) */
};

struct sc_path {
	int8_t dirfd; /* argument index of the dirfd, -1 = AT_FDCWD */
	int8_t path;  /* argument index of the path, -1 = none */
};

struct sc_row {
	const char *name;
	enum trace_op op;
	enum sc_when when;
	enum sc_kind kind;
	int8_t flags;         /* argument index of the flags, -1 = none */
	struct sc_path p[2];  /* up to two paths (rename, link) */
};

extern const struct sc_row sc_table[];
extern const size_t sc_table_len;

/* The ret_data of a seccomp stop for --syscalls (not a table row). */
#define SC_DATA_ANY 0xffff

struct filter_opts {
	bool fanotify;      /* opens/execs/readdir are seen by fanotify */
	bool all_syscalls;  /* stop on every syscall (--syscalls) */
	bool notify;        /* SECCOMP_RET_USER_NOTIF, not a ptrace stop */
	bool ebpf;          /* x86_64's sc_row_ebpf() rows are the eBPF recorder's */
};

/* How a process hands its listener to pare (tracer/confine.c): sendmsg
 * on this fd with these flags, the one call a --syscalls notify filter
 * lets through, since until pare holds the listener every notification
 * would wait forever. MSG_CMSG_CLOEXEC means nothing to sendmsg, so no
 * program's own call matches. */
#define SC_HANDOVER_FD 1000
#define SC_HANDOVER_FLAGS (MSG_NOSIGNAL | MSG_CMSG_CLOEXEC)

/* The row of syscall NR on the AUDIT_ARCH ARCH (a notification carries
 * no ret_data), or NULL when it takes no path. */
const struct sc_row *sc_row_of(uint32_t arch, int nr);

/* Whether the eBPF recorder (record_ebpf.c) reads row R's calls: one
 * path, no struct to read, no exec's argv, no cwd the call itself moves. */
bool sc_row_ebpf(const struct sc_row *r);

/* Build the BPF program (native architecture plus its 32-bit compat one,
 * so a 32-bit binary cannot slip past). Caller frees prog->filter. */
int sc_build_filter(const struct filter_opts *o, struct sock_fprog *prog, struct perr *err);
/* Export a libseccomp filter context (scmp_filter_ctx) as a BPF program
 * for prctl(PR_SET_SECCOMP). Caller frees prog->filter. */
int sc_export_bpf(void *ctx, struct sock_fprog *prog, struct perr *err);
/* Syscall name for NR on the AUDIT_ARCH ARCH, or NULL. Caller frees. */
char *sc_name(int nr, uint32_t arch);

#endif
