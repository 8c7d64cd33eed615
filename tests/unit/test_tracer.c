/* The tracer's pure parts: the seccomp filter's behaviour (a traced
 * syscall without a tracer fails with ENOSYS, so installing the filter in a
 * child shows exactly which calls would stop), the trace store and its
 * JSON, the image-existence check, and docker-run config resolution. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "base/resolve.h"
#include "tracer/run_plan.h"
#include "tracer/syscalls.h"
#include "tracer/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* In a child with the filter installed and no tracer, run CALL and report
 * whether it would have stopped (ENOSYS: a notification with no listener
 * fails the same way). */
enum call { C_STAT, C_FSTAT_EMPTY, C_OPEN_RDONLY, C_OPEN_PATH, C_ACCESS, C_GETPID, C_STATX_EMPTY,
	    C_HANDOVER, C_SENDMSG, C_STAT_I386 };

static int would_stop(const struct sock_fprog *prog, enum call c)
{
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* no core files from the traps below */
		signal(SIGTRAP, SIG_DFL);            /* not a sanitizer's handler */
		signal(SIGILL, SIG_DFL);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0)
			__builtin_trap();
		struct stat st;
		struct statx stx;
		long r = 0;
		switch (c) {
		case C_STAT: r = syscall(SYS_newfstatat, AT_FDCWD, "/", &st, 0); break;
		case C_FSTAT_EMPTY: r = syscall(SYS_newfstatat, 0, "", &st, AT_EMPTY_PATH); break;
		case C_OPEN_RDONLY: r = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY); break;
		case C_OPEN_PATH: r = syscall(SYS_openat, AT_FDCWD, "/", O_PATH); break;
		case C_ACCESS: r = syscall(SYS_faccessat, AT_FDCWD, "/", F_OK); break;
		case C_GETPID: r = syscall(SYS_getpid); break;
		case C_STATX_EMPTY: r = syscall(SYS_statx, 0, "", AT_EMPTY_PATH, 0, &stx); break;
		case C_HANDOVER: r = syscall(SYS_sendmsg, SC_HANDOVER_FD, NULL, SC_HANDOVER_FLAGS); break;
		case C_SENDMSG: r = syscall(SYS_sendmsg, SC_HANDOVER_FD, NULL, MSG_NOSIGNAL); break;
		case C_STAT_I386: { /* i386's stat (106) by int $0x80: its pointer must fit 32 bits */
			char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
			long ret = -EFAULT;
			if (low != MAP_FAILED) {
				strcpy(low, "/");
				__asm__ volatile("int $0x80" : "=a"(ret) : "a"(106L), "b"(low), "c"(low + 64) : "memory");
			}
			r = ret < 0 ? -1 : 0;
			errno = (int)-ret;
			break;
		}
		}
		/* Report without a syscall: with --syscalls even exit would
		 * fail. A breakpoint means "would stop", ud2 "would not". */
		if (r < 0 && errno == ENOSYS)
			__asm__ volatile("int3");
		__builtin_trap();
	}
	int st;
	waitpid(p, &st, 0);
	if (!WIFSIGNALED(st))
		return -1;
	return WTERMSIG(st) == SIGTRAP ? 1 : WTERMSIG(st) == SIGILL ? 0 : -1;
}

static void test_filter(void)
{
	struct perr err;
	struct sock_fprog both = { 0 }, pt = { 0 }, all = { 0 }, nt = { 0 }, nt_all = { 0 }, eb = { 0 };
	struct filter_opts fo_both = { .fanotify = true }, fo_pt = { 0 }, fo_all = { .all_syscalls = true },
			   fo_nt = { .notify = true }, fo_nt_all = { .notify = true, .all_syscalls = true },
			   fo_eb = { .notify = true, .ebpf = true };
	ok(sc_build_filter(&fo_both, &both, &err) == 0 && both.len > 0, "filter builds (fanotify + ptrace)");
	ok(sc_build_filter(&fo_pt, &pt, &err) == 0 && pt.len > both.len, "filter builds (ptrace alone), with more rules");
	ok(sc_build_filter(&fo_all, &all, &err) == 0, "filter builds (--syscalls)");
	/* valgrind cannot run seccomp(2): the behaviour checks need the
	 * real kernel (run-unit.sh says when valgrind is on), and so does
	 * a notify filter, which libseccomp builds only once the kernel
	 * says it has user notification. */
	if (getenv("PARE_UNDER_VALGRIND")) {
		tap_diag("skipping notify filters and filter behaviour under valgrind");
		goto out;
	}
	ok(sc_build_filter(&fo_nt, &nt, &err) == 0 && nt.len > 0, "filter builds (notify)");
	ok(sc_build_filter(&fo_nt_all, &nt_all, &err) == 0, "filter builds (notify, --syscalls)");
	ok(would_stop(&both, C_STAT) == 1, "both: stat stops");
	ok(would_stop(&both, C_ACCESS) == 1, "both: access stops");
	ok(would_stop(&both, C_FSTAT_EMPTY) == 0, "both: fstat through AT_EMPTY_PATH does not stop");
	ok(would_stop(&both, C_STATX_EMPTY) == 0, "both: statx with AT_EMPTY_PATH does not stop");
	ok(would_stop(&both, C_OPEN_RDONLY) == 0, "both: a plain open does not stop (fanotify sees it)");
	ok(would_stop(&both, C_OPEN_PATH) == 1, "both: an O_PATH open stops (fanotify cannot see it)");
	ok(would_stop(&both, C_GETPID) == 0, "both: getpid does not stop");
	ok(would_stop(&pt, C_OPEN_RDONLY) == 1, "ptrace alone: a plain open stops");
	ok(would_stop(&pt, C_FSTAT_EMPTY) == 0, "ptrace alone: fstat still does not stop");
	ok(would_stop(&all, C_GETPID) == 1, "--syscalls: getpid stops too");
	ok(would_stop(&all, C_FSTAT_EMPTY) == 1, "--syscalls: fstat stops too");
	ok(would_stop(&nt, C_STAT) == 1 && would_stop(&nt, C_OPEN_RDONLY) == 1,
	   "notify: stat and a plain open notify");
	ok(would_stop(&nt, C_FSTAT_EMPTY) == 0 && would_stop(&nt, C_GETPID) == 0,
	   "notify: fstat and getpid do not");
	ok(would_stop(&nt_all, C_GETPID) == 1 && would_stop(&nt_all, C_SENDMSG) == 1,
	   "notify --syscalls: getpid and a program's sendmsg notify");
	ok(would_stop(&nt_all, C_HANDOVER) == 0, "notify --syscalls: the listener's handover does not");
	ok(sc_build_filter(&fo_eb, &eb, &err) == 0 && eb.len > 0, "filter builds (notify beside the eBPF recorder)");
	ok(would_stop(&eb, C_STAT) == 0 && would_stop(&eb, C_OPEN_RDONLY) == 0 &&
		   would_stop(&eb, C_ACCESS) == 0 && would_stop(&eb, C_OPEN_PATH) == 0,
	   "notify beside eBPF: x86_64 stat, open, access do not notify (the eBPF recorder reads them)");
	ok(would_stop(&eb, C_HANDOVER) == 0 && would_stop(&eb, C_GETPID) == 0, "... nor getpid");
	if (would_stop(&nt, C_STAT_I386) == 1)
		ok(would_stop(&eb, C_STAT_I386) == 1,
		   "notify beside eBPF: an i386 stat (int $0x80) still notifies, as with notify alone");
	else
		tap_diag("this kernel runs no 32-bit calls: the i386 rows are not checked");
out:
	free(both.filter);
	free(pt.filter);
	free(all.filter);
	free(nt.filter);
	free(nt_all.filter);
	free(eb.filter);
	bool rows_ok = true;
	for (size_t i = 0; i < sc_table_len; i++) {
		const struct sc_row *r = &sc_table[i];
		rows_ok &= r->p[0].path >= 0 || r->kind == SC_FD;
		rows_ok &= !sc_row_ebpf(r) || (r->p[1].path < 0 && r->p[1].dirfd < 0);
		rows_ok &= (r->kind != SC_OPEN && r->kind != SC_EMPTY_PATH && r->kind != SC_OPENAT2) ||
			   r->flags >= 0;
	}
	ok(rows_ok, "every table row names its path and, where needed, its flags argument");
	const struct sc_row *r64 = sc_row_of(0xc000003e, SYS_newfstatat), *r32 = sc_row_of(0x40000003, 107),
			    *rx32 = sc_row_of(0xc000003e, 0x40000000 | 4);
	ok(r64 && !strcmp(r64->name, "newfstatat") && r32 && !strcmp(r32->name, "lstat") && rx32 &&
		   !strcmp(rx32->name, "stat"),
	   "a notification's row comes from its syscall number, per architecture (x86_64, i386, x32)");
	ok(!sc_row_of(0xc000003e, SYS_getpid) && !sc_row_of(0xc000003e, 99999) && !sc_row_of(0x12345, 4),
	   "no row for a call without a path, an unknown number or architecture");
	char *name = sc_name(SYS_newfstatat, 0xc000003e);
	ok(name && !strcmp(name, "newfstatat"), "syscall names come from libseccomp");
	free(name);
}

static void test_store(const char *tmp)
{
	struct trace t;
	trace_init(&t);
	uint32_t py = trace_exe(&t, "/usr/bin/python3"), sh = trace_exe(&t, "/bin/sh");
	ok(trace_exe(&t, "/usr/bin/python3") == py && py != sh, "executables are interned");
	for (int i = 0; i < 3000; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/many/%d", i);
		trace_add(&t, p, OP_STAT, py, SRC_PTRACE);
	}
	trace_add(&t, "/many/7", OP_OPEN_READ, sh, SRC_FANOTIFY);
	trace_add(&t, "/many/7", OP_STAT, py, SRC_PTRACE);
	ok(t.n == 3000, "3000 distinct paths, duplicates merged");
	struct trace_entry *e = NULL;
	for (size_t i = 0; i < t.n; i++)
		if (!strcmp(t.e[i].path, "/many/7"))
			e = &t.e[i];
	ok(e && e->ops == ((1u << OP_STAT) | (1u << OP_OPEN_READ)) && e->n_by == 2 &&
		   e->sources == (SRC_PTRACE | SRC_FANOTIFY),
	   "ops, executables and sources accumulate per path");
	trace_free(&t);

	/* exists/type against a real tree, resolved in-root. */
	char root[4096];
	snprintf(root, sizeof(root), "%s/root", tmp);
	mkdir(root, 0755);
	char p[4200];
	snprintf(p, sizeof(p), "%s/usr", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/usr/lib", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/usr/lib/libc.so", root);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	snprintf(p, sizeof(p), "%s/lib", root);
	(void)!symlink("usr/lib", p);
	snprintf(p, sizeof(p), "%s/escape", root);
	(void)!symlink("/../../../../etc", p);
	trace_init(&t);
	const char *paths[] = { "/lib/libc.so", "/lib", "/usr/lib", "/nope", "/escape/passwd", "/" };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		trace_add(&t, paths[i], OP_STAT, UINT32_MAX, SRC_PTRACE);
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	trace_check_image(&t, rootfd);
	close(rootfd);
	ok(t.e[0].exists && t.e[0].type == 'f', "a file through a directory symlink exists");
	ok(t.e[1].exists && t.e[1].type == 'l', "a symlink itself is a symlink (not followed)");
	ok(t.e[2].exists && t.e[2].type == 'd', "a directory is a directory");
	ok(!t.e[3].exists, "a missing path does not exist");
	ok(!t.e[4].exists, "an escaping symlink stays in the root (no host /etc/passwd)");
	ok(t.e[5].exists && t.e[5].type == 'd', "the root exists");
	struct trace_meta m = { .image = "img", .tracers = { "ptrace", NULL }, .have_status = true,
				.status = 3 << 8 };
	char *js = trace_to_json(&t, &m);
	json_error_t je;
	json_t *j = json_loads(js, 0, &je);
	json_t *arr = json_object_get(j, "paths");
	bool sorted = json_array_size(arr) == 6;
	for (size_t i = 1; i < json_array_size(arr); i++)
		sorted &= strcmp(json_string_value(json_object_get(json_array_get(arr, i - 1), "path")),
				 json_string_value(json_object_get(json_array_get(arr, i), "path"))) < 0;
	ok(sorted, "JSON paths are sorted");
	ok(json_integer_value(json_object_get(json_object_get(j, "exit"), "code")) == 3,
	   "exit code in the JSON");
	ok(!json_object_get(j, "syscalls"), "no syscalls list unless asked");
	json_decref(j);
	free(js);
	trace_free(&t);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	(void)!write(fd, text, strlen(text));
	close(fd);
}

static bool argv_is(const struct run_plan *p, const char *joined)
{
	char buf[1024] = "";
	for (size_t i = 0; i < p->argv.n; i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, p->argv.v[i]);
	}
	return !strcmp(buf, joined);
}

static bool env_has(const struct run_plan *p, const char *kv)
{
	for (size_t i = 0; i < p->env.n; i++)
		if (!strcmp(p->env.v[i], kv))
			return true;
	return false;
}

static void test_config(const char *tmp)
{
	char root[4096], etc[4200];
	snprintf(root, sizeof(root), "%s/cfg", tmp);
	snprintf(etc, sizeof(etc), "%s/etc", root);
	mkdir(root, 0755);
	mkdir(etc, 0755);
	write_file(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nredis:x:999:998::/var/lib/redis:/usr/sbin/nologin\nbad line\n");
	write_file(root, "etc/group", "root:x:0:\nredis:x:998:\nextra:x:1500:redis,other\nadm:x:4:other\n");
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct image_config c = { 0 };
	strv_push(&c.entrypoint, xstrdup("python3"));
	strv_push(&c.cmd, xstrdup("-c"));
	strv_push(&c.cmd, xstrdup("pass"));
	strv_push(&c.env, xstrdup("A=1"));
	struct run_plan p;
	struct perr err;
	struct run_overrides o = { .hostname = "h" };
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && argv_is(&p, "python3 -c pass") &&
		   p.uid == 0 && !strcmp(p.cwd, "/") && p.stop_signal == SIGTERM,
	   "entrypoint + cmd, root, / and SIGTERM by default");
	ok(env_has(&p, "A=1") && env_has(&p, "HOSTNAME=h") && env_has(&p, "HOME=/root") &&
		   env_has(&p, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
	   "env: the image's, HOSTNAME, HOME from passwd, docker's default PATH");
	run_plan_free(&p);
	char *cmd[] = { "x", "y" };
	o.cmd = cmd;
	o.ncmd = 2;
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && argv_is(&p, "python3 x y"),
	   "a command replaces cmd, keeps the entrypoint");
	run_plan_free(&p);
	o.ncmd = 0;
	o.entrypoint = "sh";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && argv_is(&p, "sh"),
	   "a new entrypoint drops the image's cmd (docker)");
	run_plan_free(&p);
	o.entrypoint = NULL;
	o.user = "redis";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && p.uid == 999 && p.gid == 998 &&
		   p.ngroups == 1 && p.groups[0] == 1500 && env_has(&p, "HOME=/var/lib/redis"),
	   "user by name: uid, gid, supplementary groups, home");
	run_plan_free(&p);
	o.user = "redis:adm";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && p.uid == 999 && p.gid == 4,
	   "name:group");
	run_plan_free(&p);
	o.user = "4242:77";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && p.uid == 4242 && p.gid == 77 &&
		   env_has(&p, "HOME=/"),
	   "uid:gid not in passwd, HOME /");
	run_plan_free(&p);
	o.user = "ghost";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) < 0 && strstr(err.msg, "ghost"),
	   "an unknown user name is an error naming it");
	o.user = "redis:nogroup";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) < 0 && strstr(err.msg, "nogroup"),
	   "an unknown group name is an error naming it");
	o.user = NULL;
	o.workdir = "relative";
	ok(run_plan_build(rootfd, &c, &o, &p, &err) < 0, "a relative workdir is refused");
	o.workdir = NULL;
	char *env[] = { "A=2", "B=3" };
	o.env = env;
	o.nenv = 2;
	c.stop_signal = xstrdup("SIGQUIT");
	ok(run_plan_build(rootfd, &c, &o, &p, &err) == 0 && env_has(&p, "A=2") && env_has(&p, "B=3") &&
		   !env_has(&p, "A=1") && p.stop_signal == SIGQUIT,
	   "-e overrides the image's env; StopSignal honoured");
	run_plan_free(&p);
	free(c.stop_signal);
	c.stop_signal = xstrdup("SIGNOPE");
	ok(run_plan_build(rootfd, &c, &o, &p, &err) < 0, "an unknown StopSignal is an error");
	free(c.stop_signal);
	c.stop_signal = NULL;
	strv_free(&c.entrypoint);
	strv_free(&c.cmd);
	o.nenv = 0;
	ok(run_plan_build(rootfd, &c, &o, &p, &err) < 0 && strstr(err.msg, "no entrypoint"),
	   "no entrypoint and no cmd is an error");
	strv_free(&c.env);
	close(rootfd);
	ok(parse_signal("TERM") == SIGTERM && parse_signal("sigkill") == SIGKILL &&
		   parse_signal("3") == 3 && parse_signal("0") < 0 && parse_signal("x") < 0,
	   "signal names and numbers");
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ok(image_has_path(rfd, "/etc/passwd") && !image_has_path(rfd, "/bin/sh"),
	   "image_has_path looks inside the root");
	close(rfd);
}

int main(void)
{
	char *tmp = test_tempdir();
	test_filter();
	test_store(tmp);
	test_config(tmp);
	/* Again through the userspace resolver (kernels without openat2). */
	resolve_no_openat2 = true;
	tap_diag("config again without openat2");
	test_config(tmp);
	resolve_no_openat2 = false;
	rm_rf(tmp);
	free(tmp);
	return tap_done();
}
