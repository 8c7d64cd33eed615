/* JavaScript module references found by reading the source (jsscan.c):
 * require('x'), import ... from 'x', import 'x', export ... from 'x' and
 * import('x'), with literal names; strings, template literals, comments
 * and regular expression literals skipped as a JavaScript tokenizer does.
 * Each says whether it sits inside braces (a function body or a block:
 * it may never run when the module loads). */
#ifndef PARE_JSSCAN_H
#define PARE_JSSCAN_H

#include <stdbool.h>
#include <stddef.h>

struct js_ref {
	char *spec;        /* './lib/x', 'pkg', '@scope/pkg/sub', 'node:fs' */
	bool nested;       /* inside braces */
	unsigned line;
};

struct js_scan {
	struct js_ref *v;
	size_t n;
	unsigned *computed; /* lines of require(expr) / import(expr) */
	size_t n_computed;
};

void js_scan(const char *text, size_t len, struct js_scan *out);
void js_scan_free(struct js_scan *s);

#endif
