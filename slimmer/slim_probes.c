/* Probes: what pare slim runs against the image (--exec commands and HTTP
 * requests beside the running entrypoint, --run commands in place of it,
 * else the image's own command), the readiness waits before them, and
 * their results in the report. slim_runs.c runs them. */
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

void probe_args_push(struct probe_args *a, enum probe_arg_kind kind, const char *text)
{
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
	a->v[a->n++] = (struct probe_arg){ kind, xstrdup(text) };
}

void probe_args_free(struct probe_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].text);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

bool probe_args_have(const struct probe_args *a, enum probe_arg_kind kind)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].kind == kind)
			return true;
	return false;
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
		   : kind == P_RUN ? xasprintf("run '%s'", cmd)
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
	free(l->wait_ports);
	memset(l, 0, sizeof(*l));
}

static bool port_of(const char *exposed, unsigned *port)
{
	char proto[8] = "tcp";
	return sscanf(exposed, "%u/%7s", port, proto) >= 1 && !strcmp(proto, "tcp");
}

static void wait_for_port(struct probe_list *l, unsigned port)
{
	for (size_t i = 0; i < l->n_wait_ports; i++)
		if (l->wait_ports[i] == port)
			return;
	l->wait_ports = xrealloc(l->wait_ports, (l->n_wait_ports + 1) * sizeof(*l->wait_ports));
	l->wait_ports[l->n_wait_ports++] = port;
}

static int add_http_file(struct probe_list *l, const char *file, unsigned port, struct perr *err)
{
	struct http_probe *hp = NULL;
	size_t n = 0;
	int r = http_probe_file(file, port, &hp, &n, err);
	for (size_t j = 0; j < n; j++) {
		if (r == 0)
			add_probe(l, P_HTTP, NULL, &hp[j]);
		else
			http_probe_free(&hp[j]);
	}
	free(hp);
	return r < 0 ? perr_wrap(err, "--http-file") : 0;
}

/* Readiness: what --wait-port and --wait-cmd say, else every exposed TCP
 * port and each HTTP probe's. */
static int plan_readiness(struct probe_list *l, const struct readiness *ready,
			  const struct image_config *c, struct perr *err)
{
	for (size_t i = 0; i < ready->ports.n; i++) {
		char *end;
		unsigned long p = strtoul(ready->ports.v[i], &end, 10);
		if (*end || !p || p > 65535)
			return perr_set(err, 0, "--wait-port '%s' is not a TCP port number", ready->ports.v[i]);
		wait_for_port(l, (unsigned)p);
	}
	l->wait_cmds = (const char *const *)ready->cmds.v;
	l->n_wait_cmds = ready->cmds.n;
	if (ready->ports.n || ready->cmds.n)
		return 0;
	unsigned port;
	for (size_t i = 0; i < c->exposed_ports.n; i++)
		if (port_of(c->exposed_ports.v[i], &port))
			wait_for_port(l, port);
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].kind == P_HTTP)
			wait_for_port(l, l->v[i].http.port);
	return 0;
}

int probes_plan(struct probe_list *l, const struct probe_args *args, const struct readiness *ready,
		const struct image_config *c, struct perr *err)
{
	unsigned first = 0, port;
	size_t nports = 0;
	for (size_t i = 0; i < c->exposed_ports.n; i++)
		if (port_of(c->exposed_ports.v[i], &port) && !nports++)
			first = port;
	bool server = nports || ready->ports.n || ready->cmds.n || probe_args_have(args, ARG_HTTP) ||
		      probe_args_have(args, ARG_HTTP_FILE);
	for (size_t i = 0; i < args->n; i++) {
		const struct probe_arg *a = &args->v[i];
		struct http_probe h;
		switch (a->kind) {
		case ARG_EXEC: add_probe(l, server ? P_EXEC : P_RUN, a->text, NULL); break;
		case ARG_RUN: add_probe(l, P_RUN, a->text, NULL); break;
		case ARG_HTTP:
			if (http_probe_parse(a->text, first, &h, err) < 0)
				return -1;
			add_probe(l, P_HTTP, NULL, &h);
			break;
		case ARG_HTTP_FILE:
			if (add_http_file(l, a->text, first, err) < 0)
				return -1;
			break;
		}
	}
	l->one_shot = !server && probe_args_have(args, ARG_EXEC);
	if (!args->n) {
		for (size_t i = 0; i < c->exposed_ports.n; i++) {
			if (!port_of(c->exposed_ports.v[i], &port))
				continue;
			struct http_probe h = { .method = "GET", .path = xstrdup("/"), .port = port,
						.any_answer = true };
			add_probe(l, P_HTTP, NULL, &h);
		}
		if (!nports)
			add_probe(l, P_COMMAND, NULL, NULL);
	}
	for (size_t i = 0; i < l->n; i++)
		l->beside |= l->v[i].kind == P_EXEC || l->v[i].kind == P_HTTP;
	return l->beside ? plan_readiness(l, ready, c, err) : 0;
}


json_t *probes_json(const struct probe_list *l, const struct probe_result *pr, size_t n, bool verify)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		static const char *const runs[] = { [P_COMMAND] = "as the entrypoint",
						    [P_RUN] = "in place of the entrypoint",
						    [P_EXEC] = "beside the entrypoint",
						    [P_HTTP] = "beside the entrypoint" };
		json_t *o = json_pack("{s:s,s:s,s:I}", "probe", l->v[i].label, "runs", runs[l->v[i].kind],
				      "duration_ms", (json_int_t)pr[i].duration_ms);
		if (l->v[i].kind == P_HTTP) {
			json_object_set_new(o, "http_status", json_integer(pr[i].code));
			json_object_set_new(o, "body_sha256", json_string(pr[i].digest));
			json_object_set_new(o, "body_bytes", json_integer((json_int_t)pr[i].len));
			if (pr[i].not_http)
				json_object_set_new(o, "note", json_string("accepts connections; not HTTP"));
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
