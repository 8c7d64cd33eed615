/* Node's module resolution, read statically (jsresolve.c): what
 * require(SPEC) from FILE loads in the image. */
#ifndef PARE_JSRESOLVE_H
#define PARE_JSRESOLVE_H

#include "base/util.h"

/* The files require(SPEC) from FILE (physical, relative) loads, with the
 * package.json files Node reads on the way, into OUT (relative). Built-in
 * modules ("fs", "node:fs") load nothing. */
void js_resolve(int rootfd, const char *file, const char *spec, struct strv *out);

#endif
