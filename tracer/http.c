#define _GNU_SOURCE
#include "http.h"

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
	p->path = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Connect to 127.0.0.1:PORT, retrying while the server is not up yet. */
static int connect_until(unsigned port, uint64_t deadline, char *why, size_t sz)
{
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
		if (now_ms() >= deadline) {
			snprintf(why, sz, "cannot connect to port %u: %s", port, strerror(e));
			return -1;
		}
		usleep(100000);
	}
}

static void one_probe(const struct http_probe *p, uint64_t deadline, int out)
{
	char why[160] = "", line[256];
	int s = connect_until(p->port, deadline, why, sizeof(why));
	if (s < 0) {
		snprintf(line, sizeof(line), "ERR %s\n", why);
		(void)!write(out, line, strlen(line));
		return;
	}
	cleanup_free char *req = xasprintf("%s %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: pare\r\n"
					   "Connection: close\r\n\r\n", p->method, p->path);
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
	char *body = memmem(buf, len, "\r\n\r\n", 4);
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) || sscanf(buf + 9, "%3d", &status) != 1 || !body) {
		snprintf(line, sizeof(line), "ERR no HTTP response on port %u\n", p->port);
	} else {
		body += 4;
		char d[DIGEST_STR_LEN + 1];
		sha256_buf(body, len - (size_t)(body - buf), d);
		snprintf(line, sizeof(line), "OK %d %s %zu\n", status, d, len - (size_t)(body - buf));
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
		uint64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 30000);
		for (size_t i = 0; i < n; i++)
			one_probe(&p[i], deadline, pfd[1]);
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
	for (const char *p = buf; i < n && p < buf + len; i++) {
		const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		if (!nl)
			break;
		memset(&r[i], 0, sizeof(r[i]));
		unsigned long long blen = 0;
		if (!strncmp(p, "OK ", 3) &&
		    sscanf(p + 3, "%d %71s %llu", &r[i].status, r[i].body_digest, &blen) == 3) {
			r[i].ok = true;
			r[i].body_len = blen;
		} else {
			snprintf(r[i].error, sizeof(r[i].error), "%.*s", (int)(nl - p - (p[0] == 'E' ? 4 : 0)),
				 p + (p[0] == 'E' ? 4 : 0));
		}
		p = nl + 1;
	}
	for (; i < n; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		snprintf(r[i].error, sizeof(r[i].error), "no result (the probe helper died)");
	}
}
