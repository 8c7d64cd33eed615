/* A JavaScript tokenizer reduced to what finds module references: names,
 * string and template literals (with ${...} nesting), // and block
 * comments, regular expression literals (a '/' where an operand may start
 * begins one), and brace depth. */
#define _GNU_SOURCE
#include "slimmer/jsscan.h"

#include <string.h>

#include "base/util.h"

enum kind { K_EOF, K_NAME, K_STRING, K_TEMPLATE, K_PUNCT, K_OTHER };

struct tok {
	enum kind kind;
	const char *s;  /* K_NAME, K_STRING (content; NULL when it has escapes) */
	size_t len;
	char punct;
	unsigned line;
};

struct lexer {
	const char *p, *end;
	unsigned line, depth;
	/* template literals: the brace depth at which each ${ opened */
	unsigned tmpl[64];
	size_t n_tmpl;
	bool regex_ok;      /* a '/' here starts a regular expression */
};

static bool ident(unsigned char c)
{
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80;
}

static void skip_to(struct lexer *lx, char q, bool *escaped)
{
	while (lx->p < lx->end && *lx->p != q && *lx->p != '\n') {
		if (*lx->p == '\\') {
			*escaped = true;
			lx->p++;
		}
		lx->p++;
	}
}

/* The rest of a template literal, from after ` or }: to ` or ${. */
static void template_rest(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p++;
		if (c == '\\' && lx->p < lx->end)
			lx->p++;
		else if (c == '\n')
			lx->line++;
		else if (c == '`')
			return;
		else if (c == '$' && lx->p < lx->end && *lx->p == '{') {
			lx->p++;
			if (lx->n_tmpl < ARRAY_SIZE(lx->tmpl))
				lx->tmpl[lx->n_tmpl++] = lx->depth;
			lx->depth++;
			return;
		}
	}
}

static void regex(struct lexer *lx)
{
	bool in_class = false;
	while (lx->p < lx->end && *lx->p != '\n') {
		char c = *lx->p++;
		if (c == '\\' && lx->p < lx->end)
			lx->p++;
		else if (c == '[')
			in_class = true;
		else if (c == ']')
			in_class = false;
		else if (c == '/' && !in_class)
			break;
	}
	while (lx->p < lx->end && ident((unsigned char)*lx->p)) /* flags */
		lx->p++;
}

/* Names after which a '/' starts a regular expression, not a division. */
static bool keyword_before_operand(const char *s, size_t n)
{
	static const char *const kw[] = { "return", "typeof", "instanceof", "in", "of", "new", "delete",
					  "void", "throw", "case", "do", "else", "yield", "await" };
	for (size_t i = 0; i < ARRAY_SIZE(kw); i++)
		if (strlen(kw[i]) == n && !memcmp(kw[i], s, n))
			return true;
	return false;
}

static bool skip_space_and_comments(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			lx->p += 2;
			while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/'))
				lx->line += *lx->p++ == '\n';
			lx->p = lx->p + 2 <= lx->end ? lx->p + 2 : lx->end;
		} else {
			return true;
		}
	}
	return false;
}

static void next(struct lexer *lx, struct tok *t)
{
	memset(t, 0, sizeof(*t));
	if (!skip_space_and_comments(lx)) {
		t->kind = K_EOF;
		return;
	}
	t->line = lx->line;
	const char *s = lx->p;
	char c = *s;
	if (ident((unsigned char)c)) {
		while (lx->p < lx->end && ident((unsigned char)*lx->p))
			lx->p++;
		t->kind = c >= '0' && c <= '9' ? K_OTHER : K_NAME;
		t->s = s;
		t->len = (size_t)(lx->p - s);
		lx->regex_ok = t->kind == K_NAME && keyword_before_operand(s, t->len);
		return;
	}
	lx->p++;
	if (c == '\'' || c == '"') {
		bool escaped = false;
		skip_to(lx, c, &escaped);
		t->kind = K_STRING;
		t->s = escaped ? NULL : s + 1;
		t->len = (size_t)(lx->p - s - 1);
		if (lx->p < lx->end && *lx->p == c)
			lx->p++;
		lx->regex_ok = false;
		return;
	}
	if (c == '`') {
		template_rest(lx);
		t->kind = K_TEMPLATE;
		lx->regex_ok = false;
		return;
	}
	if (c == '}' && lx->n_tmpl && lx->tmpl[lx->n_tmpl - 1] == lx->depth - 1) {
		lx->n_tmpl--;
		lx->depth--;
		template_rest(lx); /* back inside the template */
		t->kind = K_TEMPLATE;
		lx->regex_ok = false;
		return;
	}
	if (c == '/' && lx->regex_ok) {
		regex(lx);
		t->kind = K_OTHER;
		lx->regex_ok = false;
		return;
	}
	if (c == '{')
		lx->depth++;
	else if (c == '}' && lx->depth)
		lx->depth--;
	t->kind = K_PUNCT;
	t->punct = c;
	lx->regex_ok = !strchr(")]}", c);
}

static bool is(const struct tok *t, const char *name)
{
	return t->kind == K_NAME && t->len == strlen(name) && !memcmp(t->s, name, t->len);
}

static void add(struct js_scan *o, const struct tok *lit, bool nested)
{
	o->v = xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	o->v[o->n++] = (struct js_ref){ xasprintf("%.*s", (int)lit->len, lit->s), nested, lit->line };
}

static void computed(struct js_scan *o, unsigned line)
{
	o->computed = xrealloc(o->computed, (o->n_computed + 1) * sizeof(*o->computed));
	o->computed[o->n_computed++] = line;
}

void js_scan(const char *text, size_t len, struct js_scan *out)
{
	memset(out, 0, sizeof(*out));
	struct lexer lx = { .p = text, .end = text + len, .line = 1, .regex_ok = true };
	struct tok prev = { 0 }, t;
	if (len > 2 && text[0] == '#' && text[1] == '!') /* a #! line */
		while (lx.p < lx.end && *lx.p != '\n')
			lx.p++;
	next(&lx, &t);
	while (t.kind != K_EOF) {
		bool member = prev.kind == K_PUNCT && prev.punct == '.';
		unsigned depth = lx.depth - (unsigned)lx.n_tmpl; /* a ${} is not a block */
		/* require( and import( : a call with one literal */
		if ((is(&t, "require") || is(&t, "import")) && !member) {
			bool is_import = is(&t, "import");
			struct tok n1;
			next(&lx, &n1);
			if (n1.kind == K_PUNCT && n1.punct == '(') {
				struct tok lit, close;
				next(&lx, &lit);
				next(&lx, &close);
				if (lit.kind == K_STRING && lit.s && close.kind == K_PUNCT && close.punct == ')')
					add(out, &lit, depth > 0);
				else if (lit.kind != K_PUNCT || lit.punct != ')')
					computed(out, t.line);
				prev = close;
				next(&lx, &t);
				continue;
			}
			if (is_import && n1.kind == K_STRING && n1.s) { /* import 'x' */
				add(out, &n1, depth > 0);
				prev = n1;
				next(&lx, &t);
				continue;
			}
			prev = t;
			t = n1;
			continue;
		}
		/* ... from 'x' (import and export statements) */
		if (is(&t, "from") && !member) {
			struct tok lit;
			next(&lx, &lit);
			if (lit.kind == K_STRING && lit.s)
				add(out, &lit, depth > 0);
			prev = lit;
			next(&lx, &t);
			continue;
		}
		prev = t;
		next(&lx, &t);
	}
}

void js_scan_free(struct js_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].spec);
	free(s->v);
	free(s->computed);
	memset(s, 0, sizeof(*s));
}
