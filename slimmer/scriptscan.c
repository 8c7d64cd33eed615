/* Line scanners and search paths for Ruby and Perl. */
#define _GNU_SOURCE
#include "slimmer/scriptscan.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"
#include "slimmer/keepset.h"

#define PATH_BUF 4097

static void add(struct script_scan *o, char *name, bool relative, bool nested, unsigned line)
{
	o->v = xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	o->v[o->n++] = (struct script_ref){ name, relative, nested, line };
}

/* A quoted literal at P ('x' or "x", no interpolation): malloc'd, or NULL. */
static char *quoted(const char *p, const char *end)
{
	if (p >= end || (*p != '\'' && *p != '"'))
		return NULL;
	const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
	if (!q || q == p + 1 || memchr(p + 1, '#', (size_t)(q - p - 1)) || memchr(p + 1, '$', (size_t)(q - p - 1)))
		return NULL;
	return xasprintf("%.*s", (int)(q - p - 1), p + 1);
}

/* KEYWORD at P followed by a space or '(': P moved past both. */
static bool keyword(const char **p, const char *end, const char *kw)
{
	size_t n = strlen(kw);
	if ((size_t)(end - *p) <= n || memcmp(*p, kw, n) || !(isspace((unsigned char)(*p)[n]) || (*p)[n] == '('))
		return false;
	*p += n;
	while (*p < end && (isspace((unsigned char)**p) || **p == '('))
		(*p)++;
	return true;
}

/* One line of a text: [*L, *E) after its indentation INDENT; false at the end. */
struct lines {
	const char *p, *end;
	unsigned line;
};

static bool next_line(struct lines *ls, const char **l, const char **e, size_t *indent)
{
	while (ls->p < ls->end) {
		const char *start = ls->p, *nl = memchr(start, '\n', (size_t)(ls->end - start));
		*e = nl ? nl : ls->end;
		ls->p = *e + 1;
		ls->line++;
		*indent = strspn(start, " \t");
		if (*indent < (size_t)(*e - start)) {
			*l = start + *indent;
			return true;
		}
	}
	return false;
}

void rb_scan(const char *text, size_t len, struct script_scan *out)
{
	memset(out, 0, sizeof(*out));
	struct lines ls = { text, text + len, 0 };
	const char *l, *e;
	size_t indent;
	bool in_comment = false;
	while (next_line(&ls, &l, &e, &indent)) {
		unsigned line = ls.line;
		if (!indent && !strncmp(l, "=begin", 6))
			in_comment = true;
		else if (!indent && !strncmp(l, "=end", 4))
			in_comment = false;
		else if (!indent && !strncmp(l, "__END__", 7) && (e - l == 7 || l[7] == '\r'))
			return;
		if (in_comment || *l == '#')
			continue;
		const char *p = l;
		bool relative = keyword(&p, e, "require_relative");
		if (!relative && !keyword(&p, e, "require"))
			continue;
		char *name = quoted(p, e);
		if (name)
			add(out, name, relative, indent > 0, line);
	}
}

/* A Perl package name (Foo::Bar) at P: "Foo/Bar.pm", or NULL. */
static char *package_file(const char *p, const char *end)
{
	const char *s = p;
	if (p >= end || !(isalpha((unsigned char)*p) || *p == '_'))
		return NULL;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_' || (*p == ':' && p + 1 < end && p[1] == ':')))
		p += *p == ':' ? 2 : 1;
	char *name = xasprintf("%.*s.pm", (int)(p - s), s);
	for (char *c = name; (c = strstr(c, "::")); ) {
		*c = '/';
		memmove(c + 1, c + 2, strlen(c + 2) + 1);
	}
	return name;
}

/* After the next ';' or '{' of [P, E) outside quotes and comments, or NULL. */
static const char *next_statement(const char *p, const char *e)
{
	for (char q = 0; p < e; p++) {
		if (q) {
			q = *p == '\\' ? (p++, q) : *p == q ? 0 : q;
			continue;
		}
		if (*p == '#')
			return NULL;
		if (*p == '\'' || *p == '"')
			q = *p;
		else if (*p == ';' || *p == '{')
			return p + 1;
	}
	return NULL;
}

void pl_scan(const char *text, size_t len, struct script_scan *out)
{
	memset(out, 0, sizeof(*out));
	struct lines ls = { text, text + len, 0 };
	const char *l, *e;
	size_t indent;
	bool in_pod = false;
	while (next_line(&ls, &l, &e, &indent)) {
		unsigned line = ls.line;
		if (!indent && *l == '=' && isalpha((unsigned char)l[1]))
			in_pod = strncmp(l, "=cut", 4) != 0;
		if (in_pod || *l == '#' || (!indent && !strncmp(l, "=cut", 4)))
			continue;
		if (!indent && (!strncmp(l, "__END__", 7) || !strncmp(l, "__DATA__", 8)))
			return;
		/* statements start the line, or follow a ';' or a '{' on it */
		for (const char *p = l; p && p < e; p = next_statement(p, e)) {
			while (p < e && isspace((unsigned char)*p))
				p++;
			bool use = keyword(&p, e, "use");
			if (!use && !keyword(&p, e, "require"))
				continue;
			char *name = use || !(*p == '\'' || *p == '"') ? package_file(p, e) : quoted(p, e);
			/* use runs at compile time wherever it is written; a require
			 * is taken as running too: indentation says little in Perl
			 * (module-level blocks), and its modules are small */
			if (name && strcmp(name, "lib.pm"))
				add(out, name, false, false, line);
			else
				free(name);
		}
	}
}

void script_scan_free(struct script_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- search paths ---- */

/* The entries of DIR (in the root) named like a version ("3.1.0", "5.36")
 * with VERSIONS, else like an architecture ("x86_64-linux-gnu"). */
static void entries(int rootfd, const char *dir, bool versions, struct strv *out)
{
	struct perr ignored;
	cleanup_close int dfd = root_open_dir(rootfd, dir, &ignored);
	DIR *d = dfd >= 0 ? opendir_at(dfd, "") : NULL;
	for (struct dirent *de; d && (de = readdir(d));)
		if (versions ? isdigit((unsigned char)de->d_name[0]) : strstr(de->d_name, "-linux-") != NULL)
			strv_push(out, xstrdup(de->d_name));
	if (d)
		closedir(d);
	strv_sort(out);
}

/* TEMPLATE with {arch} and {ver} replaced, into OUT (PATH_BUF). */
static void expand_template(const char *template, const char *arch, const char *ver, char *out)
{
	size_t o = 0;
	for (const char *t = template; *t && o + 1 < PATH_BUF; t++) {
		const char *with = !strncmp(t, "{arch}", 6) ? arch : !strncmp(t, "{ver}", 5) ? ver : NULL;
		if (!with) {
			out[o++] = *t;
			continue;
		}
		o += (size_t)snprintf(out + o, PATH_BUF - o, "%s", with);
		o = o < PATH_BUF ? o : PATH_BUF - 1;
		t += with == arch ? 5 : 4;
	}
	out[o] = 0;
}

/* NAME with one of SUFFIXES in the first directory of TEMPLATES (each
 * architecture, each version found in VERSIONS_IN) that has it. */
static void search(int rootfd, const char *const *templates, size_t n, const char *versions_in,
		   const char *name, const char *const *suffixes, size_t n_suffixes, struct strv *out)
{
	struct strv archs = { 0 }, versions = { 0 };
	entries(rootfd, "usr/lib", false, &archs);
	entries(rootfd, versions_in, true, &versions);
	bool found = false;
	for (size_t t = 0; t < n && !found; t++)
		for (size_t a = 0; a < (archs.n ? archs.n : 1) && !found; a++)
			for (size_t v = 0; v < (versions.n ? versions.n : 1) && !found; v++) {
				char dir[PATH_BUF], p[PATH_BUF * 2], real[PATH_BUF];
				expand_template(templates[t], archs.n ? archs.v[a] : "", versions.n ? versions.v[v] : "", dir);
				for (size_t s = 0; s < n_suffixes && !found; s++) {
					snprintf(p, sizeof(p), "%s/%s%s", dir, name, suffixes[s]);
					if ((found = keepset_is_type(rootfd, p, S_IFREG, real)))
						strv_push(out, xstrdup(real));
				}
			}
	strv_free(&archs);
	strv_free(&versions);
}

static const char *const rb_path[] = {
	"usr/local/lib/site_ruby/{ver}", "usr/local/lib/{arch}/site_ruby", "usr/local/lib/site_ruby",
	"usr/lib/ruby/vendor_ruby/{ver}", "usr/lib/{arch}/ruby/vendor_ruby/{ver}", "usr/lib/ruby/vendor_ruby",
	"usr/lib/ruby/{ver}", "usr/lib/{arch}/ruby/{ver}", "usr/local/lib/ruby/{ver}",
};

void rb_resolve(int rootfd, const char *file, const struct script_ref *ref, struct strv *out)
{
	static const char *const suffixes[] = { ".rb", ".so", "" };
	if (ref->relative) {
		char dir[PATH_BUF], p[PATH_BUF * 2], real[PATH_BUF];
		snprintf(dir, sizeof(dir), "%s", file);
		cut_to_parent(dir);
		for (size_t s = 0; s < ARRAY_SIZE(suffixes); s++) {
			snprintf(p, sizeof(p), "%s/%s%s", dir, ref->name, suffixes[s]);
			if (keepset_is_type(rootfd, p, S_IFREG, real)) {
				strv_push(out, xstrdup(real));
				return;
			}
		}
		return;
	}
	search(rootfd, rb_path, ARRAY_SIZE(rb_path), "usr/lib/ruby", ref->name, suffixes, ARRAY_SIZE(suffixes), out);
}

static const char *const pl_path[] = {
	"etc/perl", "usr/local/lib/{arch}/perl/{ver}", "usr/local/share/perl/{ver}", "usr/lib/{arch}/perl5/{ver}",
	"usr/share/perl5", "usr/lib/{arch}/perl-base", "usr/lib/{arch}/perl/{ver}", "usr/share/perl/{ver}",
	"usr/local/lib/site_perl",
};

/* An XS module's shared object, which XSLoader finds by the package name:
 * DIR/auto/Foo/Bar/Bar.so for DIR/Foo/Bar.pm. */
static void xs_object(int rootfd, const char *pm, const char *name, struct strv *out)
{
	size_t nlen = strlen(name), plen = strlen(pm);
	if (plen < nlen || strcmp(pm + plen - nlen, name))
		return;
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	char p[PATH_BUF * 2], real[PATH_BUF];
	snprintf(p, sizeof(p), "%.*sauto/%.*s/%.*s.so", (int)(plen - nlen), pm, (int)(nlen - 3), name,
		 (int)(strlen(base) - 3), base);
	if (keepset_is_type(rootfd, p, S_IFREG, real))
		strv_push(out, xstrdup(real));
}

void pl_resolve(int rootfd, const char *file, const struct script_ref *ref, struct strv *out)
{
	(void)file;
	static const char *const suffixes[] = { "" };
	size_t before = out->n;
	/* Debian's version directories: 5.36 under /usr/share/perl, 5.36.0 under /usr/local */
	search(rootfd, pl_path, ARRAY_SIZE(pl_path), "usr/share/perl", ref->name, suffixes, 1, out);
	if (out->n == before)
		search(rootfd, pl_path, ARRAY_SIZE(pl_path), "usr/local/share/perl", ref->name, suffixes, 1, out);
	if (out->n > before)
		xs_object(rootfd, out->v[out->n - 1], ref->name, out);
}
