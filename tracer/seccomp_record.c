#define _GNU_SOURCE
#include "tracer/seccomp_record.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "tracer/syscalls.h"

/* What runc (a Go program; it checks the binary with faccessat2 and the
 * working directory with getcwd) and the
 * dynamic loader may call between the
 * filter's installation and the program's first instruction, and what
 * every exit path needs. Docker applies the profile to that window too. */
static const char *const runtime_syscalls[] = {
	"access", "arch_prctl", "brk", "capget", "capset", "chdir", "close", "close_range", "epoll_ctl",
	"epoll_pwait", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
	"fchdir", "fcntl", "fstat",
	"fstatfs", "futex", "getcwd", "getdents64", "getegid", "geteuid", "getgid", "getpid",
	"getppid",
	"getrandom", "gettid", "getuid", "madvise", "mmap", "mprotect", "munmap", "nanosleep",
	"newfstatat", "openat", "pread64", "prctl", "prlimit64", "read", "readlinkat", "rseq",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_getaffinity", "sched_yield",
	"set_robust_list", "set_tid_address", "setgid", "setgroups", "setresgid", "setresuid",
	"setuid", "sigaltstack", "statx", "tgkill", "write",
};

char *seccomp_profile_json(const struct trace *t)
{
	if (!t->n_sys)
		return NULL;
	struct strset seen = { 0 };
	struct strv names = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(runtime_syscalls); i++)
		if (strset_add(&seen, runtime_syscalls[i]))
			strv_push(&names, xstrdup(runtime_syscalls[i]));
	for (size_t i = 0; i < t->n_sys; i++) {
		char *name = sc_name(t->sys[i].nr, t->sys[i].arch);
		if (name && strset_add(&seen, name))
			strv_push(&names, name);
		else
			free(name);
	}
	strv_sort(&names);
	json_t *list = json_array();
	for (size_t i = 0; i < names.n; i++)
		json_array_append_new(list, json_string(names.v[i]));
	json_t *j = json_pack("{s:s,s:i,s:[sss],s:[{s:o,s:s}]}", "defaultAction", "SCMP_ACT_ERRNO",
			      "defaultErrnoRet", EPERM, "architectures", "SCMP_ARCH_X86_64",
			      "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls", "names", list, "action",
			      "SCMP_ACT_ALLOW");
	/* Under Docker's default policy (pare's sandbox too) clone3 answers
	 * ENOSYS and libc falls back to clone, so a run rarely shows clone3.
	 * It must answer ENOSYS under this profile as well: EPERM makes libc
	 * give up instead (no threads, no fork). */
	if (!strset_has(&seen, "clone3"))
		json_array_append_new(json_object_get(j, "syscalls"),
				      json_pack("{s:[s],s:s,s:i}", "names", "clone3", "action",
						"SCMP_ACT_ERRNO", "errnoRet", ENOSYS));
	char *s = json_dumps(j, JSON_INDENT(1));
	json_decref(j);
	strv_free(&names);
	strset_free(&seen);
	return s;
}

int seccomp_profile_write(const struct trace *t, const char *file, struct perr *err)
{
	cleanup_free char *json = seccomp_profile_json(t);
	if (!json)
		return perr_set(err, 0, "no syscalls were recorded for the seccomp profile");
	return write_file_atomic(file, json, err);
}
