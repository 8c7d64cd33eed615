/* Path globs for keep rules and profiles: "*", "?" and "[...]" match
 * within one component (fnmatch), "**" matches any number of components,
 * none included. Patterns and paths are absolute ("/usr/lib/ **"). */
#ifndef PARE_GLOB_H
#define PARE_GLOB_H

#include <stdbool.h>

bool glob_match(const char *pattern, const char *path);
/* Does PATTERN use any glob syntax? */
bool glob_is_pattern(const char *pattern);
/* At most this many "**" components in one pattern. */
#define GLOB_MAX_ANY 4
/* Is PATTERN valid (absolute, balanced brackets, "**" only as a whole
 * component, at most GLOB_MAX_ANY of them)? */
bool glob_valid(const char *pattern);

#endif
