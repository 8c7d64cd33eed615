/* breakout CASE [ARGS]: hostile code for the sandbox breakout suite
 * (tests/e2e/breakout.sh), run inside the sandbox as the image's program.
 * Each case tries one way out and prints one line:
 *   "held: ..."    the sandbox refused (exit 0)
 *   "ESCAPED: ..." it got through (exit 3)
 * Static, no libc beyond syscalls' wrappers: it needs nothing from the
 * image. The cases only probe: a write attempt opens for writing and
 * closes, a sysctl gets its own value back, a fork bomb and a memory hog
 * stop at a ceiling the test chooses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int held(const char *what, int e)
{
	printf("held: %s: %s\n", what, strerror(e));
	return 0;
}

static int escaped(const char *what)
{
	printf("ESCAPED: %s\n", what);
	return 3;
}

/* blockdev MAJ MIN MARKER: make a block node, read it, look for MARKER. */
static int blockdev(char **a)
{
	dev_t d = makedev(atoi(a[0]), atoi(a[1]));
	unlink("/tmp/pare-b");
	if (mknod("/tmp/pare-b", S_IFBLK | 0600, d) < 0)
		return held("mknod of a block device", errno);
	int fd = open("/tmp/pare-b", O_RDONLY);
	if (fd < 0)
		return held("open of a block device made in the sandbox", errno);
	static char buf[1 << 16];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n > 0 && memmem(buf, (size_t)n, a[2], strlen(a[2])))
		return escaped("read the host's block device (the marker is there)");
	return escaped("opened a host block device");
}

/* chardev MARKER: make /dev/kmsg's node and write MARKER to the host's
 * kernel log. */
static int chardev(char **a)
{
	unlink("/tmp/pare-c");
	if (mknod("/tmp/pare-c", S_IFCHR | 0600, makedev(1, 11)) < 0)
		return held("mknod of a char device", errno);
	int fd = open("/tmp/pare-c", O_WRONLY);
	if (fd < 0)
		return held("open of a char device made in the sandbox", errno);
	char line[256];
	int len = snprintf(line, sizeof(line), "pare-breakout %s\n", a[0]);
	ssize_t n = write(fd, line, (size_t)len);
	close(fd);
	return n > 0 ? escaped("wrote to the host's kernel log through a made /dev/kmsg")
		     : escaped("opened a char device made in the sandbox");
}

static int do_mount(char **a)
{
	(void)a;
	if (mount("none", "/tmp", "tmpfs", 0, NULL) == 0)
		return escaped("mounted a tmpfs");
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return held("mount, and the user namespace that would allow it", errno);
	if (mount("none", "/tmp", "tmpfs", 0, NULL) == 0)
		return escaped("mounted a tmpfs in a new user namespace");
	return held("mount in a new user namespace", errno);
}

static int do_unshare(char **a)
{
	(void)a;
	if (unshare(CLONE_NEWUSER) == 0)
		return escaped("made a user namespace");
	return held("unshare(CLONE_NEWUSER)", errno);
}

static int keyring(char **a)
{
	(void)a;
	long id = syscall(SYS_add_key, "user", "pare-breakout", "x", 1, KEY_SPEC_PROCESS_KEYRING);
	if (id >= 0)
		return escaped("added a key to a kernel keyring");
	return held("add_key", errno);
}

/* bpf with a command no kernel has: EINVAL means the call reached the
 * kernel's bpf code (the attack surface Docker's policy closes). */
static int do_bpf(char **a)
{
	(void)a;
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	if (syscall(SYS_bpf, 9999, &attr, sizeof(attr)) == 0 || errno != EPERM)
		return escaped("the bpf syscall reached the kernel");
	return held("bpf", errno);
}

static int perf(char **a)
{
	(void)a;
	struct perf_event_attr pe;
	memset(&pe, 0, sizeof(pe));
	pe.size = sizeof(pe);
	pe.type = PERF_TYPE_SOFTWARE;
	pe.config = PERF_COUNT_SW_TASK_CLOCK;
	pe.exclude_kernel = 1;
	long fd = syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
	if (fd >= 0)
		return escaped("opened a perf event");
	return held("perf_event_open", errno);
}

/* The "shocker" escape: a file handle for the root, opened by handle. */
static int by_handle(char **a)
{
	(void)a;
	struct { struct file_handle h; unsigned char bytes[128]; } fh;
	int mount_id;
	/* tmpfs gives handles where the overlay root may not */
	static const char *const paths[] = { "/", "/dev/shm", "/dev" };
	int r = -1;
	for (size_t i = 0; r < 0 && i < sizeof(paths) / sizeof(paths[0]); i++) {
		fh.h.handle_bytes = sizeof(fh.bytes);
		r = name_to_handle_at(AT_FDCWD, paths[i], &fh.h, &mount_id, 0);
	}
	if (r < 0)
		return held("name_to_handle_at", errno);
	int fd = open_by_handle_at(AT_FDCWD, &fh.h, O_RDONLY);
	if (fd >= 0)
		return escaped("opened a file by handle");
	return held("open_by_handle_at", errno);
}

/* ptrace PID: attach to a process outside (the host's pid), then to our
 * pid 1 (pare's init, with more privileges than the program). */
static int do_ptrace(char **a)
{
	pid_t targets[] = { (pid_t)atoi(a[0]), 1 };
	for (size_t i = 0; i < 2; i++)
		if (ptrace(PTRACE_ATTACH, targets[i], 0, 0) == 0)
			return escaped(i ? "attached to the sandbox's pid 1" : "attached to a host process");
	return held("ptrace of a process outside and of pid 1", errno);
}

/* writable PATH: it opens for writing (nothing is written). */
static int writable(char **a)
{
	int fd = open(a[0], O_WRONLY);
	if (fd >= 0) {
		close(fd);
		return escaped("opened for writing");
	}
	return held(a[0], errno);
}

/* sysctl PATH: write the value back that is there (a real write, no change). */
static int sysctl(char **a)
{
	char buf[256];
	int fd = open(a[0], O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return held("reading it", errno);
	fd = open(a[0], O_WRONLY);
	if (fd < 0)
		return held(a[0], errno);
	ssize_t w = write(fd, buf, (size_t)n);
	int e = errno;
	close(fd);
	return w == n ? escaped("wrote a host sysctl") : held(a[0], e);
}

/* readable PATH: a file yields bytes, a directory entries. */
static int readable(char **a)
{
	struct stat st;
	if (stat(a[0], &st) < 0)
		return held(a[0], errno);
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(a[0]);
		int n = 0;
		struct dirent *e;
		while (d && (e = readdir(d)))
			n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		if (d)
			closedir(d);
		return n ? escaped("listed a masked directory") : held("an empty directory", 0);
	}
	int fd = open(a[0], O_RDONLY);
	if (fd < 0)
		return held(a[0], errno);
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	return n > 0 ? escaped("read a masked file") : held("read gives nothing", n < 0 ? e : 0);
}

/* forkbomb N: children that wait, until N or fork fails. */
static int forkbomb(char **a)
{
	int want = atoi(a[0]), made = 0;
	pid_t *kids = calloc((size_t)want + 1, sizeof(*kids));
	for (; kids && made < want; made++) {
		pid_t p = fork();
		if (p < 0)
			break;
		if (p == 0) {
			pause();
			_exit(0);
		}
		kids[made] = p;
	}
	int e = errno;
	printf("made %d processes\n", made);
	for (int i = 0; i < made; i++) /* nothing outlives the case */
		kill(kids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	return made >= want ? escaped("fork bomb reached its ceiling") : held("fork", e);
}

/* memhog MB: touch MB megabytes, 16 at a time. */
static int memhog(char **a)
{
	long want = atol(a[0]), got = 0;
	for (; got < want; got += 16) {
		char *p = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return held("mmap", errno);
		memset(p, 1, 16 << 20);
	}
	printf("touched %ld MB\n", got);
	return escaped("the memory hog got all it asked for");
}

/* show PATH: not a case; prints a file, for looking around. */
static int show(char **a)
{
	char buf[65536];
	int fd = open(a[0], O_RDONLY);
	ssize_t n;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	return fd < 0 ? 1 : 0;
}

static const struct { const char *name; int nargs; int (*run)(char **); } cases[] = {
	{ "show", 1, show },
	{ "blockdev", 3, blockdev }, { "chardev", 1, chardev },   { "mount", 0, do_mount },
	{ "unshare", 0, do_unshare }, { "keyctl", 0, keyring },   { "bpf", 0, do_bpf },
	{ "perf", 0, perf },          { "by-handle", 0, by_handle }, { "ptrace", 1, do_ptrace },
	{ "writable", 1, writable },  { "sysctl", 1, sysctl },    { "readable", 1, readable },
	{ "forkbomb", 1, forkbomb },  { "memhog", 1, memhog },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc > 1 && i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name) && argc == 2 + cases[i].nargs)
			return cases[i].run(argv + 2);
	fprintf(stderr, "usage: breakout CASE [ARGS]\n");
	return 2;
}
