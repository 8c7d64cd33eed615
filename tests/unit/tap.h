/* A tiny TAP producer (as in crun's tests): "ok N - name". */
#ifndef PARE_TAP_H
#define PARE_TAP_H
#include <stdbool.h>
void tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ok() that GOT (malloc'd, freed here) equals WANT, named WHAT. */
void ok_str(char *got, const char *want, const char *what);
int tap_done(void); /* prints the plan; exit status: 0 when all passed */
#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#endif
