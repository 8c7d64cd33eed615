/* What the eBPF recorder's kernel half (record.bpf.c) and pare's half
 * (record_ebpf.c) share: the per-syscall rows pare fills from the syscall
 * table, and the events the ring buffer carries. */
#ifndef PARE_BPF_EVENT_H
#define PARE_BPF_EVENT_H

#define EBPF_RING_BYTES (8 << 20)
#define EBPF_NR_MAX 512      /* x86_64 syscall numbers the rows cover */
#define EBPF_PATH_MAX 4096   /* PATH_MAX, the path argument with its NUL */
#define EBPF_BUF 8192        /* power of two: offsets into it are masked */
#define EBPF_NAME_MAX 256    /* NAME_MAX + 1 */
#define EBPF_MAX_DEPTH 128   /* components of a walked path, mounts crossed included */

/* How the recorder reads one syscall's arguments (x86_64 numbering). */
enum ebpf_kind { EBPF_OFF, EBPF_PLAIN, EBPF_EMPTY_PATH, EBPF_FD };

struct ebpf_row {
	__u8 kind;    /* enum ebpf_kind; EBPF_OFF: seccomp notification has it */
	__s8 path;    /* argument index of the path, -1 = none (EBPF_FD) */
	__s8 dirfd;   /* argument index of the dirfd, -1 = the cwd */
	__s8 flags;   /* argument index of the flags (AT_EMPTY_PATH), -1 = none */
};

enum ebpf_type {
	EBPF_CALL, /* a path-taking call: nr, args, the path, its base directory */
	EBPF_EXE,  /* the executable TGID runs from now on: its path in BASE */
};

/* Status bits. */
#define EBPF_PATH_FAULT 1 /* the path argument could not be read */
#define EBPF_TRUNCATED 2  /* the base is deeper or longer than the walk goes */
#define EBPF_OUTSIDE 4    /* the base is outside the task's root */
#define EBPF_NO_BASE 8    /* the dirfd is no open file */

struct ebpf_event {
	__u32 tgid;      /* as pare's (the initial) pid namespace sees it */
	__u32 type;      /* enum ebpf_type */
	__u32 nr;
	__u32 status;
	__u64 args[6];
	__u32 path_len;  /* bytes of the path in buf, its NUL included; 0 = none */
	__u32 base_len;  /* bytes of the base after it; 0 = none (absolute path) */
	/* The path, then the base directory's components leaf first, each
	 * NUL-terminated: "x.py\0" "lib\0usr\0" for x.py in /usr/lib. */
	char buf[EBPF_BUF + EBPF_NAME_MAX];
};

#endif
