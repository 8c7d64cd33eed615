/* The kernel's types, cut down to what the eBPF recorder's CO-RE
 * relocations read. libbpf fits the program's struct reads to this
 * kernel by parsing its whole BTF (/sys/kernel/btf/vmlinux: 5.5 MB,
 * 126,000 types here) and searching it by name on every load: 22 of the
 * 28 ms a load costs (bench/tracer.sh, "fixed cost"). The projection holds
 * only the structs the program declares, with the members it names, at
 * the kernel's offsets and sizes (bpftool's `gen min_core_btf` does the
 * same for any object); made once per kernel and object and kept for the
 * boot, it turns each later load into a 1.6 KB read. */
#ifndef PARE_EBPF_BTF_H
#define PARE_EBPF_BTF_H

#include <stddef.h>

#include "base/util.h"

struct btf;

/* For each named struct or union of LOCAL that KERNEL also has: the
 * members LOCAL names (found in KERNEL through anonymous members, as
 * libbpf finds them) at KERNEL's bit offsets, typed as KERNEL types them
 * (pointers to void, ints and arrays as KERNEL has them, embedded structs
 * projected the same way). A member KERNEL lacks is left out, as libbpf
 * would find it missing. */
int btf_project(const struct btf *local, const struct btf *kernel, struct btf **out,
		struct perr *err);

/* Where the projection for the object OBJ (its ELF bytes, whose BTF is
 * LOCAL) on the running kernel is kept: DIR/BUILDID-OBJHASH.btf, the
 * kernel named by its GNU build ID (/sys/kernel/notes). Fails when the
 * kernel has no build ID: then nothing may be cached. */
int ebpf_btf_path(const char *dir, const void *obj, size_t obj_len, char *path, size_t sz,
		  struct perr *err);

/* PATH, when it is a regular file of ours (owned by us, writable by no
 * one else, not a symlink): what libbpf may read as btf_custom_path. */
bool ebpf_btf_usable(const char *path);

/* Project LOCAL onto the running kernel's BTF and write it to PATH (its
 * directory made 0700), through a temporary name. */
int ebpf_btf_make(const struct btf *local, const char *path, struct perr *err);

#endif
