/* Seccomp policies in Docker's profile format (moby/profiles/seccomp):
 * parsed into typed structs at the edge, then compiled with libseccomp the
 * way moby and runc do it. The built-in one is moby's default profile
 * (tracer/seccomp/docker-default.json, compiled in). */
#ifndef PARE_SECCOMP_POLICY_H
#define PARE_SECCOMP_POLICY_H

#include <linux/filter.h>
#include <stdint.h>

#include "base/util.h"

/* Compile the profile TEXT (NAME names it in errors) for a process whose
 * capability set is CAPS (a bit per capability): rules whose includes or
 * excludes name capabilities, architectures or kernel versions are kept or
 * skipped as moby does. Caller frees prog->filter. */
int seccomp_policy_compile(const char *text, size_t len, const char *name, uint64_t caps,
			   struct sock_fprog *prog, struct perr *err);

/* moby's default profile, NUL-terminated. */
extern const char seccomp_docker_default[];
extern const size_t seccomp_docker_default_len;

#endif
