#define _GNU_SOURCE
#include "tracer/syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>

#define P(d, a) { d, a }
#define NOP { -1, -1 }
/* name, op, when, kind, flags arg, path 1, path 2 */
const struct sc_row sc_table[] = {
	{ "open", OP_OPEN_READ, SC_NO_FANOTIFY, SC_OPEN, 1, { P(-1, 0), NOP } },
	{ "openat", OP_OPEN_READ, SC_NO_FANOTIFY, SC_OPEN, 2, { P(0, 1), NOP } },
	{ "openat2", OP_OPEN_READ, SC_ALWAYS, SC_OPENAT2, 2, { P(0, 1), NOP } },
	{ "creat", OP_OPEN_WRITE, SC_NO_FANOTIFY, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "execve", OP_EXEC, SC_NO_FANOTIFY, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "execveat", OP_EXEC, SC_NO_FANOTIFY, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "getdents64", OP_READDIR, SC_NO_FANOTIFY, SC_FD, -1, { P(0, -1), NOP } },
	{ "getdents", OP_READDIR, SC_NO_FANOTIFY, SC_FD, -1, { P(0, -1), NOP } },
	{ "stat", OP_STAT, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "lstat", OP_STAT, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "newfstatat", OP_STAT, SC_ALWAYS, SC_EMPTY_PATH, 3, { P(0, 1), NOP } },
	{ "fstatat64", OP_STAT, SC_ALWAYS, SC_EMPTY_PATH, 3, { P(0, 1), NOP } },
	{ "statx", OP_STAT, SC_ALWAYS, SC_EMPTY_PATH, 2, { P(0, 1), NOP } },
	{ "access", OP_ACCESS, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "faccessat", OP_ACCESS, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "faccessat2", OP_ACCESS, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "readlink", OP_READLINK, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "readlinkat", OP_READLINK, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "chdir", OP_CHDIR, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "chroot", OP_CHDIR, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "statfs", OP_STATFS, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "getxattr", OP_XATTR, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "lgetxattr", OP_XATTR, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "listxattr", OP_XATTR, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "llistxattr", OP_XATTR, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "inotify_add_watch", OP_STAT, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 1), NOP } },
	{ "name_to_handle_at", OP_STAT, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "truncate", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "mkdir", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "mkdirat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "rmdir", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "unlink", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "unlinkat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "rename", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), P(-1, 1) } },
	{ "renameat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), P(2, 3) } },
	{ "renameat2", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), P(2, 3) } },
	{ "link", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), P(-1, 1) } },
	{ "linkat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), P(2, 3) } },
	{ "symlink", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 1), NOP } },
	{ "symlinkat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(1, 2), NOP } },
	{ "chmod", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "fchmodat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "chown", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "lchown", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "fchownat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "utime", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "utimes", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "futimesat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "utimensat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "mknod", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "mknodat", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(0, 1), NOP } },
	{ "setxattr", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "lsetxattr", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "removexattr", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
	{ "lremovexattr", OP_MODIFY, SC_ALWAYS, SC_PLAIN, -1, { P(-1, 0), NOP } },
};
const size_t sc_table_len = ARRAY_SIZE(sc_table);

static void seccomp_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}

/* Add the row's rule; conditions keep stops away from calls whose path
 * adds nothing (fstat through AT_EMPTY_PATH) or that fanotify sees. */
bool sc_row_ebpf(const struct sc_row *r)
{
	return r->op != OP_EXEC && r->op != OP_CHDIR && r->kind != SC_OPENAT2 && r->p[1].path < 0;
}

static int add_row(scmp_filter_ctx ctx, size_t idx, const struct filter_opts *o)
{
	const struct sc_row *r = &sc_table[idx];
	if (o->ebpf && sc_row_ebpf(r))
		return 0;
	int nr = seccomp_syscall_resolve_name(r->name);
	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
	uint32_t act = o->notify ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(idx);
	/* A notification never sees the exec's result, so its argv is read
	 * at entry: execs notify with fanotify on too. */
	bool exec = r->op == OP_EXEC && o->notify;
	if (o->fanotify && r->when == SC_NO_FANOTIFY && !exec) {
		/* Only O_PATH opens: fanotify reports every other open. */
		if (r->kind != SC_OPEN)
			return 0;
		return seccomp_rule_add(ctx, act, nr, 1,
					SCMP_CMP(r->flags, SCMP_CMP_MASKED_EQ, O_PATH, O_PATH));
	}
	if (r->kind == SC_EMPTY_PATH)
		return seccomp_rule_add(ctx, act, nr, 1,
					SCMP_CMP(r->flags, SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0));
	return seccomp_rule_add(ctx, act, nr, 0);
}

static int add_rows(scmp_filter_ctx ctx, const struct filter_opts *o, struct perr *err)
{
	if (o->all_syscalls && o->notify) {
		/* Every call notifies (the default action) but the handover. */
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 2,
					 SCMP_A0(SCMP_CMP_EQ, SC_HANDOVER_FD),
					 SCMP_A2(SCMP_CMP_EQ, SC_HANDOVER_FLAGS));
		return r < 0 ? perr_set(err, -r, "cannot add the seccomp rule for the handover") : 0;
	}
	for (size_t i = 0; i < sc_table_len; i++) {
		int r = add_row(ctx, i, o);
		if (r < 0)
			return perr_set(err, -r, "cannot add seccomp rule for %s", sc_table[i].name);
	}
	return 0;
}

/* A filter context for ARCHES (0-terminated) with O's rows. */
static scmp_filter_ctx build_ctx(const struct filter_opts *o, const uint32_t *arches,
				 struct perr *err)
{
	uint32_t all = o->notify ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(SC_DATA_ANY);
	__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx =
		seccomp_init(o->all_syscalls ? all : SCMP_ACT_ALLOW);
	if (!ctx) {
		perr_set(err, ENOMEM, "cannot create a seccomp filter");
		return NULL;
	}
	int r = 0;
	if (arches[0] != seccomp_arch_native()) /* seccomp_init put the native one in */
		r = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
	for (size_t i = 0; r == 0 && arches[i]; i++) {
		r = seccomp_arch_add(ctx, arches[i]);
		r = r == -EEXIST ? 0 : r;
	}
	if (r < 0) {
		perr_set(err, -r, "cannot add the 32-bit architectures to the filter");
		return NULL;
	}
	if (add_rows(ctx, o, err) < 0)
		return NULL;
	scmp_filter_ctx out = ctx;
	ctx = NULL;
	return out;
}

int sc_build_filter(const struct filter_opts *o, struct sock_fprog *prog, struct perr *err)
{
	static const uint32_t native[] = { SCMP_ARCH_X86_64, 0 };
	static const uint32_t compat[] = { SCMP_ARCH_X86, SCMP_ARCH_X32, 0 };
	static const uint32_t every[] = { SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, 0 };
	if (seccomp_arch_native() != SCMP_ARCH_X86_64) {
		const uint32_t self[] = { seccomp_arch_native(), 0 };
		__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx = build_ctx(o, self, err);
		return ctx ? sc_export_bpf(ctx, prog, err) : -1;
	}
	if (!o->ebpf) {
		__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx = build_ctx(o, every, err);
		return ctx ? sc_export_bpf(ctx, prog, err) : -1;
	}
	/* The eBPF recorder reads x86_64 calls only: 32-bit ones keep every row. */
	struct filter_opts all_rows = *o;
	all_rows.ebpf = false;
	__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx = build_ctx(o, native, err);
	__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx32 =
		ctx ? build_ctx(&all_rows, compat, err) : NULL;
	if (!ctx32)
		return -1;
	int r = seccomp_merge(ctx, ctx32);
	if (r < 0)
		return perr_set(err, -r, "cannot merge the 32-bit rows into the seccomp filter");
	ctx32 = NULL; /* merged into ctx, and freed with it */
	return sc_export_bpf(ctx, prog, err);
}

int sc_export_bpf(void *ctx, struct sock_fprog *prog, struct perr *err)
{
	cleanup_close int mfd = memfd_create("pare-bpf", MFD_CLOEXEC);
	if (mfd < 0)
		return perr_set(err, errno, "cannot create a memfd");
	int r = seccomp_export_bpf(ctx, mfd);
	if (r < 0)
		return perr_set(err, -r, "cannot export the seccomp filter");
	off_t len = lseek(mfd, 0, SEEK_END);
	if (len <= 0 || len % sizeof(struct sock_filter) || len > 65536 * 8)
		return perr_set(err, 0, "unexpected seccomp filter size %lld", (long long)len);
	struct sock_filter *f = xmalloc(len);
	if (pread(mfd, f, len, 0) != len) {
		free(f);
		return perr_set(err, errno, "cannot read the seccomp filter back");
	}
	prog->filter = f;
	prog->len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

static uint32_t scmp_arch_of_audit(uint32_t audit)
{
	/* libseccomp's SCMP_ARCH_* values are the AUDIT_ARCH_* values. */
	return audit;
}

char *sc_name(int nr, uint32_t arch)
{
	return seccomp_syscall_resolve_num_arch(scmp_arch_of_audit(arch), nr);
}

/* Rows by syscall number, per architecture: built once, on first use. */
enum { ARCH_NATIVE, ARCH_X86, ARCH_X32, N_ARCHES };
#define SC_MAX_NR 1024
static int16_t rows_by_nr[N_ARCHES][SC_MAX_NR];
static uint32_t arch_ids[N_ARCHES] = { 0, SCMP_ARCH_X86, SCMP_ARCH_X32 };

static void rows_build(void)
{
	arch_ids[ARCH_NATIVE] = seccomp_arch_native();
	for (int a = 0; a < N_ARCHES; a++) {
		for (int n = 0; n < SC_MAX_NR; n++)
			rows_by_nr[a][n] = -1;
		for (size_t i = 0; i < sc_table_len; i++) {
			int nr = seccomp_syscall_resolve_name_arch(arch_ids[a], sc_table[i].name);
			if (nr >= 0 && a == ARCH_X32)
				nr &= ~0x40000000; /* __X32_SYSCALL_BIT */
			if (nr >= 0 && nr < SC_MAX_NR)
				rows_by_nr[a][nr] = (int16_t)i;
		}
	}
}

const struct sc_row *sc_row_of(uint32_t arch, int nr)
{
	static bool built;
	if (!built) {
		rows_build();
		built = true;
	}
	int a;
	if (arch == SCMP_ARCH_X86_64 && (nr & 0x40000000))
		a = ARCH_X32, nr &= ~0x40000000;
	else if (arch == arch_ids[ARCH_NATIVE])
		a = ARCH_NATIVE;
	else if (arch == SCMP_ARCH_X86)
		a = ARCH_X86;
	else
		return NULL;
	if (nr < 0 || nr >= SC_MAX_NR || rows_by_nr[a][nr] < 0)
		return NULL;
	return &sc_table[rows_by_nr[a][nr]];
}
