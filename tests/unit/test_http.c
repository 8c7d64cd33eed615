/* The HTTP probe client's pure parts: the --http grammar, --http-file's
 * JSON and its errors, the response parser, and reading the helper's
 * result lines (progress lines skipped, missing answers marked). */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "tracer/http.h"

#include <string.h>

static void test_parse(void)
{
	struct http_probe h;
	struct perr err;
	ok(http_probe_parse("/health", 8080, &h, &err) == 0 && !strcmp(h.method, "GET") &&
		   !strcmp(h.path, "/health") && h.port == 8080,
	   "PATH: GET on the default port");
	http_probe_free(&h);
	ok(http_probe_parse("POST:/api:3000", 80, &h, &err) == 0 && !strcmp(h.method, "POST") &&
		   !strcmp(h.path, "/api") && h.port == 3000,
	   "METHOD:PATH:PORT");
	http_probe_free(&h);
	ok(http_probe_parse("/x", 0, &h, &err) < 0, "no port and no default: refused (%s)", err.msg);
	ok(http_probe_parse("/x:99999", 80, &h, &err) < 0, "port out of range: refused (%s)", err.msg);
}

static void test_file(void)
{
	char *dir = test_tempdir();
	char file[4200];
	snprintf(file, sizeof(file), "%s/probes.json", dir);
	FILE *f = fopen(file, "w");
	fputs("[{\"path\": \"/a\"}, {\"method\": \"PUT\", \"path\": \"/b\", \"port\": 81, "
	      "\"headers\": {\"X-T\": \"1\"}, \"body\": \"hi\", \"status\": 201}]", f);
	fclose(f);
	struct http_probe *p = NULL;
	size_t n = 0;
	struct perr err;
	ok(http_probe_file(file, 80, &p, &n, &err) == 0 && n == 2, "two probes from a file");
	ok(n == 2 && p[0].port == 80 && !strcmp(p[1].method, "PUT") && p[1].port == 81 &&
		   p[1].expect == 201 && p[1].body && !strcmp(p[1].body, "hi") && p[1].headers &&
		   strstr(p[1].headers, "X-T: 1\r\n"),
	   "defaults, and every field of the second");
	for (size_t i = 0; i < n; i++)
		http_probe_free(&p[i]);
	free(p);
	f = fopen(file, "w");
	fputs("[{\"path\": \"/a\"}, {\"port\": 81}]", f);
	fclose(f);
	p = NULL;
	n = 0;
	int r = http_probe_file(file, 80, &p, &n, &err);
	ok(r < 0 && strstr(err.msg, "probes.json"), "an entry without a path: the file is named (%s)",
	   err.msg);
	for (size_t i = 0; i < n; i++)
		http_probe_free(&p[i]);
	free(p);
	rm_rf(dir);
	free(dir);
}

static void test_response(void)
{
	static const char good[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
	int status = 0;
	size_t body = 0;
	ok(http_parse_response(good, strlen(good), &status, &body) == 0 && status == 404 &&
		   !strcmp(good + body, "no"),
	   "status and where the body starts");
	static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
	ok(http_parse_response(partial, strlen(partial), &status, &body) < 0, "no end of header: refused");
	static const char other[] = "SSH-2.0-OpenSSH\r\n\r\n";
	ok(http_parse_response(other, strlen(other), &status, &body) < 0, "not HTTP: refused");
}

static void test_collect(void)
{
	static const char out[] = "WAIT 80\nWAIT 80\nOK 200 sha256:abc 12\nERR connection refused\n";
	struct http_result r[3];
	http_collect(out, strlen(out), r, 3);
	ok(r[0].ok && r[0].status == 200 && !strcmp(r[0].body_digest, "sha256:abc") && r[0].body_len == 12,
	   "an answer: status, digest, length (progress lines skipped)");
	ok(!r[1].ok && !strcmp(r[1].error, "connection refused"), "an error, as the helper said it");
	ok(!r[2].ok && r[2].no_result, "a probe without a line: no result");
}

int main(void)
{
	test_parse();
	test_file();
	test_response();
	test_collect();
	return tap_done();
}
