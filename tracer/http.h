/* HTTP probes: our own client (no curl needed in the image), run by a
 * helper process that joins the sandbox's network namespace, waits for the
 * port with retries until a deadline, and reports status and body digest. */
#ifndef PARE_HTTP_H
#define PARE_HTTP_H

#include <sys/types.h>

#include "base/digest.h"
#include "base/util.h"

struct http_probe {
	char method[16];
	char *path;
	unsigned port;
	char *headers;   /* extra "Name: value\r\n" lines, or NULL */
	char *body;      /* request body, or NULL */
	int expect;      /* expected status; 0 = any below 400 */
	bool connect_only; /* a readiness wait: done once the port accepts */
	bool any_answer;   /* no probe given: a server that is not HTTP passes */
};

struct http_result {
	bool ok;                 /* a response arrived */
	int status;
	char body_digest[DIGEST_STR_LEN + 1];
	uint64_t body_len;
	bool no_result;          /* the run ended before the probe got its turn or an answer */
	bool not_http;           /* ANY_ANSWER: it accepted, and did not answer HTTP */
	char error[200];
};

/* How long the helper waits for a port when no --timeout is given. */
#define HTTP_DEFAULT_TIMEOUT_MS 30000

/* "[METHOD:]PATH[:PORT]"; PORT defaults to DEFAULT_PORT (0 = required). */
int http_probe_parse(const char *spec, unsigned default_port, struct http_probe *out,
		     struct perr *err);
void http_probe_free(struct http_probe *p);
/* Probes from a JSON file: an array of {"method", "path", "port",
 * "headers": {name: value}, "body", "status"}; only "path" is required.
 * Appends to *P / *N. Errors name the file and the entry. */
int http_probe_file(const char *file, unsigned default_port, struct http_probe **p, size_t *n,
		    struct perr *err);

/* Start the helper for the sandbox whose pid 1 is INIT (host pid). Its
 * results arrive on *FD (EOF when done): pass them to http_collect(). */
int http_start(pid_t init, const struct http_probe *p, size_t n, uint64_t timeout_ms, pid_t *pid,
	       int *fd, struct perr *err);
/* A response's status line and where its body starts: 0, or -1 when BUF
 * is not an HTTP/1.x response with a complete header. */
int http_parse_response(const char *buf, size_t len, int *status, size_t *body);
/* Parse the helper's output BUF into R[N]; missing ones get an error.
 * "WAIT PORT" lines (the helper is waiting for PORT) are skipped. */
void http_collect(const char *buf, size_t len, struct http_result *r, size_t n);

#endif
