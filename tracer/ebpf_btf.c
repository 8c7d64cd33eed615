/* The kernel's BTF projected onto what the eBPF recorder reads
 * (ebpf_btf.h), and where a projection is kept. */
#define _GNU_SOURCE
#include "tracer/ebpf_btf.h"

#include <bpf/btf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"

#define NOTES_PATH "/sys/kernel/notes"
#define NT_GNU_BUILD_ID_ 3
#define PROJECTION_MAX (1 << 20) /* ours is 1.6 KB; anything far bigger is not ours */

struct projection {
	const struct btf *local, *kernel;
	struct btf *out;
	int *done;   /* local type id -> its projection's id, 0 = not yet */
	int index_id; /* the int that indexes arrays, 0 = not yet */
};

struct found_member {
	__u32 type, bit_offset, bit_size;
};

static __u32 skip_mods(const struct btf *b, __u32 id)
{
	const struct btf_type *t = btf__type_by_id(b, id);
	while (t && (btf_is_mod(t) || btf_is_typedef(t))) {
		id = t->type;
		t = btf__type_by_id(b, id);
	}
	return id;
}

/* Where B's member NAME of composite ID is: by name among its members,
 * and inside its anonymous ones, as libbpf looks. */
static bool find_member(const struct btf *b, __u32 id, const char *name, __u32 base,
			struct found_member *f)
{
	const struct btf_type *t = btf__type_by_id(b, id);
	const struct btf_member *m = btf_members(t);
	for (__u16 i = 0; i < btf_vlen(t); i++, m++) {
		__u32 off = base + btf_member_bit_offset(t, i);
		const char *n = btf__name_by_offset(b, m->name_off);
		if (n && *n) {
			if (strcmp(n, name) == 0) {
				*f = (struct found_member){ m->type, off, btf_member_bitfield_size(t, i) };
				return true;
			}
			continue;
		}
		__u32 sub = skip_mods(b, m->type);
		if (btf_is_composite(btf__type_by_id(b, sub)) && find_member(b, sub, name, off, f))
			return true;
	}
	return false;
}

static int project(struct projection *p, __u32 lid, __u32 kid);

static const char *name_or_null(const struct btf *b, __u32 off)
{
	const char *n = btf__name_by_offset(b, off);
	return n && *n ? n : NULL;
}

/* Kernel composite KID with the members local composite LID names. */
static int project_composite(struct projection *p, __u32 lid, __u32 kid)
{
	if (lid && p->done[lid])
		return p->done[lid];
	const struct btf_type *lt = btf__type_by_id(p->local, lid);
	const struct btf_type *kt = btf__type_by_id(p->kernel, kid);
	__u16 n = lid && btf_is_composite(lt) ? btf_vlen(lt) : 0;
	struct field {
		const char *name;
		int type;
		struct found_member at;
	};
	cleanup_free struct field *f = xcalloc(n ? n : 1, sizeof(*f));
	size_t nf = 0;
	const struct btf_member *m = n ? btf_members(lt) : NULL;
	for (__u16 i = 0; i < n; i++, m++) {
		const char *name = name_or_null(p->local, m->name_off);
		struct found_member at;
		if (!name || !find_member(p->kernel, kid, name, 0, &at))
			continue; /* missing here: libbpf would find it missing too */
		int id = project(p, m->type, at.type);
		if (id < 0)
			return id;
		f[nf++] = (struct field){ name, id, at };
	}
	/* The fields follow their struct: every type they name came first. */
	const char *kname = name_or_null(p->kernel, kt->name_off);
	int id = btf_is_union(kt) ? btf__add_union(p->out, kname, kt->size)
				  : btf__add_struct(p->out, kname, kt->size);
	for (size_t i = 0; id > 0 && i < nf; i++) {
		int rc = btf__add_field(p->out, f[i].name, f[i].type, f[i].at.bit_offset,
					f[i].at.bit_size);
		if (rc < 0)
			return rc;
	}
	if (lid && id > 0)
		p->done[lid] = id;
	return id;
}

static int index_type(struct projection *p)
{
	if (!p->index_id)
		p->index_id = btf__add_int(p->out, "int", 4, BTF_INT_SIGNED);
	return p->index_id;
}

/* KERNEL type KID as local type LID needs it (LID 0: nothing of it is
 * read but its size). Negative for a kind this cut does not know: the
 * caller then lets libbpf read the whole BTF. */
static int project(struct projection *p, __u32 lid, __u32 kid)
{
	lid = skip_mods(p->local, lid);
	kid = skip_mods(p->kernel, kid);
	if (!kid)
		return 0; /* void */
	const struct btf_type *lt = btf__type_by_id(p->local, lid);
	const struct btf_type *kt = btf__type_by_id(p->kernel, kid);
	if (btf_is_composite(kt))
		return project_composite(p, lid && btf_is_composite(lt) ? lid : 0, kid);
	if (btf_is_ptr(kt))
		return btf__add_ptr(p->out, 0); /* libbpf never compares pointees */
	if (btf_is_int(kt)) {
		/* A bitfield-style int is one libbpf refuses: so must we. */
		if (btf_int_offset(kt) || btf_int_bits(kt) != kt->size * 8)
			return -EOPNOTSUPP;
		return btf__add_int(p->out, btf__name_by_offset(p->kernel, kt->name_off), kt->size,
				    btf_int_encoding(kt));
	}
	if (btf_is_array(kt)) {
		const struct btf_array *ka = btf_array(kt);
		int elem = project(p, lid && btf_is_array(lt) ? btf_array(lt)->type : 0, ka->type);
		int index = elem < 0 ? elem : index_type(p);
		return index < 0 ? index : btf__add_array(p->out, index, elem, ka->nelems);
	}
	return -EOPNOTSUPP;
}

int btf_project(const struct btf *local, const struct btf *kernel, struct btf **out,
		struct perr *err)
{
	struct projection p = { .local = local, .kernel = kernel, .out = btf__new_empty() };
	if (!p.out)
		return perr_set(err, errno, "cannot make a BTF");
	__u32 n = btf__type_cnt(local);
	p.done = xcalloc(n, sizeof(*p.done));
	int rc = 0;
	for (__u32 id = 1; id < n && rc >= 0; id++) {
		const struct btf_type *t = btf__type_by_id(local, id);
		const char *name = btf_is_composite(t) ? name_or_null(local, t->name_off) : NULL;
		if (!name)
			continue;
		char essential[128]; /* "task_struct___old" is libbpf's "task_struct" */
		snprintf(essential, sizeof(essential), "%s", name);
		char *flavor = strstr(essential, "___");
		if (flavor)
			*flavor = 0;
		int kid = btf__find_by_name_kind(kernel, essential, btf_kind(t));
		if (kid > 0)
			rc = project_composite(&p, id, kid);
	}
	free(p.done);
	if (rc < 0) {
		btf__free(p.out);
		return perr_set(err, -rc, "cannot project the kernel's BTF");
	}
	*out = p.out;
	return 0;
}

/* The kernel's GNU build ID, in hex, from its ELF notes. */
static int kernel_build_id(char *hex, size_t sz, struct perr *err)
{
	unsigned char notes[4096];
	cleanup_close int fd = open(NOTES_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read_full(fd, notes, sizeof(notes));
	if (n < 0)
		return perr_set(err, errno, "cannot read '%s'", NOTES_PATH);
	for (size_t at = 0; at + 12 <= (size_t)n;) {
		__u32 h[3];
		memcpy(h, notes + at, sizeof(h));
		size_t name = at + 12, desc = name + ((h[0] + 3) & ~3u), next = desc + ((h[1] + 3) & ~3u);
		if (next > (size_t)n || next <= at)
			break;
		if (h[2] == NT_GNU_BUILD_ID_ && h[0] == 4 && memcmp(notes + name, "GNU", 4) == 0 &&
		    h[1] > 0 && 2 * h[1] < sz) {
			for (__u32 i = 0; i < h[1]; i++)
				snprintf(hex + 2 * i, 3, "%02x", notes[desc + i]);
			return 0;
		}
		at = next;
	}
	return perr_set(err, ENOENT, "the kernel names no build ID in '%s'", NOTES_PATH);
}

int ebpf_btf_path(const char *dir, const void *obj, size_t obj_len, char *path, size_t sz,
		  struct perr *err)
{
	char id[129], digest[DIGEST_STR_LEN + 1];
	if (kernel_build_id(id, sizeof(id), err) < 0)
		return -1;
	sha256_buf(obj, obj_len, digest);
	if ((size_t)snprintf(path, sz, "%s/%s-%.16s.btf", dir, id, digest_hex(digest)) >= sz)
		return perr_set(err, ENAMETOOLONG, "'%s' is too long a directory", dir);
	return 0;
}

bool ebpf_btf_usable(const char *path)
{
	struct stat st;
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & 022) && st.st_size > 0 && st.st_size < PROJECTION_MAX;
}

int ebpf_btf_make(const struct btf *local, const char *path, struct perr *err)
{
	struct btf *kernel = btf__load_vmlinux_btf();
	if (!kernel)
		return perr_set(err, errno, "cannot read the kernel's BTF");
	struct btf *cut = NULL;
	int rc = btf_project(local, kernel, &cut, err);
	btf__free(kernel);
	if (rc < 0)
		return -1;
	__u32 len;
	const void *raw = btf__raw_data(cut, &len);
	cleanup_free char *dir = xstrdup(path);
	rc = !raw ? perr_set(err, errno, "cannot encode the projected BTF")
		  : mkdir_p(dirname(dir), 0700, err) < 0 ? -1
		  : write_bytes_atomic(path, raw, len, 0600, err);
	btf__free(cut);
	return rc;
}
