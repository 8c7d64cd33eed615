/* The eBPF recorder, pare's half: loads bpf/record.bpf.c, gives it the
 * rows of the syscall table it takes over from seccomp notification
 * (every one-path call but execs, chdir/chroot and openat2), arms it for
 * the sandbox's pid namespace once the program is about to run, and turns
 * the ring buffer's events into the trace entries a notification would
 * have made. The caller never waits for pare: a stat costs it a probe and
 * a short copy instead of a round trip (bench/). Root only, in the
 * initial pid namespace, x86_64, and only where the kernel lets raw
 * tracepoints load: auto falls back to fanotify + notification. */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"
#include "tracer/bpf/event.h"
#include "tracer/ebpf_btf.h"
#include "build/bpf/record.skel.h"

/* The initial pid namespace's inode (include/linux/proc_ns.h): event
 * tgids are as it numbers them, so pare must number the same way. */
#define PROC_PID_INIT_INO 0xEFFFFFFCU
#define AUDIT_ARCH_X86_64_ 0xc000003eu
/* The kernel's BTF cut to the program's reads (ebpf_btf.h): tmpfs, so it
 * lasts as long as the kernel it describes. */
#define EBPF_BTF_DIR "/run/pare/btf"

/* tgid -> the executable its events are by (open addressing). */
struct exe_slot {
	uint32_t tgid; /* 0 = empty */
	uint32_t exe;
};

struct ebpf_rec {
	struct record_bpf *skel;
	struct ring_buffer *ring;
	struct loop *l;
	uint64_t dropped_seen;
	struct exe_slot *exes;
	size_t exes_cap, exes_n;
};

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0; /* a failure is our error message, not libbpf's log */
}

static struct exe_slot *exe_slot(struct ebpf_rec *r, uint32_t tgid)
{
	size_t i = (tgid * 2654435761u) & (r->exes_cap - 1);
	while (r->exes[i].tgid && r->exes[i].tgid != tgid)
		i = (i + 1) & (r->exes_cap - 1);
	return &r->exes[i];
}

static void exe_set(struct ebpf_rec *r, uint32_t tgid, uint32_t exe)
{
	if (2 * (r->exes_n + 1) > r->exes_cap) {
		struct exe_slot *old = r->exes;
		size_t old_cap = r->exes_cap;
		r->exes_cap = old_cap ? 2 * old_cap : 256;
		r->exes = xcalloc(r->exes_cap, sizeof(*r->exes));
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].tgid)
				*exe_slot(r, old[i].tgid) = old[i];
		free(old);
	}
	struct exe_slot *s = exe_slot(r, tgid);
	r->exes_n += !s->tgid;
	*s = (struct exe_slot){ tgid, exe };
}

static uint32_t exe_get(struct ebpf_rec *r, uint32_t tgid)
{
	if (!r->exes_cap)
		return UINT32_MAX;
	struct exe_slot *s = exe_slot(r, tgid);
	return s->tgid ? s->exe : UINT32_MAX;
}

/* "x.py\0lib\0usr\0" -> "/usr/lib/x.py"; false if it does not fit. */
static bool join_reversed(const char *names, size_t len, char *out, size_t sz)
{
	size_t o = 0;
	if (len == 0) {
		snprintf(out, sz, "/");
		return true;
	}
	size_t end = len;
	while (end > 0) {
		size_t start = end - 1; /* the NUL ending this component */
		while (start > 0 && names[start - 1])
			start--;
		size_t n = end - 1 - start;
		if (o + 1 + n + 1 > sz)
			return false;
		out[o++] = '/';
		memcpy(out + o, names + start, n);
		o += n;
		end = start;
	}
	out[o] = 0;
	return true;
}

static void on_exe(struct ebpf_rec *r, const struct ebpf_event *e)
{
	char path[EBPF_BUF + 2];
	/* Outside the sandbox's root: our own clone before its exec. */
	if (e->status || !join_reversed(e->buf, e->base_len, path, sizeof(path)))
		exe_set(r, e->tgid, UINT32_MAX);
	else
		exe_set(r, e->tgid, trace_exe(r->l->t, path));
}

/* The directory a relative path of E is relative to, from the event or,
 * where the path had to be read late, from /proc; false when none is. */
static bool event_base(const struct ebpf_event *e, const struct sc_row *row, char *base, size_t sz)
{
	if (!(e->status & EBPF_PATH_FAULT))
		return join_reversed(e->buf + e->path_len, e->base_len, base, sz);
	char link[64];
	int dirfd = row->p[0].dirfd >= 0 ? (int)e->args[row->p[0].dirfd] : AT_FDCWD;
	if (dirfd == AT_FDCWD)
		snprintf(link, sizeof(link), "/proc/%u/cwd", e->tgid);
	else
		snprintf(link, sizeof(link), "/proc/%u/fd/%d", e->tgid, dirfd);
	return read_link(link, base, sz) > 0 && base[0] == '/';
}

static void on_call(struct ebpf_rec *r, const struct ebpf_event *e)
{
	struct trace *t = r->l->t;
	const struct sc_row *row = sc_row_of(AUDIT_ARCH_X86_64_, (int)e->nr);
	if (!row)
		return;
	char rel[EBPF_PATH_MAX] = "";
	if (e->status & EBPF_PATH_FAULT) {
		/* Unreadable even at exit (another thread unmapped it?): the
		 * caller's memory, if it is still there. */
		if (read_string((pid_t)e->tgid, e->args[row->p[0].path], rel, sizeof(rel)) < 0) {
			trace_set_lost(t, "a path argument could not be read");
			return;
		}
	} else if (e->path_len) {
		memcpy(rel, e->buf, e->path_len);
		rel[e->path_len - 1] = 0;
	}
	if (!rel[0] && row->kind != SC_FD)
		return; /* AT_EMPTY_PATH: the fd's file was recorded when opened */
	if (e->status & (EBPF_NO_BASE | EBPF_OUTSIDE))
		return; /* EBADF, or a directory the image cannot hold */
	char base[EBPF_BUF + 2] = "";
	if (rel[0] != '/' && ((e->status & EBPF_TRUNCATED) || !event_base(e, row, base, sizeof(base)))) {
		trace_set_lost(t, "a relative path's directory could not be read");
		return;
	}
	uint32_t exe = exe_get(r, e->tgid);
	enum trace_op op = call_op(row, e->args);
	char path[2 * EBPF_BUF];
	if (call_abs(r->l, base, rel, path, sizeof(path), op, exe, SRC_EBPF) < 0) {
		trace_set_lost(t, "a path was longer than PATH_MAX");
		return;
	}
	if (!is_virtual(path))
		trace_add(t, path, op, exe, SRC_EBPF);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct ebpf_rec *r = ctx;
	const struct ebpf_event *e = data;
	size_t head = offsetof(struct ebpf_event, buf);
	r->l->t->events_ebpf++;
	if (size < head || e->path_len > EBPF_PATH_MAX || e->path_len + e->base_len > size - head ||
	    (e->path_len && e->buf[e->path_len - 1]) ||
	    (e->base_len && e->buf[e->path_len + e->base_len - 1])) {
		trace_set_lost(r->l->t, "an eBPF event was malformed");
		return 0;
	}
	if (e->type == EBPF_EXE)
		on_exe(r, e);
	else if (e->type == EBPF_CALL)
		on_call(r, e);
	return 0;
}

/* The table's rows the recorder takes, by x86_64 number. */
static void fill_rows(struct ebpf_row *rows)
{
	for (size_t i = 0; i < sc_table_len; i++) {
		const struct sc_row *s = &sc_table[i];
		int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, s->name);
		if (!sc_row_ebpf(s) || nr < 0 || nr >= EBPF_NR_MAX)
			continue;
		rows[nr] = (struct ebpf_row){
			.kind = s->kind == SC_FD ? EBPF_FD : s->kind == SC_EMPTY_PATH ? EBPF_EMPTY_PATH
										: EBPF_PLAIN,
			.path = s->p[0].path, .dirfd = s->p[0].dirfd, .flags = s->flags,
		};
	}
}

static struct record_bpf *open_and_load(const char *btf_path)
{
	LIBBPF_OPTS(bpf_object_open_opts, o, .btf_custom_path = btf_path);
	struct record_bpf *s = record_bpf__open_opts(&o);
	if (s && record_bpf__load(s) < 0) {
		int e = errno;
		record_bpf__destroy(s);
		errno = e;
		return NULL;
	}
	return s;
}

/* PATH: this boot's projection of the kernel's BTF for the program, made
 * now when there is none. False when none can be had (no build ID, no
 * /run, a type the cut does not know): libbpf then reads all of it. */
static bool projection(char *path, size_t sz)
{
	size_t len;
	const void *obj = record_bpf__elf_bytes(&len);
	struct perr e;
	if (ebpf_btf_path(EBPF_BTF_DIR, obj, len, path, sz, &e) < 0)
		return false;
	if (ebpf_btf_usable(path))
		return true;
	struct record_bpf *s = record_bpf__open(); /* for its BTF: what it reads */
	bool made = s && ebpf_btf_make(bpf_object__btf(s->obj), path, &e) == 0;
	record_bpf__destroy(s);
	return made;
}

static struct record_bpf *load_program(void)
{
	char path[PATH_MAX];
	if (projection(path, sizeof(path))) {
		struct record_bpf *s = open_and_load(path);
		if (s)
			return s;
		unlink(path); /* damaged, or not this kernel's after all: made again next time */
	}
	return open_and_load(NULL);
}

void ebpf_close(struct ebpf_rec *r)
{
	if (!r)
		return;
	ring_buffer__free(r->ring);
	record_bpf__destroy(r->skel);
	free(r->exes);
	free(r);
}

int ebpf_open(struct loop *l, struct perr *err)
{
	struct stat st;
	if (seccomp_arch_native() != SCMP_ARCH_X86_64)
		return perr_set(err, ENOTSUP, "the eBPF recorder reads x86_64 registers only "
				 "(Hint: --tracer notify)");
	if (stat("/proc/self/ns/pid", &st) < 0 || st.st_ino != PROC_PID_INIT_INO)
		return perr_set(err, EPERM, "the eBPF recorder needs pare in the initial pid namespace "
				 "(Hint: --tracer notify)");
	libbpf_set_print(silent);
	struct ebpf_rec *r = xcalloc(1, sizeof(*r));
	r->l = l;
	r->skel = load_program();
	int e = errno;
	if (r->skel && record_bpf__attach(r->skel) < 0)
		e = errno, record_bpf__destroy(r->skel), r->skel = NULL;
	if (r->skel)
		r->ring = ring_buffer__new(bpf_map__fd(r->skel->maps.events), on_event, r, NULL);
	if (!r->ring) {
		if (r->skel)
			e = errno;
		ebpf_close(r);
		return perr_set(err, e ? e : EPERM, "cannot load the eBPF recorder%s",
				e == EPERM ? " (Hint: it needs root, CAP_BPF and CAP_PERFMON; "
					     "use --tracer notify)" : "");
	}
	fill_rows(r->skel->bss->rows);
	l->bpf = r;
	return 0;
}

int ebpf_poll_fd(const struct ebpf_rec *r)
{
	return ring_buffer__epoll_fd(r->ring);
}

int ebpf_arm(struct ebpf_rec *r, pid_t init, struct perr *err)
{
	char ns[64];
	struct stat st;
	snprintf(ns, sizeof(ns), "/proc/%d/ns/pid", (int)init);
	if (stat(ns, &st) < 0)
		return perr_set(err, errno, "cannot read the sandbox's pid namespace");
	r->skel->bss->pidns_dev = st.st_dev;
	__atomic_store_n(&r->skel->bss->pidns_ino, st.st_ino, __ATOMIC_RELEASE);
	return 0;
}

void ebpf_drain(struct ebpf_rec *r)
{
	if (ring_buffer__consume(r->ring) < 0)
		trace_set_lost(r->l->t, "the eBPF ring buffer could not be read");
	uint64_t dropped = __atomic_load_n(&r->skel->bss->dropped, __ATOMIC_ACQUIRE);
	if (dropped != r->dropped_seen) {
		r->dropped_seen = dropped;
		trace_set_lost(r->l->t, "the eBPF ring buffer overflowed");
	}
}
