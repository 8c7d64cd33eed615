/* Seccomp profiles written from a recorded run: the recorded syscalls plus
 * the runtime's, sorted; clone3 answering ENOSYS as in Docker's default;
 * and the round trip: pare's own policy compiler takes the profile, and
 * in a child the calls get what the profile says. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "tracer/seccomp_policy.h"
#include "tracer/seccomp_record.h"

#include <errno.h>
#include <jansson.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int errno_of(const struct sock_fprog *prog, long nr)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0)
			_exit(255);
		long r = nr == SYS_clone3 ? syscall(nr, NULL, 0) : syscall(nr, 0, 0, 0, 0, 0);
		_exit(r < 0 ? (errno & 0x7f) : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) != 255 ? WEXITSTATUS(st) : -1;
}

int main(void)
{
	struct trace t;
	trace_init(&t);
	ok(seccomp_profile_json(&t) == NULL, "no syscalls recorded: no profile");
	trace_add_syscall(&t, SYS_getpid, AUDIT_ARCH_X86_64, UINT32_MAX);
	trace_add_syscall(&t, SYS_getppid, AUDIT_ARCH_X86_64, UINT32_MAX);
	char *text = seccomp_profile_json(&t);
	json_error_t jerr;
	json_t *j = text ? json_loads(text, 0, &jerr) : NULL;
	json_t *names = json_object_get(json_array_get(json_object_get(j, "syscalls"), 0), "names");
	bool sorted = json_array_size(names) > 10, has_pid = false, has_exec = false;
	for (size_t i = 0; i < json_array_size(names); i++) {
		const char *n = json_string_value(json_array_get(names, i));
		if (i && strcmp(json_string_value(json_array_get(names, i - 1)), n) >= 0)
			sorted = false;
		has_pid |= !strcmp(n, "getpid");
		has_exec |= !strcmp(n, "execve");
	}
	ok(sorted && has_pid && has_exec, "the recorded syscalls and the runtime's, sorted, once each");
	ok(!strcmp(json_string_value(json_object_get(j, "defaultAction")), "SCMP_ACT_ERRNO"),
	   "everything else is denied");
	json_t *c3 = json_array_get(json_object_get(j, "syscalls"), 1);
	ok(c3 && json_integer_value(json_object_get(c3, "errnoRet")) == ENOSYS &&
		   !strcmp(json_string_value(json_array_get(json_object_get(c3, "names"), 0)), "clone3"),
	   "clone3 answers ENOSYS (libc falls back to clone)");
	json_decref(j);

	struct sock_fprog prog = { 0 };
	struct perr err;
	ok(text && seccomp_policy_compile(text, strlen(text), "recorded", 0, &prog, &err) == 0,
	   "pare's own policy compiler takes it");
	if (getenv("PARE_UNDER_VALGRIND")) {
		tap_diag("skipping filter behaviour under valgrind");
	} else {
		ok(errno_of(&prog, SYS_getppid) == 0, "a recorded call passes");
		ok(errno_of(&prog, SYS_add_key) == EPERM, "an unrecorded one is EPERM");
		ok(errno_of(&prog, SYS_clone3) == ENOSYS, "clone3 is ENOSYS");
	}
	free(prog.filter);
	free(text);
	trace_free(&t);
	return tap_done();
}
