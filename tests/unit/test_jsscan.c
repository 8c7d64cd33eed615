/* The JavaScript module scanner on what trips naive ones: references in
 * strings, template literals and comments; regular expression literals
 * holding quotes and slashes; member calls (x.require); import/export
 * forms; braces (nested) and computed names. (tests/e2e/lazy.sh checks
 * its resolution against require.resolve in the node fixture.) */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/jsscan.h"

#include <string.h>

#include "base/util.h"

static char *scan(const char *src)
{
	struct js_scan s;
	js_scan(src, strlen(src), &s);
	char *out = xstrdup("");
	for (size_t i = 0; i < s.n; i++)
		str_append(&out, "%u:%s%s", s.v[i].line, s.v[i].spec, s.v[i].nested ? ":n" : "");
	for (size_t i = 0; i < s.n_computed; i++)
		str_append(&out, "computed@%u", s.computed[i]);
	js_scan_free(&s);
	return out;
}

static void is(const char *src, const char *want, const char *what)
{
	ok_str(scan(src), want, what);
}

int main(void)
{
	is("const a = require('a');\nconst b = require(\"./b\");\n", "1:a 2:./b", "require with both quotes");
	is("import x from 'x';\nimport { y } from \"y\";\nimport 'side';\nexport * from './e';\n"
	   "export { z } from 'z';\nconst m = await import('dyn');\n",
	   "1:x 2:y 3:side 4:./e 5:z 6:dyn", "import and export forms, dynamic import");
	is("// require('no')\n/* require('no2') */\nconst s = 'require(\"no3\")';\nconst t = `require('no4') ${require('yes')}`;\n",
	   "4:yes", "not in comments, strings or template text; yes in a ${} of a template");
	is("const r = /['\"\\/]require('no')/g; require('after');\n", "1:after", "a regex literal with quotes and slashes");
	is("const q = a / b; const w = c / require('div');\n", "1:div", "a division is not a regex");
	is("x.require('no'); obj.from 'no';\n", "", "member calls are not module references");
	is("function f() {\n  return require('lazy');\n}\nif (x) { require('inblock'); }\n", "2:lazy:n 4:inblock:n",
	   "inside braces: nested");
	is("require(name); import(`./${x}`);\n", "computed@1 computed@1", "computed names are counted");
	is("#!/usr/bin/env node\nrequire('shebang')\n", "2:shebang", "a #! line");
	is("const o = {from: 'x', import: 1};\n", "", "object keys named from and import");
	is("const s = 'unterminated\nrequire('next-line');\n", "2:next-line", "an unterminated string ends at the line");
	return tap_done();
}
