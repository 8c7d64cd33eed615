/* Probes: what pare slim runs against the image (--exec commands, HTTP
 * requests to the running entrypoint, else the image's own command), and
 * their results in the report. Running them is the command's, for now. */
#define _GNU_SOURCE
#include "slimmer/slim_probes.h"

#include <stdio.h>
#include <string.h>

void probe_results_free(struct probe_result *pr, size_t n)
{
	for (size_t i = 0; pr && i < n; i++)
		free(pr[i].head);
	free(pr);
}

static void add_probe(struct probe_list *l, enum probe_kind kind, const char *cmd,
		      const struct http_probe *h)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct probe *p = &l->v[l->n++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->cmd = cmd;
	if (h)
		p->http = *h;
	p->label = kind == P_EXEC ? xasprintf("exec '%s'", cmd)
		   : kind == P_HTTP ? xasprintf("%s %s on port %u", h->method, h->path, h->port)
				    : xstrdup("the image's command");
}

void probes_free(struct probe_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].label);
		http_probe_free(&l->v[i].http);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static unsigned first_tcp_port(const struct image_config *c, size_t *count)
{
	unsigned first = 0;
	*count = 0;
	for (size_t i = 0; i < c->exposed_ports.n; i++) {
		unsigned port;
		char proto[8] = "tcp";
		if (sscanf(c->exposed_ports.v[i], "%u/%7s", &port, proto) < 1 || strcmp(proto, "tcp"))
			continue;
		if (!first)
			first = port;
		(*count)++;
	}
	return first;
}

/* --exec probes, then --http probes (or GET / on every exposed TCP port
 * when no probe is given), else the image's own command. */
int probes_plan(struct probe_list *l, const struct strv *execs, const struct strv *http,
		const struct strv *http_files, const struct image_config *c, struct perr *err)
{
	size_t nports;
	unsigned port = first_tcp_port(c, &nports);
	for (size_t i = 0; i < execs->n; i++)
		add_probe(l, P_EXEC, execs->v[i], NULL);
	for (size_t i = 0; i < http->n; i++) {
		struct http_probe h;
		if (http_probe_parse(http->v[i], port, &h, err) < 0)
			return -1;
		add_probe(l, P_HTTP, NULL, &h);
	}
	for (size_t i = 0; i < http_files->n; i++) {
		struct http_probe *hp = NULL;
		size_t n = 0;
		if (http_probe_file(http_files->v[i], port, &hp, &n, err) < 0) {
			for (size_t j = 0; j < n; j++)
				http_probe_free(&hp[j]);
			free(hp);
			return perr_wrap(err, "--http-file");
		}
		for (size_t j = 0; j < n; j++)
			add_probe(l, P_HTTP, NULL, &hp[j]);
		free(hp);
	}
	if (!execs->n && !http->n && !http_files->n) {
		for (size_t i = 0; i < c->exposed_ports.n; i++) {
			unsigned pt;
			char proto[8] = "tcp";
			if (sscanf(c->exposed_ports.v[i], "%u/%7s", &pt, proto) < 1 || strcmp(proto, "tcp"))
				continue;
			struct http_probe h = { .method = "GET", .path = xstrdup("/"), .port = pt };
			add_probe(l, P_HTTP, NULL, &h);
		}
		if (!nports)
			add_probe(l, P_COMMAND, NULL, NULL);
	}
	return 0;
}


json_t *probes_json(const struct probe_list *l, const struct probe_result *pr, size_t n, bool verify)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s,s:I}", "probe", l->v[i].label, "duration_ms",
				      (json_int_t)pr[i].duration_ms);
		if (l->v[i].kind == P_HTTP) {
			json_object_set_new(o, "http_status", json_integer(pr[i].code));
			json_object_set_new(o, "body_sha256", json_string(pr[i].digest));
			json_object_set_new(o, "body_bytes", json_integer((json_int_t)pr[i].len));
			if (*pr[i].error)
				json_object_set_new(o, "error", json_string(pr[i].error));
		} else {
			json_object_set_new(o, "exit_code", json_integer(pr[i].code));
			json_object_set_new(o, "timed_out", json_boolean(pr[i].timed_out));
			json_object_set_new(o, "stdout_sha256", json_string(pr[i].digest));
			json_object_set_new(o, "stdout_bytes", json_integer((json_int_t)pr[i].len));
		}
		json_object_set_new(o, "ok", json_boolean(pr[i].ok));
		if (verify) /* what --verify compared */
			json_object_set_new(o, l->v[i].kind == P_HTTP ? "body" : "stdout",
					    json_string(pr[i].noise ? "nondeterministic" : "deterministic"));
		json_array_append_new(a, o);
	}
	return a;
}

size_t probe_stdout_difference(const char *a, size_t an, const char *b, size_t bn, const char **al,
			       const char **bl)
{
	size_t line = 1, i = 0, start = 0;
	for (; i < an && i < bn && a[i] == b[i]; i++)
		if (a[i] == '\n') {
			line++;
			start = i + 1;
		}
	if (i == an && i == bn)
		return 0;
	*al = a + start;
	*bl = b + start;
	return line;
}
