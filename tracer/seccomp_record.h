/* A Docker seccomp profile from a traced run: every syscall the probed
 * programs made (recorded with --syscalls) plus the ones the container
 * runtime makes after installing the filter and before the program runs;
 * everything else fails with EPERM, but clone3, which answers ENOSYS as
 * in Docker's default (libc then falls back to clone). Names are sorted so
 * profiles diff cleanly. */
#ifndef PARE_SECCOMP_RECORD_H
#define PARE_SECCOMP_RECORD_H

#include "tracer/trace.h"

/* Docker's JSON; NULL when no syscall was recorded. Caller frees. */
char *seccomp_profile_json(const struct trace *t);
/* Write it to FILE through a temporary name. */
int seccomp_profile_write(const struct trace *t, const char *file, struct perr *err);

#endif
