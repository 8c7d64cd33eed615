/* The kernel's BTF cut to the eBPF recorder's reads (tracer/ebpf_btf.c):
 * the projection of hand-made types (members by name, through anonymous
 * ones, at the kernel's offsets; what the kernel lacks left out), the
 * real program loaded against its projection translating to the same
 * instructions as against the whole vmlinux BTF, and the cache's rules. */
#define _GNU_SOURCE
#include "tap.h"
#include "tracer/ebpf_btf.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/bpf/event.h"
#include "build/bpf/record.skel.h"

static const struct btf_member *member(const struct btf *b, const struct btf_type *t,
				       const char *name, __u32 *bit_off)
{
	const struct btf_member *m = btf_members(t);
	for (__u16 i = 0; i < btf_vlen(t); i++, m++)
		if (strcmp(btf__name_by_offset(b, m->name_off), name) == 0) {
			*bit_off = btf_member_bit_offset(t, i);
			return m;
		}
	return NULL;
}

/* kernel: struct inner { int x; int y; };
 *         struct outer { int a; union { long b; int c; }; struct inner in;
 *                        struct inner *p; struct inner arr[3]; };
 * local:  struct inner { int y; };
 *         struct outer { int c; struct inner in; void *p; struct inner arr[1]; int gone; }; */
static void test_project_by_hand(void)
{
	struct btf *k = btf__new_empty(), *l = btf__new_empty(), *cut = NULL;
	int ki = btf__add_int(k, "int", 4, BTF_INT_SIGNED);
	int kl = btf__add_int(k, "long", 8, BTF_INT_SIGNED);
	int kin = btf__add_struct(k, "inner", 8);
	btf__add_field(k, "x", ki, 0, 0);
	btf__add_field(k, "y", ki, 32, 0);
	int kun = btf__add_union(k, NULL, 8);
	btf__add_field(k, "b", kl, 0, 0);
	btf__add_field(k, "c", ki, 0, 0);
	int kp = btf__add_ptr(k, kin);
	int ka = btf__add_array(k, ki, kin, 3);
	btf__add_struct(k, "outer", 56);
	btf__add_field(k, "a", ki, 0, 0);
	btf__add_field(k, "", kun, 64, 0);
	btf__add_field(k, "in", kin, 128, 0);
	btf__add_field(k, "p", kp, 192, 0);
	btf__add_field(k, "arr", ka, 256, 0);

	int li = btf__add_int(l, "int", 4, BTF_INT_SIGNED);
	int lin = btf__add_struct(l, "inner", 4);
	btf__add_field(l, "y", li, 0, 0);
	int lp = btf__add_ptr(l, 0);
	int la = btf__add_array(l, li, lin, 1);
	btf__add_struct(l, "outer", 24);
	btf__add_field(l, "c", li, 0, 0);
	btf__add_field(l, "in", lin, 32, 0);
	btf__add_field(l, "p", lp, 64, 0);
	btf__add_field(l, "arr", la, 128, 0);
	btf__add_field(l, "gone", li, 160, 0);

	struct perr err = { 0 };
	ok(btf_project(l, k, &cut, &err) == 0, "hand-made types project (%s)", err.msg);
	int id = cut ? btf__find_by_name_kind(cut, "outer", BTF_KIND_STRUCT) : -1;
	const struct btf_type *t = id > 0 ? btf__type_by_id(cut, id) : NULL;
	ok(t && t->size == 56 && btf_vlen(t) == 4, "outer: the kernel's size, the local members the kernel has");
	__u32 off = 0;
	const struct btf_member *m;
	ok(t && (m = member(cut, t, "c", &off)) && off == 64, "a member inside an anonymous union: its offset in the kernel");
	ok(t && (m = member(cut, t, "in", &off)) && off == 128 &&
		   btf__type_by_id(cut, m->type)->size == 8 && btf_vlen(btf__type_by_id(cut, m->type)) == 1,
	   "an embedded struct: the kernel's size, the local members");
	const struct btf_type *in = t && m ? btf__type_by_id(cut, m->type) : NULL;
	ok(in && member(cut, in, "y", &off) && off == 32, "inner.y at the kernel's offset");
	ok(t && (m = member(cut, t, "p", &off)) && off == 192 && btf_is_ptr(btf__type_by_id(cut, m->type)),
	   "a pointer stays a pointer");
	ok(t && (m = member(cut, t, "arr", &off)) && off == 256 &&
		   btf_array(btf__type_by_id(cut, m->type))->nelems == 3,
	   "an array: the kernel's length");
	ok(t && !member(cut, t, "gone", &off) && !member(cut, t, "a", &off),
	   "neither a member the kernel lacks nor one the program never names");
	btf__free(cut);

	/* A bitfield-style int is one libbpf would refuse: the cut must not accept it. */
	struct btf *k2 = btf__new_empty(), *l2 = btf__new_empty();
	int bad = btf__add_int(k2, "int", 4, BTF_INT_SIGNED);
	struct btf_type *bt = (struct btf_type *)btf__type_by_id(k2, bad);
	*(__u32 *)(bt + 1) = 3; /* BTF_INT_BITS = 3 */
	btf__add_struct(k2, "s", 4);
	btf__add_field(k2, "f", bad, 0, 0);
	int l2i = btf__add_int(l2, "int", 4, BTF_INT_SIGNED);
	btf__add_struct(l2, "s", 4);
	btf__add_field(l2, "f", l2i, 0, 0);
	cut = NULL;
	ok(btf_project(l2, k2, &cut, &err) < 0 && !cut, "an odd int fails the cut (libbpf reads the whole BTF)");
	btf__free(k), btf__free(l), btf__free(k2), btf__free(l2);
}

/* The program's translated instructions, the map loads' immediates (map
 * ids, different on every load) left out. */
static size_t xlated(const char *btf_path, struct bpf_insn **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, o, .btf_custom_path = btf_path);
	struct record_bpf *s = record_bpf__open_opts(&o);
	if (!s || record_bpf__load(s) < 0) {
		record_bpf__destroy(s);
		return 0;
	}
	int fd = bpf_program__fd(s->progs.on_exit);
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	bpf_obj_get_info_by_fd(fd, &info, &len);
	size_t n = info.xlated_prog_len / sizeof(struct bpf_insn);
	struct bpf_insn *insn = calloc(n ? n : 1, sizeof(*insn));
	__u32 bytes = info.xlated_prog_len;
	memset(&info, 0, sizeof(info));
	info.xlated_prog_len = bytes;
	info.xlated_prog_insns = (uintptr_t)insn;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		n = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (insn[i].code == (BPF_LD | BPF_DW | BPF_IMM)) {
			insn[i].imm = insn[i + 1].imm = 0;
			i++;
		}
	record_bpf__destroy(s);
	*out = insn;
	return n;
}

static void test_real_program(void)
{
	if (geteuid() != 0) {
		tap_diag("skip: loading the eBPF program needs root");
		return;
	}
	char dir[] = "/tmp/pare-btf-XXXXXX", path[PATH_MAX];
	mkdtemp(dir);
	size_t len;
	const void *obj = record_bpf__elf_bytes(&len);
	struct perr err = { 0 };
	ok(ebpf_btf_path(dir, obj, len, path, sizeof(path), &err) == 0, "a cache path (%s)", err.msg);
	ok(strlen(path) == strlen(dir) + 1 + 40 + 1 + 16 + 4, "named by a 40-digit build ID and the object: %s", path);
	struct record_bpf *s = record_bpf__open();
	ok(s && ebpf_btf_make(bpf_object__btf(s->obj), path, &err) == 0, "the projection made (%s)", err.msg);
	record_bpf__destroy(s);
	struct stat st = { 0 };
	int stat_rc = stat(path, &st);
	ok(stat_rc == 0 && st.st_size < 8192 && (st.st_mode & 0777) == 0600,
	   "it is small (%lld bytes) and ours alone", (long long)st.st_size);
	ok(ebpf_btf_usable(path), "a projection we made is usable");
	/* valgrind's bpf(2) checks read all of libbpf's attr unions, which
	 * libbpf fills only as far as each command needs. */
	if (getenv("PARE_UNDER_VALGRIND")) {
		tap_diag("skipping the program loads under valgrind");
	} else {
		struct bpf_insn *whole = NULL, *cut = NULL;
		size_t nw = xlated(NULL, &whole), nc = xlated(path, &cut);
		ok(nw > 100 && nw == nc && memcmp(whole, cut, nw * sizeof(*whole)) == 0,
		   "the program loaded against it is the program loaded against vmlinux "
		   "(%zu, %zu insns)", nw, nc);
		free(whole), free(cut);
	}

	chmod(path, 0620);
	ok(!ebpf_btf_usable(path), "group-writable: not used");
	chmod(path, 0600);
	chown(path, 65534, 65534);
	ok(!ebpf_btf_usable(path), "another user's: not used");
	unlink(path);
	symlink("/etc/passwd", path);
	ok(!ebpf_btf_usable(path), "a symlink: not followed");
	unlink(path);
	mkfifo(path, 0600);
	ok(!ebpf_btf_usable(path), "a FIFO: refused, not waited on");
	unlink(path);
	ok(!ebpf_btf_usable(path), "missing: not used");
	rmdir(dir);
}

int main(void)
{
	test_project_by_hand();
	test_real_program();
	return tap_done();
}
