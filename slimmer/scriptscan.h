/* Ruby's and Perl's module references in their simple forms (scriptscan.c),
 * read line by line: Ruby's require 'x' and require_relative 'x', Perl's
 * use X::Y and require X::Y / require "file". What a line scanner cannot
 * read is a stated limit: a heredoc line that looks like a use statement is
 * taken for one (it can only keep a module that exists), a name built at
 * run time is not seen. POD and =begin/=end blocks and what follows
 * __END__ are skipped. */
#ifndef PARE_SCRIPTSCAN_H
#define PARE_SCRIPTSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

struct script_ref {
	char *name;      /* "digest/md5", "File::Spec" as "File/Spec.pm", or a file name */
	bool relative;   /* Ruby's require_relative */
	bool nested;     /* Ruby: indented, inside a method or block, may never run at load */
	unsigned line;
};

struct script_scan {
	struct script_ref *v;
	size_t n;
};

void rb_scan(const char *text, size_t len, struct script_scan *out);
void pl_scan(const char *text, size_t len, struct script_scan *out);
void script_scan_free(struct script_scan *s);

/* Where Ruby and Perl look for what REF names, in the image: the search
 * path of each installed version ($LOAD_PATH, @INC as Debian builds them).
 * Into OUT (relative, physical) the file that loads, if any. */
void rb_resolve(int rootfd, const char *file, const struct script_ref *ref, struct strv *out);
void pl_resolve(int rootfd, const char *file, const struct script_ref *ref, struct strv *out);

#endif
