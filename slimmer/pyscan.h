/* Python import statements found by reading the source (pyscan.c), never
 * by running it: `import a.b as c, d`, `from ..x import (y, z)`, and
 * `importlib.import_module("lit")` / `__import__("lit")`, with strings,
 * comments, line continuations and brackets handled as Python's tokenizer
 * does. Each import says whether it sits in a function body (it runs when
 * the function is called, not when the module is imported). */
#ifndef PARE_PYSCAN_H
#define PARE_PYSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

struct py_import {
	char *module;       /* dotted, without the leading dots; "" for "from . import x" */
	unsigned level;     /* the leading dots of a relative import */
	struct strv names;  /* from MODULE import NAMES (maybe submodules); none for "*" */
	bool in_function;
	bool call;          /* import_module("...") or __import__("...") */
	unsigned line;
	/* the innermost try statement around it (numbered from 1): in its
	 * body (TRY_OF), or in one of its except clauses (EXCEPT_OF), a
	 * fallback that runs only when the body failed */
	unsigned try_of, except_of;
};

struct py_scan {
	struct py_import *v;
	size_t n;
	unsigned *computed;  /* lines of import_module/__import__ with a computed name */
	size_t n_computed;
};

/* Scan TEXT (LEN bytes of Python source) into OUT. Never fails: what it
 * cannot read (a syntax error) ends the scan there. */
void py_scan(const char *text, size_t len, struct py_scan *out);
void py_scan_free(struct py_scan *s);

#endif
