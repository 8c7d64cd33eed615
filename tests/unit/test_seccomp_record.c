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
#include <string.h>
#include <sys/syscall.h>

static long call_getppid(void) { return syscall(SYS_getppid); }
static long call_add_key(void) { return syscall(SYS_add_key, 0, 0, 0, 0, 0); }
static long call_clone3(void) { return syscall(SYS_clone3, NULL, 0); }

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
		ok(errno_under_filter(&prog, call_getppid) == 0, "a recorded call passes");
		ok(errno_under_filter(&prog, call_add_key) == EPERM, "an unrecorded one is EPERM");
		ok(errno_under_filter(&prog, call_clone3) == ENOSYS, "clone3 is ENOSYS");
	}
	free(prog.filter);
	free(text);
	trace_free(&t);
	return tap_done();
}
