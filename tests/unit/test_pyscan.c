/* The Python import scanner on what trips naive ones: imports in strings,
 * comments and docstrings; continuations and brackets; relative imports;
 * function bodies (and class bodies, which run at import); one-line
 * compound statements; import_module/__import__ with literal and computed
 * names. (tests/e2e/lazy.sh compares it with Python's ast on the stdlib.) */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/pyscan.h"

#include <string.h>

/* The imports of SRC as "LINE:LEVEL:MODULE[:NAMES][:f][:call]" joined by spaces. */
static char *scan(const char *src)
{
	struct py_scan s;
	py_scan(src, strlen(src), &s);
	char *out = xstrdup("");
	for (size_t i = 0; i < s.n; i++) {
		const struct py_import *im = &s.v[i];
		char names[256] = "";
		for (size_t j = 0; j < im->names.n; j++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", j ? "," : ":",
				 im->names.v[j]);
		str_append(&out, "%u:%u:%s%s%s%s", im->line, im->level, im->module, names,
			   im->in_function ? ":f" : "", im->call ? ":call" : "");
	}
	for (size_t i = 0; i < s.n_computed; i++)
		str_append(&out, "computed@%u", s.computed[i]);
	py_scan_free(&s);
	return out;
}

static void is(const char *src, const char *want, const char *what)
{
	ok_str(scan(src), want, what);
}

/* Which try statement each import sits in, and on which side. */
static void test_try_blocks(void)
{
	static const char src[] = "try:\n    import fast\nexcept ImportError:\n    import slow\n"
				  "try: import one_line\nexcept ImportError: import one_fallback\n"
				  "import after\n"
				  "try:\n    pass\nfinally:\n    import in_finally\n";
	struct py_scan s;
	py_scan(src, strlen(src), &s);
	char *got = xstrdup("");
	for (size_t i = 0; i < s.n; i++)
		str_append(&got, "%s:%u:%u", s.v[i].module, s.v[i].try_of, s.v[i].except_of);
	py_scan_free(&s);
	ok_str(got, "fast:1:0 slow:0:1 one_line:2:0 one_fallback:0:2 after:0:0 in_finally:3:0",
	       "try bodies and except clauses numbered; after the statement, neither");
}

int main(void)
{
	test_try_blocks();
	is("import os, sys as s\nimport a.b.c\n", "1:0:os 1:0:sys 2:0:a.b.c", "plain imports, aliases");
	is("from . import x\nfrom ..pkg.mod import (a,\n    b as c,\n)\n", "1:1::x 2:2:pkg.mod:a,b",
	   "relative, parenthesised over lines");
	is("from x import *\n", "1:0:x", "a star import has no names");
	is("s = 'import os'\nt = \"\"\"\nimport sys\n\"\"\"\n# import json\nx = r'\\'' ; import re\n",
	   "6:0:re", "not in strings, docstrings or comments; after a raw string with an escaped quote and ';'");
	is("import a, \\\n    b\n", "1:0:a 1:0:b", "a backslash continuation");
	is("x = f(\n  'import y')\nimport z\n", "3:0:z", "a bracket joins lines; its string is not code");
	is("def f():\n    import lazy\n\n    # comment at col 0 does not end it\n    from m import n\nimport top\n",
	   "2:0:lazy:f 5:0:m:n:f 6:0:top", "imports in a function body, then at module level again");
	is("class C:\n    import in_class\n    def m(self):\n        import in_method\n",
	   "2:0:in_class 4:0:in_method:f", "a class body runs at import, a method's does not");
	is("try:\n    import fast\nexcept ImportError:\n    import slow\nif X: import cond\n",
	   "2:0:fast 4:0:slow 5:0:cond", "try/except and a one-line if");
	is("def g(): import one_line\nasync def h():\n    import in_async\nimport after\n",
	   "1:0:one_line:f 3:0:in_async:f 4:0:after", "a one-line def, an async def");
	is("import importlib\nm = importlib.import_module('pkg.mod')\nn = __import__(\"other\")\n"
	   "p = importlib.import_module(name)\nq = importlib.import_module(f'x{y}')\n",
	   "1:0:importlib 2:0:pkg.mod:call 3:0:other:call computed@4 computed@5",
	   "import_module and __import__: literals followed, computed names counted");
	is("x = 'from y import z'; from a import b\n", "1:0:a:b", "after a string and ';'");
	is("raise E from None\nyield_from = 1\n", "", "'from' inside a statement is not an import");
	is("\tdef f():\n\t\timport t\n", "2:0:t:f", "tabs");
	is("s = '''unterminated\nimport x\n", "", "an unterminated string ends the scan, not a crash");
	return tap_done();
}
