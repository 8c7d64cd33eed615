#define _GNU_SOURCE
#include "slimmer/glob.h"

#include <fnmatch.h>
#include <string.h>

bool glob_is_pattern(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

bool glob_valid(const char *p)
{
	if (p[0] != '/')
		return false;
	int stars = 0;
	for (const char *s = p; (s = strstr(s, "**")); s += 2) {
		bool start = s == p || s[-1] == '/', end = !s[2] || s[2] == '/';
		/* Each "**" multiplies the matching work by the path's depth. */
		if (!start || !end || ++stars > GLOB_MAX_ANY)
			return false;
	}
	int depth = 0;
	for (const char *s = p; *s; s++) {
		if (*s == '[')
			depth++;
		else if (*s == ']' && depth)
			depth--;
		else if (*s == '/' && depth)
			return false;
	}
	return depth == 0;
}

/* Match component lists: P and S point at the start of a component. */
static bool match_from(const char *p, const char *s)
{
	for (;;) {
		while (*p == '/')
			p++;
		while (*s == '/')
			s++;
		if (!*p)
			return !*s;
		const char *pe = strchrnul(p, '/');
		if (pe - p == 2 && p[0] == '*' && p[1] == '*') {
			/* "**": zero or more whole components */
			for (const char *t = s;;) {
				if (match_from(pe, t))
					return true;
				if (!*t)
					return false;
				t = strchrnul(t, '/');
				while (*t == '/')
					t++;
			}
		}
		if (!*s)
			return false;
		const char *se = strchrnul(s, '/');
		char pc[4096], sc[4096];
		if ((size_t)(pe - p) >= sizeof(pc) || (size_t)(se - s) >= sizeof(sc))
			return false;
		memcpy(pc, p, pe - p);
		pc[pe - p] = 0;
		memcpy(sc, s, se - s);
		sc[se - s] = 0;
		if (fnmatch(pc, sc, 0) != 0)
			return false;
		p = pe;
		s = se;
	}
}

bool glob_match(const char *pattern, const char *path)
{
	return match_from(pattern, path);
}
