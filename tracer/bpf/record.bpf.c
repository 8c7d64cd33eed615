/* The eBPF recorder's kernel half: a raw tracepoint on syscall exit reads
 * the path-taking calls pare's table gives it (rows[], filled by
 * record_ebpf.c) and writes them to a ring buffer; the caller never waits
 * for pare. What a seccomp notification would show, it shows: the call's
 * number and arguments, its path as the caller gave it, and for a relative
 * path the directory it is relative to (the cwd, or the dirfd's file),
 * walked dentry by dentry to the task's root the way d_path walks.
 *
 * Why this hook: this kernel (lockdown, firecracker) refuses fentry and
 * LSM programs and has no kprobes to attach to; raw tracepoints load.
 * Why exit, not entry: a probe may not fault, and a path in a page the
 * caller never touched reads as EFAULT at entry; by exit the kernel's own
 * copy has faulted it in. The calls whose base the call itself changes
 * (chdir, chroot) stay with seccomp notification, as do execs (their
 * argv), openat2 (a struct), the two-path calls and every 32-bit call.
 *
 * Recorded: the sandbox's pid namespace and those nested in it, never its
 * pid 1 (pare's init). Each process's executable is announced (EBPF_EXE)
 * before its first call, and again after it changes. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <stdbool.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "tracer/bpf/event.h"

/* The fields we read, by name: CO-RE moves them to this kernel's offsets. */
struct pt_regs {
	unsigned long di, si, dx, r10, r8, r9, orig_ax;
} __attribute__((preserve_access_index));
struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));
struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
} __attribute__((preserve_access_index));
struct vfsmount {
	struct dentry *mnt_root;
} __attribute__((preserve_access_index));
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));
struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));
struct file {
	struct path f_path;
} __attribute__((preserve_access_index));
struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));
struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));
struct fs_struct {
	struct path root, pwd;
} __attribute__((preserve_access_index));
struct mm_struct {
	struct file *exe_file;
} __attribute__((preserve_access_index));
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));
struct pid_namespace {
	unsigned int level;
	struct pid_namespace *parent;
	struct ns_common ns;
} __attribute__((preserve_access_index));
struct upid {
	int nr;
	struct pid_namespace *ns;
} __attribute__((preserve_access_index));
struct pid {
	unsigned int level;
	struct upid numbers[1];
} __attribute__((preserve_access_index));
struct thread_info {
	__u32 status;
} __attribute__((preserve_access_index));
struct task_struct {
	struct thread_info thread_info;
	struct fs_struct *fs;
	struct files_struct *files;
	struct mm_struct *mm;
	struct pid *thread_pid;
} __attribute__((preserve_access_index));

#define TS_COMPAT 0x0002      /* arch/x86: a 32-bit syscall is running */
#define X32_SYSCALL_BIT 0x40000000
#define AT_FDCWD -100
#define AT_EMPTY_PATH 0x1000
#define MAX_NEST 8            /* pid namespaces nested in the sandbox's */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EBPF_RING_BYTES);
} events SEC(".maps");

/* One event under construction per CPU (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebpf_event);
} scratch SEC(".maps");

/* tgid -> the struct file of the executable last announced for it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} announced SEC(".maps");

/* Filled by pare before it arms the recorder. */
struct ebpf_row rows[EBPF_NR_MAX];
/* The sandbox's pid namespace (nsfs device and inode); 0 = record nothing. */
__u64 pidns_dev, pidns_ino;
/* Events that did not fit the ring: pare says the trace lost some. */
__u64 dropped;

static __always_inline bool nested_in_sandbox(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid u;
	if (bpf_core_read(&u, sizeof(u), &pid->numbers[level & 63]))
		return false;
	struct pid_namespace *ns = u.ns;
	for (int i = 0; i < MAX_NEST && ns; i++) {
		ns = BPF_CORE_READ(ns, parent);
		if (ns && BPF_CORE_READ(ns, ns.inum) == (unsigned int)pidns_ino)
			return true;
	}
	return false;
}

static __always_inline bool in_sandbox(struct task_struct *task)
{
	struct bpf_pidns_info ns;
	if (!pidns_ino)
		return false;
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)) == 0)
		return ns.tgid != 1; /* pare's init: its own work, not the program's */
	return nested_in_sandbox(task);
}

static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((char *)m - bpf_core_field_offset(struct mount, mnt));
}

/* One walk's state, for bpf_loop: the verifier checks one step once,
 * where an unrolled walk's branches multiply past its limit. */
struct walk {
	struct ebpf_event *e;
	struct dentry *d, *root_d;
	struct vfsmount *vm, *root_m;
	struct mount *m;
	__u32 off;
	int result; /* 1 = going on, 0 = done, else the status bit that ended it */
};

static long walk_step(__u32 i, struct walk *w)
{
	(void)i;
	/* Locals: BPF_CORE_READ would relocate the w-> accesses too. */
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	if (d == w->root_d && vm == w->root_m) {
		w->result = 0;
		return 1;
	}
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
		struct mount *up = BPF_CORE_READ(m, mnt_parent);
		if (up == m) {
			w->result = EBPF_OUTSIDE; /* the global root, and never the task's */
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = up;
		w->vm = &up->mnt;
		return 0;
	}
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	struct ebpf_event *e = w->e;
	__u32 off = w->off;
	long n = bpf_probe_read_kernel_str(&e->buf[off & (EBPF_BUF - 1)], EBPF_NAME_MAX, name);
	if (n <= 0) {
		w->result = EBPF_TRUNCATED;
		return 1;
	}
	w->off = off + (__u32)n;
	if (w->off >= EBPF_BUF - EBPF_NAME_MAX) {
		w->result = EBPF_TRUNCATED;
		return 1;
	}
	w->d = parent;
	return 0;
}

/* Append the path of (D, VM) below the task's root to E's buf, leaf first. */
static __always_inline void walk(struct task_struct *task, struct ebpf_event *e, struct dentry *d,
				 struct vfsmount *vm)
{
	__u32 start = e->path_len;
	struct walk w = {
		.e = e, .d = d, .vm = vm, .m = real_mount(vm), .off = start, .result = 1,
		.root_d = BPF_CORE_READ(task, fs, root.dentry),
		.root_m = BPF_CORE_READ(task, fs, root.mnt),
	};
	bpf_loop(EBPF_MAX_DEPTH, walk_step, &w, 0);
	if (w.result == 1)
		w.result = EBPF_TRUNCATED; /* deeper than the walk goes */
	e->status |= (__u32)w.result;
	e->base_len = w.off - start;
}

static __always_inline void emit(struct ebpf_event *e)
{
	__u32 used = (e->path_len + e->base_len) & (EBPF_BUF - 1);
	__u32 size = (__u32)__builtin_offsetof(struct ebpf_event, buf) + used + 1;
	if (size > sizeof(*e))
		return;
	/* Waking pare for each event would cost what a notification does:
	 * it reads the ring whenever its loop wakes, and is woken here only
	 * once a quarter of the ring is full. */
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > EBPF_RING_BYTES / 4
			      ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, e, size, flags))
		__sync_fetch_and_add(&dropped, 1);
}

static __always_inline struct ebpf_event *start(__u32 tgid, __u32 type)
{
	__u32 zero = 0;
	struct ebpf_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return NULL;
	e->tgid = tgid;
	e->type = type;
	e->status = 0;
	e->path_len = 0;
	e->base_len = 0;
	return e;
}

/* Before a process's first call, and after each exec: its executable. */
static __always_inline void announce(struct task_struct *task, __u32 tgid)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	__u64 key = (__u64)exe, *was = bpf_map_lookup_elem(&announced, &tgid);
	if (!exe || (was && *was == key))
		return;
	struct ebpf_event *e = start(tgid, EBPF_EXE);
	if (!e)
		return;
	walk(task, e, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt));
	emit(e);
	bpf_map_update_elem(&announced, &tgid, &key, BPF_ANY);
}

static __always_inline __u64 arg(struct pt_regs *r, int i)
{
	switch (i) {
	case 0: return BPF_CORE_READ(r, di);
	case 1: return BPF_CORE_READ(r, si);
	case 2: return BPF_CORE_READ(r, dx);
	case 3: return BPF_CORE_READ(r, r10);
	case 4: return BPF_CORE_READ(r, r8);
	default: return BPF_CORE_READ(r, r9);
	}
}

/* The file at descriptor FD of TASK, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd), *f = NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline void read_base(struct task_struct *task, struct ebpf_event *e,
				      const struct ebpf_row *row)
{
	int dirfd = row->dirfd >= 0 ? (int)e->args[row->dirfd & 7] : AT_FDCWD;
	if (dirfd == AT_FDCWD) {
		walk(task, e, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt));
		return;
	}
	struct file *f = fd_file(task, dirfd);
	if (!f) {
		e->status |= EBPF_NO_BASE;
		return;
	}
	walk(task, e, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
}

SEC("raw_tracepoint/sys_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = (long)BPF_CORE_READ(regs, orig_ax);
	if (nr < 0 || nr >= EBPF_NR_MAX)
		return 0; /* x32's numbers carry a high bit: never here */
	const struct ebpf_row *row = &rows[nr];
	if (row->kind == EBPF_OFF)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT)
		return 0; /* an i386 number: seccomp notification has those */
	if (!in_sandbox(task))
		return 0;
	__u32 tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	announce(task, tgid);
	struct ebpf_event *e = start(tgid, EBPF_CALL);
	if (!e)
		return 0;
	e->nr = (__u32)nr;
	for (int i = 0; i < 6; i++)
		e->args[i] = arg(regs, i);
	if (row->kind == EBPF_EMPTY_PATH && row->flags >= 0 &&
	    (e->args[row->flags & 7] & AT_EMPTY_PATH))
		return 0; /* as the seccomp filter skips them */
	if (row->kind != EBPF_FD) {
		const char *p = (const char *)e->args[row->path & 7];
		long n = p ? bpf_probe_read_user_str(e->buf, EBPF_PATH_MAX, p) : 0;
		if (n <= 0) {
			e->status |= p ? EBPF_PATH_FAULT : 0;
			if (p)
				emit(e); /* pare reads it from the caller, or says it could not */
			return 0;
		}
		e->path_len = (__u32)n;
		if (n == 1 || e->buf[0] == '/') {
			emit(e);
			return 0;
		}
	}
	read_base(task, e, row);
	emit(e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
