#define _GNU_SOURCE
#include "tracer/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#define MAX_RESPONSE (64u << 20)

int http_probe_parse(const char *spec, unsigned default_port, struct http_probe *out,
		     struct perr *err)
{
	memset(out, 0, sizeof(*out));
	const char *p = spec, *colon = strchr(spec, ':');
	snprintf(out->method, sizeof(out->method), "GET");
	if (colon && colon != spec && spec[0] != '/') {
		size_t n = (size_t)(colon - spec);
		if (n >= sizeof(out->method))
			return perr_set(err, 0, "--http '%s': method too long", spec);
		memcpy(out->method, spec, n);
		out->method[n] = 0;
		for (char *m = out->method; *m; m++)
			if (*m < 'A' || *m > 'Z')
				return perr_set(err, 0, "--http '%s': bad method", spec);
		p = colon + 1;
	}
	if (p[0] != '/')
		return perr_set(err, 0, "--http '%s': the path must start with '/'", spec);
	const char *pc = strrchr(p, ':');
	out->port = default_port;
	size_t plen = strlen(p);
	if (pc) {
		uint64_t port;
		if (parse_u64(pc + 1, &port) < 0 || port == 0 || port > 65535)
			return perr_set(err, 0, "--http '%s': bad port", spec);
		out->port = (unsigned)port;
		plen = (size_t)(pc - p);
	}
	if (!out->port)
		return perr_set(err, 0, "--http '%s': no port given and the image exposes none", spec);
	out->path = strndup(p, plen);
	return 0;
}

void http_probe_free(struct http_probe *p)
{
	free(p->path);
	free(p->headers);
	free(p->body);
	p->path = p->headers = p->body = NULL;
}

static int file_probe(const char *file, size_t i, json_t *e, unsigned default_port,
		      struct http_probe *h, struct perr *err)
{
	const char *keys[] = { "method", "path", "port", "headers", "body", "status" };
	const char *key;
	json_t *v;
	memset(h, 0, sizeof(*h));
	if (!json_is_object(e))
		return perr_set(err, 0, "%s: [%zu]: not an object", file, i);
	json_object_foreach(e, key, v) {
		bool known = false;
		for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
			known |= !strcmp(key, keys[k]);
		if (!known)
			return perr_set(err, 0, "%s: [%zu]: unknown key \"%s\"", file, i, key);
	}
	const char *method = json_string_value(json_object_get(e, "method"));
	const char *path = json_string_value(json_object_get(e, "path"));
	json_t *port = json_object_get(e, "port"), *status = json_object_get(e, "status");
	json_t *headers = json_object_get(e, "headers"), *body = json_object_get(e, "body");
	if (!path || path[0] != '/')
		return perr_set(err, 0, "%s: [%zu]: \"path\" must be a string starting with '/'", file, i);
	if ((port && (!json_is_integer(port) || json_integer_value(port) < 1 ||
		      json_integer_value(port) > 65535)) ||
	    (status && (!json_is_integer(status) || json_integer_value(status) < 100 ||
			json_integer_value(status) > 599)) ||
	    (headers && !json_is_object(headers)) || (body && !json_is_string(body)) ||
	    (json_object_get(e, "method") && (!method || !*method || strlen(method) >= sizeof(h->method))))
		return perr_set(err, 0, "%s: [%zu]: bad method, port, status, headers or body", file, i);
	snprintf(h->method, sizeof(h->method), "%s", method ? method : "GET");
	h->port = port ? (unsigned)json_integer_value(port) : default_port;
	if (!h->port)
		return perr_set(err, 0, "%s: [%zu]: no port and the image exposes none", file, i);
	h->expect = status ? (int)json_integer_value(status) : 0;
	h->path = xstrdup(path);
	h->body = body ? xstrdup(json_string_value(body)) : NULL;
	if (headers) {
		size_t len = 0;
		h->headers = xstrdup("");
		json_object_foreach(headers, key, v) {
			if (!json_is_string(v) || strpbrk(key, "\r\n:") || strpbrk(json_string_value(v), "\r\n")) {
				http_probe_free(h);
				return perr_set(err, 0, "%s: [%zu]: header \"%s\" is not a plain string", file, i, key);
			}
			char *line = xasprintf("%s: %s\r\n", key, json_string_value(v));
			h->headers = xrealloc(h->headers, len + strlen(line) + 1);
			strcpy(h->headers + len, line);
			len += strlen(line);
			free(line);
		}
	}
	return 0;
}

int http_probe_file(const char *file, unsigned default_port, struct http_probe **p, size_t *n,
		    struct perr *err)
{
	json_error_t je;
	cleanup_free char *text = NULL;
	size_t len;
	if (read_side_file(file, SIDE_FILE_MAX, &text, &len, err) < 0)
		return -1;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return perr_set(err, 0, "'%s': not valid JSON: %s (line %d)", file, je.text, je.line);
	int rc = 0;
	if (!json_is_array(j)) {
		rc = perr_set(err, 0, "%s: expected an array of requests", file);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(j, i, e) {
			struct http_probe h;
			if ((rc = file_probe(file, i, e, default_port, &h, err)) < 0)
				break;
			*p = xrealloc(*p, (*n + 1) * sizeof(**p));
			(*p)[(*n)++] = h;
		}
	}
	json_decref(j);
	return rc;
}

/* Connect to 127.0.0.1:PORT, retrying while the server is not up yet.
 * OUT hears "WAIT PORT" first, so that the loop can say what it waits for. */
static int connect_until(unsigned port, uint64_t started, uint64_t deadline, int out, char *why,
			 size_t sz)
{
	char line[32];
	snprintf(line, sizeof(line), "WAIT %u\n", port);
	(void)!write(out, line, strlen(line));
	for (;;) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
			struct timeval tv = { 30, 0 };
			setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			return s;
		}
		int e = errno;
		if (s >= 0)
			close(s);
		if (monotonic_ms() >= deadline) {
			snprintf(why, sz, "timed out after %llu s waiting for port %u to accept a connection "
				 "(last attempt: %s)", (unsigned long long)((deadline - started + 999) / 1000),
				 port, strerror(e));
			return -1;
		}
		usleep(100000);
	}
}

int http_parse_response(const char *buf, size_t len, int *status, size_t *body)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	/* "HTTP/1.x NNN": three digits, then a space or the end of the line. */
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) || !(buf[7] >= '0' && buf[7] <= '9') || buf[8] != ' ' ||
	    !end)
		return -1;
	int s = 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		s = s * 10 + (buf[i] - '0');
	}
	if (len > 12 && buf[12] != ' ' && buf[12] != '\r')
		return -1;
	*status = s;
	*body = (size_t)(end - buf) + 4;
	return 0;
}

/* A server that is not HTTP may wait for more and never close: with
 * ANY_ANSWER give up reading after this long without a byte. */
#define ANY_ANSWER_IDLE_S 2

static void one_probe(const struct http_probe *p, uint64_t started, uint64_t deadline, int out)
{
	char why[160] = "", line[256];
	int s = connect_until(p->port, started, deadline, out, why, sizeof(why));
	if (s < 0) {
		snprintf(line, sizeof(line), "ERR %s\n", why);
		(void)!write(out, line, strlen(line));
		return;
	}
	if (p->connect_only) {
		close(s);
		(void)!write(out, "ACCEPTED\n", 9);
		return;
	}
	if (p->any_answer) {
		struct timeval tv = { ANY_ANSWER_IDLE_S, 0 };
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	char clen[64] = "";
	if (p->body)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", strlen(p->body));
	cleanup_free char *req = xasprintf("%s %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: pare\r\n"
					   "Connection: close\r\n%s%s\r\n%s", p->method, p->path,
					   p->headers ? p->headers : "", clen, p->body ? p->body : "");
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap);
	ssize_t n = write_all(s, req, strlen(req)) < 0 ? -1 : 0;
	while (n >= 0 && (n = read(s, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap && cap < MAX_RESPONSE)
			buf = xrealloc(buf, cap *= 2);
		else if (len == cap)
			break;
	}
	close(s);
	int status = 0;
	size_t body;
	if (http_parse_response(buf, len, &status, &body) == 0) {
		char d[DIGEST_STR_LEN + 1];
		sha256_buf(buf + body, len - body, d);
		snprintf(line, sizeof(line), "OK %d %s %zu\n", status, d, len - body);
	} else if (p->any_answer) {
		/* What a non-HTTP server says to an HTTP request is not
		 * compared: it accepted, which is what the probe asks. */
		snprintf(line, sizeof(line), "NOTHTTP\n");
	} else {
		snprintf(line, sizeof(line), "ERR no HTTP response on port %u\n", p->port);
	}
	free(buf);
	(void)!write(out, line, strlen(line));
}

int http_start(pid_t init, const struct http_probe *p, size_t n, uint64_t timeout_ms, pid_t *pid,
	       int *fd, struct perr *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)init);
	cleanup_close int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return perr_set(err, errno, "cannot open the sandbox's network namespace");
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return perr_set(err, errno, "pipe");
	pid_t child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return perr_set(err, errno, "fork");
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		close(pfd[0]);
		if (setns(ns, CLONE_NEWNET) < 0) {
			(void)!write(pfd[1], "ERR cannot join the sandbox's network\n", 38);
			_exit(1);
		}
		uint64_t started = monotonic_ms();
		uint64_t deadline = started + (timeout_ms ? timeout_ms : HTTP_DEFAULT_TIMEOUT_MS);
		for (size_t i = 0; i < n; i++)
			one_probe(&p[i], started, deadline, pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	*pid = child;
	*fd = pfd[0];
	return 0;
}

void http_collect(const char *buf, size_t len, struct http_result *r, size_t n)
{
	size_t i = 0;
	for (const char *p = buf; i < n && p < buf + len;) {
		const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		if (!nl)
			break;
		/* One line, NUL-terminated: BUF is not, and sscanf reads to a NUL. */
		char line[256];
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p < 255 ? nl - p : 255), p);
		p = nl + 1;
		if (!strncmp(line, "WAIT ", 5)) /* progress, not a result */
			continue;
		memset(&r[i], 0, sizeof(r[i]));
		unsigned long long blen = 0;
		if (!strncmp(line, "OK ", 3) &&
		    sscanf(line + 3, "%d %71s %llu", &r[i].status, r[i].body_digest, &blen) == 3) {
			r[i].ok = true;
			r[i].body_len = blen;
		} else if (!strcmp(line, "ACCEPTED") || !strcmp(line, "NOTHTTP")) {
			r[i].ok = true;
			r[i].not_http = line[0] == 'N';
		} else {
			snprintf(r[i].error, sizeof(r[i].error), "%.*s", (int)sizeof(r[i].error) - 1,
				 !strncmp(line, "ERR ", 4) ? line + 4 : line);
		}
		i++;
	}
	for (; i < n; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].no_result = true;
		snprintf(r[i].error, sizeof(r[i].error), "no answer: the run ended first");
	}
}
