/* Golden-test helper, built static and copied into a test image: touches
 * known paths under /data in known ways, from the main thread, another
 * thread, a forked child, a double-forked daemon, after chdir, through a
 * dirfd, and through execs (plain, #! script, vfork, from a non-leader
 * thread). tests/golden/expected lists what the trace must hold. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void xstat(const char *p)
{
	struct stat st;
	stat(p, &st);
}

static void xopen(const char *p, int flags)
{
	int fd = open(p, flags | O_CLOEXEC, 0644);
	if (fd >= 0) {
		struct stat st;
		fstat(fd, &st); /* AT_EMPTY_PATH: must add nothing */
		close(fd);
	}
}

static void main_thread(void)
{
	char buf[256];
	struct stat st;
	struct statx stx;
	xopen("/data/r.txt", O_RDONLY);
	xstat("/data/s.txt");
	lstat("/data/link", &st);
	readlink("/data/link", buf, sizeof(buf));
	access("/data/a.txt", R_OK);
	xopen("/data/w.txt", O_WRONLY);
	statx(AT_FDCWD, "/data/x.txt", 0, STATX_BASIC_STATS, &stx);
	xopen("/data/p.txt", O_PATH);
	xstat("/data/missing");
	DIR *d = opendir("/data/dir");
	if (d) {
		while (readdir(d))
			;
		closedir(d);
	}
	if (chdir("/data/sub") == 0) {
		xstat("rel.txt");
		xstat("../up.txt");
		xstat("./dot/../dd.txt");
	}
	int dfd = open("/data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fstatat(dfd, "dirfd.txt", &st, 0);
		int fd = openat(dfd, "dirfd-open.txt", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		close(dfd);
	}
}

static void *thread_fn(void *arg)
{
	(void)arg;
	xstat("/data/t-stat.txt");
	xopen("/data/t-open.txt", O_RDONLY);
	return NULL;
}

static void run_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, thread_fn, NULL) == 0)
		pthread_join(t, NULL);
}

static void run_fork(void)
{
	pid_t p = fork();
	if (p == 0) {
		xstat("/data/f-stat.txt");
		xopen("/data/f-open.txt", O_RDONLY);
		_exit(0);
	}
	waitpid(p, NULL, 0);
}

/* A classic daemon: fork, setsid, fork again; the grandchild outlives its
 * parent and reports back through a pipe when it is done. */
static void run_daemon(void)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return;
	pid_t p = fork();
	if (p == 0) {
		setsid();
		if (fork() == 0) {
			usleep(20000); /* its parent is gone by now: reparented */
			xstat("/data/d-stat.txt");
			xopen("/data/d-open.txt", O_RDONLY);
			(void)!write(pfd[1], "x", 1);
			_exit(0);
		}
		_exit(0);
	}
	close(pfd[1]);
	waitpid(p, NULL, 0);
	char c;
	(void)!read(pfd[0], &c, 1);
	close(pfd[0]);
}

static void run_exec(char *const argv[])
{
	pid_t p = fork();
	if (p == 0) {
		execve(argv[0], argv, environ);
		_exit(127);
	}
	waitpid(p, NULL, 0);
}

static void run_spawn(void)
{
	char *argv[] = { "/golden", "leaf-spawn", NULL };
	pid_t p;
	if (posix_spawn(&p, "/golden", NULL, NULL, argv, environ) == 0)
		waitpid(p, NULL, 0);
}

static void *exec_thread(void *arg)
{
	(void)arg;
	char *argv[] = { "/golden", "leaf-nonleader", NULL };
	execve("/golden", argv, environ);
	return NULL;
}

/* exec from a thread that is not the thread-group leader. */
static void run_nonleader_exec(void)
{
	pid_t p = fork();
	if (p == 0) {
		pthread_t t;
		pthread_create(&t, NULL, exec_thread, NULL);
		pause();
		_exit(1);
	}
	waitpid(p, NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strncmp(argv[1], "leaf-", 5)) { /* leaf-NAME [#! script] */
		char p[256];
		snprintf(p, sizeof(p), "/data/%s.txt", argv[1]);
		xstat(p);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "stat-loop")) { /* for the stop-cost benchmark */
		for (long i = atol(argv[2]); i > 0; i--)
			xstat("/data/s.txt");
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "fresh-page-stat")) {
		/* The path lies in a page of a file mapping nothing has touched
		 * yet: a recorder that reads it before the kernel does (at
		 * syscall entry, without faulting) sees EFAULT. */
		int fd = open("/data/fresh-path", O_RDONLY | O_CLOEXEC);
		char *p = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
		struct stat st;
		return p != MAP_FAILED && stat(p, &st) == 0 ? 0 : 1;
	}
#ifdef __x86_64__
	if (argc == 2 && !strcmp(argv[1], "i386-stat")) {
		/* A 32-bit call from a 64-bit process (int $0x80, i386's stat,
		 * number 106): it must be seen whatever records the 64-bit
		 * calls. Static and not PIE, so both pointers fit 32 bits.
		 * Exit 3 where the kernel runs no 32-bit calls. */
		static const char path[] = "/data/i386.txt";
		static char st32[256];
		long ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(106L), "b"(path), "c"(st32) : "memory");
		return ret == -38 /* ENOSYS */ ? 3 : 0;
	}
#endif
	if (argc != 1)
		return 2; /* never recurse into the scenarios by mistake */
	main_thread();
	run_thread();
	run_fork();
	run_daemon();
	char *plain[] = { "/golden", "leaf-exec", NULL };
	run_exec(plain);
	char *script[] = { "/data/script.sh", NULL };
	run_exec(script);
	run_spawn();
	run_nonleader_exec();
	return 0;
}
