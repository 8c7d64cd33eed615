/* Ruby's and Perl's line scanners: require forms, comments, =begin/=end and
 * POD blocks, __END__, several statements on a line, version pragmas.
 * (tests/e2e/runtimes.sh shows the closure on real Ruby and Perl.) */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "slimmer/scriptscan.h"

#include <string.h>

static char *scan(bool ruby, const char *src)
{
	struct script_scan s;
	(ruby ? rb_scan : pl_scan)(src, strlen(src), &s);
	char *out = xstrdup("");
	for (size_t i = 0; i < s.n; i++)
		str_append(&out, "%u:%s%s%s", s.v[i].line, s.v[i].name, s.v[i].relative ? ":rel" : "",
			   s.v[i].nested ? ":n" : "");
	script_scan_free(&s);
	return out;
}

static void is(bool ruby, const char *src, const char *want, const char *what)
{
	ok_str(scan(ruby, src), want, what);
}

int main(void)
{
	is(true, "require 'json'\nrequire(\"digest/md5\")\nrequire_relative 'lib/x'\n", "1:json 2:digest/md5 3:lib/x:rel",
	   "ruby: require, parentheses, require_relative");
	is(true, "def f\n  require 'lazy'\nend\n# require 'no'\n=begin\nrequire 'no2'\n=end\nrequire \"a#{b}\"\n__END__\nrequire 'no3'\n",
	   "2:lazy:n", "ruby: nested; comments, =begin blocks, interpolation and __END__ skipped");
	is(false, "use strict; use warnings;\nuse 5.010;\nuse File::Spec::Functions qw(catfile);\n", "1:strict.pm 1:warnings.pm 3:File/Spec/Functions.pm",
	   "perl: two statements on a line, a version, a package with an import list");
	is(false, "BEGIN { require Exporter; *import = \\&Exporter::import }\nsub f {\n    require Carp;\n}\nrequire \"x/y.pl\";\n",
	   "1:Exporter.pm 3:Carp.pm 5:x/y.pl", "perl: in a BEGIN block, in a sub, a file name");
	is(false, "=head1 NAME\n\nuse NotCode;\n\n=cut\nuse lib '/x';\nprint 'use Nope;'; # use Nope2;\n__END__\nuse After;\n",
	   "", "perl: POD, use lib, strings, comments and __END__ skipped");
	return tap_done();
}
