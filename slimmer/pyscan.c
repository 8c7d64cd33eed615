/* A tokenizer as small as Python's own rules allow (names, strings with
 * their prefixes and triple quotes, comments, backslash continuations,
 * brackets that join lines, indentation at the start of each logical
 * line) and a parser for the import statements at statement starts. */
#define _GNU_SOURCE
#include "slimmer/pyscan.h"

#include <string.h>

enum tok_kind { T_EOF, T_NEWLINE, T_NAME, T_STRING, T_OP, T_OTHER };

struct tok {
	enum tok_kind kind;
	const char *s;     /* T_NAME: the name; T_STRING: the content (NULL: not a plain literal) */
	size_t len;
	char op;           /* T_OP */
	unsigned line, indent; /* indent: of the logical line this token starts */
	bool line_start;   /* the first token of a logical line */
};

struct lexer {
	const char *p, *end;
	unsigned line, depth;
	bool at_line_start;
};

static bool name_char(unsigned char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Spaces and tabs of a line start (tabs to the next multiple of 8), and
 * blank or comment-only lines skipped. Returns the indent. */
static unsigned skip_blank_lines(struct lexer *lx)
{
	for (;;) {
		unsigned col = 0;
		while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\f'))
			col = *lx->p++ == '\t' ? (col / 8 + 1) * 8 : col + 1;
		if (lx->p < lx->end && *lx->p == '#')
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		if (lx->p < lx->end && (*lx->p == '\n' || *lx->p == '\r')) {
			lx->line += *lx->p == '\n';
			lx->p++;
			continue;
		}
		return col;
	}
}

/* A string literal at P, after its prefix; QUOTE is ' or ". */
static void lex_string(struct lexer *lx, struct tok *t, bool plain)
{
	char q = *lx->p;
	bool triple = lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q;
	lx->p += triple ? 3 : 1;
	const char *start = lx->p;
	bool escaped = false;
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\\') {
			escaped = true;
			lx->line += lx->p + 1 < lx->end && lx->p[1] == '\n';
			lx->p += 2;
			continue;
		}
		if (c == '\n') {
			lx->line++;
			if (!triple) /* unterminated: Python stops here too */
				break;
		}
		if (c == q && (!triple || (lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q))) {
			t->s = plain && !escaped && !triple ? start : NULL;
			t->len = (size_t)(lx->p - start);
			lx->p += triple ? 3 : 1;
			return;
		}
		lx->p++;
	}
	t->s = NULL;
}

static void next(struct lexer *lx, struct tok *t)
{
	memset(t, 0, sizeof(*t));
	if (lx->at_line_start) {
		t->indent = skip_blank_lines(lx);
		t->line_start = true;
		lx->at_line_start = false;
	}
	for (;;) {
		while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\f' || *lx->p == '\r'))
			lx->p++;
		if (lx->p < lx->end && *lx->p == '#')
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		if (lx->p + 1 < lx->end && *lx->p == '\\' && (lx->p[1] == '\n' || lx->p[1] == '\r')) {
			lx->p += lx->p[1] == '\r' && lx->p + 2 < lx->end && lx->p[2] == '\n' ? 3 : 2;
			lx->line++;
			continue;
		}
		if (lx->p < lx->end && *lx->p == '\n' && lx->depth) {
			lx->p++;
			lx->line++;
			continue;
		}
		break;
	}
	t->line = lx->line;
	if (lx->p >= lx->end) {
		t->kind = T_EOF;
		return;
	}
	const char *s = lx->p;
	if (*s == '\n') {
		lx->p++;
		lx->line++;
		lx->at_line_start = true;
		t->kind = T_NEWLINE;
		return;
	}
	if (name_char((unsigned char)*s) && !(*s >= '0' && *s <= '9')) {
		while (lx->p < lx->end && name_char((unsigned char)*lx->p))
			lx->p++;
		size_t n = (size_t)(lx->p - s);
		if (n <= 3 && lx->p < lx->end && (*lx->p == '\'' || *lx->p == '"') &&
		    strspn(s, "rRbBuUfF") >= n) { /* a prefix: r"", b'', f"", rb"" ... */
			t->kind = T_STRING;
			lex_string(lx, t, !memchr(s, 'f', n) && !memchr(s, 'F', n) && !memchr(s, 'b', n) &&
						  !memchr(s, 'B', n));
			return;
		}
		t->kind = T_NAME;
		t->s = s;
		t->len = n;
		return;
	}
	if (*s == '\'' || *s == '"') {
		t->kind = T_STRING;
		lex_string(lx, t, true);
		return;
	}
	if (*s >= '0' && *s <= '9') {
		while (lx->p < lx->end && (name_char((unsigned char)*lx->p) || *lx->p == '.'))
			lx->p++;
		t->kind = T_OTHER;
		return;
	}
	lx->p++;
	if (strchr("([{", *s))
		lx->depth++;
	else if (strchr(")]}", *s) && lx->depth)
		lx->depth--;
	t->kind = T_OP;
	t->op = *s;
}

static bool is_name(const struct tok *t, const char *name)
{
	return t->kind == T_NAME && t->len == strlen(name) && !memcmp(t->s, name, t->len);
}

/* The parser: one token of lookahead, and where statements start. */
struct parser {
	struct lexer lx;
	struct tok t;
	struct py_scan *out;
	unsigned defs[256];  /* indents of the def blocks we are in */
	size_t n_defs;
	bool in_def_line;    /* after "def" on the same logical line */
	unsigned line_indent;
	/* try statements we are in: the indent of "try:", its number, and
	 * whether we are in one of its except clauses */
	struct try_block {
		unsigned indent, id;
		bool in_except;
	} tries[64];
	size_t n_tries;
	unsigned next_try;
};


/* A logical line at indent I starting with T: leave the try statements it
 * is not inside, note an except clause of the one it continues, enter a
 * new one at "try". */
static void track_try(struct parser *ps, const struct tok *t)
{
	unsigned i = t->indent;
	while (ps->n_tries && ps->tries[ps->n_tries - 1].indent > i)
		ps->n_tries--;
	if (ps->n_tries && ps->tries[ps->n_tries - 1].indent == i) {
		struct try_block *b = &ps->tries[ps->n_tries - 1];
		if (is_name(t, "except"))
			b->in_except = true;
		else if (is_name(t, "else") || is_name(t, "finally"))
			b->in_except = false;
		else
			ps->n_tries--;
	}
	if (is_name(t, "try") && ps->n_tries < ARRAY_SIZE(ps->tries))
		ps->tries[ps->n_tries++] = (struct try_block){ i, ++ps->next_try, false };
}

static void advance(struct parser *ps)
{
	next(&ps->lx, &ps->t);
	if (!ps->t.line_start)
		return;
	ps->in_def_line = false;
	ps->line_indent = ps->t.indent;
	while (ps->n_defs && ps->defs[ps->n_defs - 1] >= ps->t.indent)
		ps->n_defs--;
	track_try(ps, &ps->t);
}

static bool in_function(const struct parser *ps)
{
	return ps->n_defs || ps->in_def_line;
}

/* NAME ('.' NAME)* into *OUT (malloc'd). False when there is none. */
static bool dotted(struct parser *ps, char **out)
{
	size_t cap = 0, len = 0;
	char *s = NULL;
	while (ps->t.kind == T_NAME) {
		if (len + ps->t.len + 2 > cap)
			s = xrealloc(s, cap = (len + ps->t.len + 2) * 2);
		if (len)
			s[len++] = '.';
		memcpy(s + len, ps->t.s, ps->t.len);
		len += ps->t.len;
		s[len] = 0;
		advance(ps);
		if (ps->t.kind != T_OP || ps->t.op != '.')
			break;
		advance(ps);
	}
	*out = s;
	return s != NULL;
}

static struct py_import *add_import(struct parser *ps, char *module, unsigned level, unsigned line)
{
	struct py_scan *o = ps->out;
	o->v = xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	struct py_import *im = &o->v[o->n++];
	*im = (struct py_import){ module, level, { 0 }, in_function(ps), false, line, 0, 0 };
	if (ps->n_tries) {
		const struct try_block *b = &ps->tries[ps->n_tries - 1];
		*(b->in_except ? &im->except_of : &im->try_of) = b->id;
	}
	return im;
}

static void skip_as(struct parser *ps)
{
	if (is_name(&ps->t, "as")) {
		advance(ps);
		if (ps->t.kind == T_NAME)
			advance(ps);
	}
}

/* import a.b [as c], d */
static void parse_import(struct parser *ps)
{
	unsigned line = ps->t.line;
	advance(ps);
	for (;;) {
		char *m;
		if (!dotted(ps, &m))
			return;
		add_import(ps, m, 0, line);
		skip_as(ps);
		if (ps->t.kind != T_OP || ps->t.op != ',')
			return;
		advance(ps);
	}
}

/* from [.]* [a.b] import (x [as y], ...) | * */
static void parse_from(struct parser *ps)
{
	unsigned line = ps->t.line, level = 0;
	advance(ps);
	while (ps->t.kind == T_OP && ps->t.op == '.') {
		level++;
		advance(ps);
	}
	char *m = NULL;
	if (!is_name(&ps->t, "import") && !dotted(ps, &m))
		return;
	if (!is_name(&ps->t, "import")) {
		free(m);
		return;
	}
	struct py_import *im = add_import(ps, m ? m : xstrdup(""), level, line);
	advance(ps);
	bool paren = ps->t.kind == T_OP && ps->t.op == '(';
	if (paren)
		advance(ps);
	while (ps->t.kind == T_NAME) {
		strv_push(&im->names, xasprintf("%.*s", (int)ps->t.len, ps->t.s));
		advance(ps);
		skip_as(ps);
		if (ps->t.kind != T_OP || ps->t.op != ',')
			break;
		advance(ps);
	}
}

/* import_module( or __import__( just read: a literal name, or computed. */
static void parse_call(struct parser *ps)
{
	unsigned line = ps->t.line;
	advance(ps);
	if (ps->t.kind != T_OP || ps->t.op != '(')
		return;
	advance(ps);
	struct tok lit = ps->t;
	if (lit.kind == T_STRING && lit.s) {
		advance(ps);
		bool whole = ps->t.kind == T_OP && (ps->t.op == ')' || ps->t.op == ',');
		if (whole && lit.len && lit.s[0] != '.') {
			add_import(ps, xasprintf("%.*s", (int)lit.len, lit.s), 0, line)->call = true;
			return;
		}
		if (whole && lit.len) /* relative to a package argument: not followed */
			return;
	}
	struct py_scan *o = ps->out;
	o->computed = xrealloc(o->computed, (o->n_computed + 1) * sizeof(*o->computed));
	o->computed[o->n_computed++] = line;
}

void py_scan(const char *text, size_t len, struct py_scan *out)
{
	memset(out, 0, sizeof(*out));
	struct parser ps = { .lx = { text, text + len, 1, 0, true }, .out = out };
	bool stmt_start = true;
	advance(&ps);
	while (ps.t.kind != T_EOF) {
		struct tok *t = &ps.t;
		bool start = stmt_start || t->line_start;
		stmt_start = false;
		if (start && (is_name(t, "def") || is_name(t, "async"))) {
			if (is_name(t, "def")) {
				if (ps.n_defs < ARRAY_SIZE(ps.defs))
					ps.defs[ps.n_defs++] = ps.line_indent;
				ps.in_def_line = true;
			}
			if (is_name(t, "async")) {
				advance(&ps);
				stmt_start = true; /* "def" or "with"/"for" follow */
				continue;
			}
		}
		if (start && is_name(t, "import")) {
			parse_import(&ps);
			continue;
		}
		if (start && is_name(t, "from")) {
			parse_from(&ps);
			continue;
		}
		if (is_name(t, "import_module") || is_name(t, "__import__")) {
			parse_call(&ps);
			continue;
		}
		stmt_start = t->kind == T_NEWLINE || (t->kind == T_OP && (t->op == ';' || t->op == ':') && !ps.lx.depth);
		advance(&ps);
	}
}

void py_scan_free(struct py_scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].module);
		strv_free(&s->v[i].names);
	}
	free(s->v);
	free(s->computed);
	memset(s, 0, sizeof(*s));
}
