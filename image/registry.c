/* The registry client (registry.h): one libcurl easy handle per session
 * for requests that fit in memory, a multi handle per blob stream. */
#define _GNU_SOURCE
#include "image/registry.h"
#include "image/source.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* A request is tried 1 + RETRIES times, waiting BACKOFF_MS, then twice
 * that, ...: 0.5 + 1 + 2 + 4 s ride out a registry's restart. */
#define RETRIES 4
#define BACKOFF_MS 500
/* What a blob stream holds before it pauses the transfer. */
#define STREAM_HIGH (1u << 20)
/* Error bodies, challenges and token answers are small. */
#define SMALL_BODY (1u << 20)

struct registry {
	char *host, *repo;
	char *base; /* "https://HOST" or, with TLS verification off, maybe "http://HOST" */
	struct registry_opts o;
	bool push;
	struct registry_creds creds;
	bool creds_looked;
	bool basic;  /* the registry asked for basic auth: send it */
	bool in_token; /* asking the token server: its challenges are not ours */
	char *token; /* a Bearer token for this repository's scope */
	char *ca_blob; /* the system CAs plus --cert-dir's, when it has any */
	size_t ca_len;
	char *client_cert, *client_key;
	/* registry_reuse_blob found this blob absent (and may have started
	 * its upload): the push that follows does not ask again */
	char absent[DIGEST_STR_LEN + 1];
	char *absent_location;
	CURL *h;
	char errbuf[CURL_ERROR_SIZE];
};

struct req {
	const char *method; /* GET, HEAD, PUT, POST */
	char *url;
	const char *accept, *content_type;
	const char *extra_scope; /* another repository a mount reads */
	/* the body sent: UP_BUF, or UP_LEN bytes of UP_FD; BLOB's, for progress */
	const char *blob;
	const struct registry_opts *o;
	const char *up_buf;
	int up_fd;
	uint64_t up_len, up_off;
	/* the answer */
	long status;
	char *body;
	size_t len;
	bool body_cut;
	char *location, *ctype, *digest, *www_auth;
};

static void req_reset_answer(struct req *q)
{
	free(q->body);
	free(q->location);
	free(q->ctype);
	free(q->digest);
	free(q->www_auth);
	q->body = q->location = q->ctype = q->digest = q->www_auth = NULL;
	q->len = 0;
	q->status = 0;
	q->body_cut = false;
}

static void req_free(struct req *q)
{
	req_reset_answer(q);
	free(q->url);
}

const char *registry_host(const struct registry *r)
{
	return r->host;
}

const char *registry_repo(const struct registry *r)
{
	return r->repo;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Worth another try: the registry went away or answered "later". */
static bool curl_retriable(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR ||
	       c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE || c == CURLE_OPERATION_TIMEDOUT;
}

static bool status_retriable(long s)
{
	return s == 429 || (s >= 500 && s != 501 && s != 505);
}

/* ---------- TLS ---------- */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && !strcmp(s + n - m, suffix);
}

static int append_file(const char *path, char **buf, size_t *len, struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t n;
	if (read_side_file(path, SIDE_FILE_MAX, &text, &n, err) < 0)
		return -1;
	*buf = xrealloc(*buf, *len + n + 2);
	memcpy(*buf + *len, text, n);
	*len += n;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = 0;
	return 0;
}

/* A certificate directory as skopeo reads one: every *.crt is a CA added
 * to the system's, a *.cert with its *.key is the client's pair. The
 * default directories are used when they exist. */
static int load_cert_dir(struct registry *r, struct perr *err)
{
	cleanup_free char *def1 = xasprintf("/etc/containers/certs.d/%s", r->host);
	cleanup_free char *def2 = xasprintf("/etc/docker/certs.d/%s", r->host);
	const char *dir = r->o.cert_dir;
	if (!dir)
		dir = access(def1, F_OK) == 0 ? def1 : access(def2, F_OK) == 0 ? def2 : NULL;
	if (!dir)
		return 0;
	cleanup_dir DIR *d = opendir(dir);
	if (!d)
		return perr_set(err, errno, "--cert-dir '%s'", dir);
	struct dirent *de;
	cleanup_strv struct strv names = { 0 };
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			strv_push(&names, xstrdup(de->d_name));
	strv_sort(&names);
	for (size_t i = 0; i < names.n; i++) {
		cleanup_free char *path = xasprintf("%s/%s", dir, names.v[i]);
		if (has_suffix(names.v[i], ".crt")) {
			if (!r->ca_blob) {
				char *sys = NULL;
				r->ca_blob = xstrdup("");
				if (curl_easy_getinfo(r->h, CURLINFO_CAINFO, &sys) == CURLE_OK && sys &&
				    access(sys, R_OK) == 0 && append_file(sys, &r->ca_blob, &r->ca_len, err) < 0)
					return -1;
			}
			if (append_file(path, &r->ca_blob, &r->ca_len, err) < 0)
				return -1;
		} else if (has_suffix(names.v[i], ".cert") && !r->client_cert) {
			cleanup_free char *key = xasprintf("%.*s.key", (int)(strlen(path) - 5), path);
			if (access(key, R_OK) < 0)
				return perr_set(err, 0, "'%s' has no key beside it ('%s')", path, key);
			r->client_cert = steal_pointer(&path);
			r->client_key = steal_pointer(&key);
		}
	}
	return 0;
}

/* ---------- one request ---------- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t len = size * n;
	if (q->len + len > SMALL_BODY * 16) {
		q->body_cut = true;
		return 0;
	}
	q->body = xrealloc(q->body, q->len + len + 1);
	memcpy(q->body + q->len, p, len);
	q->len += len;
	q->body[q->len] = 0;
	return len;
}

static size_t on_upload(char *p, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t want = size * n;
	if (want > q->up_len - q->up_off)
		want = (size_t)(q->up_len - q->up_off);
	if (!want)
		return 0;
	if (q->up_buf) {
		memcpy(p, q->up_buf + q->up_off, want);
	} else {
		ssize_t got = pread(q->up_fd, p, want, (off_t)q->up_off);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)got;
	}
	q->up_off += want;
	if (q->blob && q->o->on_bytes)
		q->o->on_bytes(q->o->on_bytes_ctx, "push", q->blob, q->up_off, q->up_len);
	return want;
}

static char *header_of(CURL *h, const char *name)
{
	struct curl_header *hh;
	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hh) != CURLHE_OK)
		return NULL;
	return xstrdup(hh->value);
}

/* The options every request of a session carries. */
static void set_common(struct registry *r, CURL *h, const char *url)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "pare");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A blob may be served from elsewhere (a CDN, S3); never downgraded
	 * from https, and no Authorization goes to another host (libcurl). */
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, strncmp(r->base, "https:", 6) ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A transfer that stalls for a minute is broken: retry it. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	bool verify = r->o.tls_verify != TLS_NO_VERIFY;
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (r->ca_blob) {
		struct curl_blob b = { r->ca_blob, r->ca_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (r->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, r->client_key);
	}
	if (r->token) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, r->token);
	} else if (r->basic && r->creds.user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, r->creds.user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, r->creds.pass);
	}
}

static CURLcode perform_once(struct registry *r, struct req *q)
{
	struct curl_slist *hdrs = NULL;
	char line[512];
	curl_easy_reset(r->h);
	set_common(r, r->h, q->url);
	if (q->accept) {
		snprintf(line, sizeof(line), "Accept: %s", q->accept);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (q->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
		hdrs = curl_slist_append(hdrs, line);
	}
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, q);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(r->h, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(r->h, CURLOPT_FOLLOWLOCATION, 1L);
	} else if (!strcmp(q->method, "GET")) {
		curl_easy_setopt(r->h, CURLOPT_FOLLOWLOCATION, 1L);
	} else if (!strcmp(q->method, "PUT")) {
		q->up_off = 0;
		curl_easy_setopt(r->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(r->h, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(r->h, CURLOPT_READDATA, q);
		curl_easy_setopt(r->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->up_len);
		/* No "Expect: 100-continue" round trip. */
		hdrs = curl_slist_append(hdrs, "Expect:");
	} else { /* POST, empty */
		curl_easy_setopt(r->h, CURLOPT_POST, 1L);
		curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hdrs);
	req_reset_answer(q);
	r->errbuf[0] = 0;
	CURLcode c = curl_easy_perform(r->h);
	curl_slist_free_all(hdrs);
	if (c == CURLE_OK || c == CURLE_WRITE_ERROR) {
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &q->status);
		q->location = header_of(r->h, "Location");
		q->ctype = header_of(r->h, "Content-Type");
		q->digest = header_of(r->h, "Docker-Content-Digest");
		q->www_auth = header_of(r->h, "WWW-Authenticate");
	}
	return c;
}

/* The alerts (OpenSSL's words) a server sends when it wants a client
 * certificate and got none, or one it does not trust: no retry helps. */
static const char *const client_cert_alerts[] = {
	"alert bad certificate", "alert certificate required", "alert unknown ca",
	"alert certificate unknown",
};

static bool client_cert_refused(const struct registry *r)
{
	for (size_t i = 0; i < sizeof(client_cert_alerts) / sizeof(*client_cert_alerts); i++)
		if (strstr(r->errbuf, client_cert_alerts[i]))
			return true;
	return false;
}

/* A curl failure as one line naming the host. */
static int curl_error(struct registry *r, CURLcode c, struct perr *err)
{
	const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(c);
	if (client_cert_refused(r) && r->client_cert)
		return perr_set(err, 0, "%s: TLS: the registry refused the client certificate '%s' (%s)", r->host,
				r->client_cert, why);
	if (client_cert_refused(r))
		return perr_set(err, 0, "%s: TLS: the registry wants a client certificate (%s); put client.cert "
				"and client.key in --cert-dir DIR", r->host, why);
	if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE)
		return perr_set(err, 0, "%s: TLS: the registry's certificate is not trusted (%s); give its CA "
				"with --cert-dir DIR (DIR/ca.crt), or --tls-verify=false", r->host, why);
	if (c == CURLE_SSL_CONNECT_ERROR)
		return perr_set(err, 0, "%s: TLS handshake failed (%s)%s", r->host, why,
				r->o.tls_verify != TLS_NO_VERIFY ? "; a registry on plain http needs --tls-verify=false" : "");
	return perr_set(err, 0, "%s: %s", r->host, why);
}

static int authenticate(struct registry *r, const char *challenge, const char *extra_scope, struct perr *err);

/* Send Q, answering an auth challenge once and retrying what is worth
 * it. 0 with Q's answer (any status), or -1 when no answer came. */
static int reg_do(struct registry *r, struct req *q, struct perr *err)
{
	bool authed = false;
	for (int attempt = 0;; attempt++) {
		CURLcode c = perform_once(r, q);
		if (c != CURLE_OK && !(c == CURLE_WRITE_ERROR && q->body_cut)) {
			if (curl_retriable(c) && !client_cert_refused(r) && attempt < RETRIES) {
				sleep_ms(BACKOFF_MS << attempt);
				continue;
			}
			return curl_error(r, c, err);
		}
		if (q->body_cut)
			return perr_set(err, 0, "%s: an answer larger than %u bytes to %s %s", r->host,
					SMALL_BODY * 16, q->method, q->url);
		if (q->status == 401 && !authed && q->www_auth && !r->in_token) {
			authed = true;
			if (authenticate(r, q->www_auth, q->extra_scope, err) < 0)
				return -1;
			attempt--;
			continue;
		}
		if (status_retriable(q->status) && attempt < RETRIES) {
			sleep_ms(BACKOFF_MS << attempt);
			continue;
		}
		return 0;
	}
}

/* The registry's own words for a failed answer: errors[0].code/message. */
static void answer_reason(const struct req *q, char *out, size_t sz)
{
	json_t *j = q->body ? json_loadb(q->body, q->len, 0, NULL) : NULL;
	json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));
	if (code || msg)
		snprintf(out, sz, "HTTP %ld, %s%s%s", q->status, code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
	else
		snprintf(out, sz, "HTTP %ld", q->status);
	json_decref(j);
}

static const char *creds_said(const struct registry *r)
{
	return r->creds.user ? r->creds.source : NULL;
}

/* A failed answer to WHAT as one line, naming the credential used. */
static int answer_error(struct registry *r, const struct req *q, const char *what, struct perr *err)
{
	char why[512];
	answer_reason(q, why, sizeof(why));
	if (q->status == 401 || q->status == 403)
		return perr_set(err, 0, "%s/%s: %s: %s with %s (%s)", r->host, r->repo, what,
				q->status == 401 ? "authentication failed" : "access denied",
				creds_said(r) ? creds_said(r) : "no credentials (none found)", why);
	return perr_set(err, 0, "%s/%s: %s: %s", r->host, r->repo, what, why);
}

/* ---------- auth ---------- */

/* One parameter of a challenge ("realm", "service", "scope"), quoted
 * values with their commas. */
static char *challenge_param(const char *ch, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = ch; (p = strcasestr(p, key)); p += kl) {
		if (p != ch && !strchr(" ,", p[-1]))
			continue;
		const char *v = p + kl;
		if (*v != '=')
			continue;
		v++;
		if (*v == '"') {
			const char *end = strchr(++v, '"');
			return end ? strndup(v, (size_t)(end - v)) : NULL;
		}
		return strndup(v, strcspn(v, ", "));
	}
	return NULL;
}

static int need_creds(struct registry *r, struct perr *err)
{
	if (r->creds_looked)
		return 0;
	r->creds_looked = true;
	return registry_find_creds(r->host, &r->o, &r->creds, err);
}

static char *scope_of(const char *repo, bool push)
{
	return xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull");
}

static int fetch_token(struct registry *r, const char *challenge, const char *extra_scope, struct perr *err)
{
	cleanup_free char *realm = challenge_param(challenge, "realm");
	cleanup_free char *service = challenge_param(challenge, "service");
	cleanup_free char *scope = scope_of(r->repo, r->push);
	cleanup_free char *extra = extra_scope ? scope_of(extra_scope, false) : NULL;
	if (!realm || (strncmp(realm, "https://", 8) && strncmp(realm, "http://", 7)))
		return perr_set(err, 0, "%s: a Bearer challenge without a usable realm: %s", r->host, challenge);
	if (!strncmp(realm, "http://", 7) && r->o.tls_verify != TLS_NO_VERIFY && !strncmp(r->base, "https:", 6))
		return perr_set(err, 0, "%s: the token server '%s' is plain http; --tls-verify=false allows it",
				r->host, realm);
	cleanup_free char *esc_service = service ? curl_easy_escape(r->h, service, 0) : NULL;
	cleanup_free char *esc_scope = curl_easy_escape(r->h, scope, 0);
	cleanup_free char *esc_extra = extra ? curl_easy_escape(r->h, extra, 0) : NULL;
	struct req q = { .method = "GET" };
	q.url = xasprintf("%s%s%s%s&scope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
			  service ? "service=" : "", esc_service ? esc_service : "", esc_scope,
			  esc_extra ? "&scope=" : "", esc_extra ? esc_extra : "");
	/* The token server gets the basic credentials, if any: anonymous
	 * pulls get a token too. */
	char *token = r->token;
	bool basic = r->basic;
	r->token = NULL;
	r->basic = r->creds.user != NULL;
	r->in_token = true;
	int rc = reg_do(r, &q, err);
	r->in_token = false;
	r->basic = basic;
	free(token);
	if (rc == 0 && q.status != 200) {
		char why[512];
		answer_reason(&q, why, sizeof(why));
		rc = perr_set(err, 0, "%s: the token server %s refused %s (%s)", r->host, realm,
			      creds_said(r) ? creds_said(r) : "an anonymous request (no credentials found)", why);
	}
	json_t *j = rc == 0 ? json_loadb(q.body ? q.body : "", q.len, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "token"));
	if (!t)
		t = json_string_value(json_object_get(j, "access_token"));
	if (rc == 0 && (!t || !*t || strpbrk(t, "\r\n ")))
		rc = perr_set(err, 0, "%s: the token server %s answered without a token", r->host, realm);
	if (rc == 0)
		r->token = xstrdup(t);
	json_decref(j);
	req_free(&q);
	return rc;
}

static int authenticate(struct registry *r, const char *challenge, const char *extra_scope, struct perr *err)
{
	if (need_creds(r, err) < 0)
		return -1;
	if (!strncasecmp(challenge, "Bearer", 6))
		return fetch_token(r, challenge, extra_scope, err);
	if (strncasecmp(challenge, "Basic", 5))
		return perr_set(err, 0, "%s: unsupported authentication '%.40s'", r->host, challenge);
	if (!r->creds.user)
		return perr_set(err, 0, "%s: the registry wants a user name and password, and none was found "
				"(--creds, --authfile, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, "
				"~/.docker/config.json)", r->host);
	r->basic = true;
	free(r->token);
	r->token = NULL;
	return 0;
}

/* ---------- session ---------- */

static char *url_of(const struct registry *r, const char *kind, const char *ref)
{
	return xasprintf("%s/v2/%s/%s/%s", r->base, r->repo, kind, ref);
}

/* GET /v2/: which scheme answers, and whether auth is wanted. */
static int ping(struct registry *r, struct perr *err)
{
	struct req q = { .method = "GET" };
	r->base = xasprintf("https://%s", r->host);
	q.url = xasprintf("%s/v2/", r->base);
	CURLcode c = perform_once(r, &q);
	if (c != CURLE_OK && r->o.tls_verify == TLS_NO_VERIFY) {
		/* skopeo's --tls-verify=false: plain http when https fails. */
		free(r->base);
		free(q.url);
		r->base = xasprintf("http://%s", r->host);
		q.url = xasprintf("%s/v2/", r->base);
	}
	int rc = reg_do(r, &q, err);
	if (rc == 0 && q.status == 401 && (creds_said(r) || r->token || r->basic))
		rc = answer_error(r, &q, "login", err);
	else if (rc == 0 && q.status != 200)
		rc = perr_set(err, 0, "%s: not a registry (GET /v2/ answered HTTP %ld)", r->host, q.status);
	req_free(&q);
	return rc;
}

int registry_open(const char *host, const char *repo, const struct registry_opts *o, bool push,
		  struct registry **out, struct perr *err)
{
	static bool curl_ready;
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = true;
	}
	cleanup_registry struct registry *r = xcalloc(1, sizeof(*r));
	r->host = xstrdup(host);
	r->repo = xstrdup(repo);
	r->o = o ? *o : (struct registry_opts){ 0 };
	r->push = push;
	r->h = curl_easy_init();
	if (!r->h)
		return perr_set(err, 0, "%s: cannot start libcurl", host);
	if (load_cert_dir(r, err) < 0 || ping(r, err) < 0)
		return -1;
	*out = steal_pointer(&r);
	return 0;
}

void registry_free(struct registry *r)
{
	if (r->h)
		curl_easy_cleanup(r->h);
	registry_creds_free(&r->creds);
	free(r->host);
	free(r->repo);
	free(r->base);
	free(r->token);
	free(r->ca_blob);
	free(r->client_cert);
	free(r->client_key);
	free(r->absent_location);
	free(r);
}

/* ---------- pull ---------- */

#define MANIFEST_ACCEPT                                                                     \
	"application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, "                          \
	"application/vnd.docker.distribution.manifest.v2+json"

int registry_get_manifest(struct registry *r, const char *ref, uint64_t max, char **buf, size_t *len,
			  char **media_type, char digest[DIGEST_STR_LEN + 1], struct perr *err)
{
	struct req q = { .method = "GET", .accept = MANIFEST_ACCEPT };
	bool by_digest = !strncmp(ref, "sha256:", 7);
	q.url = url_of(r, "manifests", ref);
	int rc = reg_do(r, &q, err);
	if (rc == 0 && q.status == 404)
		rc = perr_set(err, 0, "%s/%s%s%s: no such image (manifest unknown)", r->host, r->repo,
			      by_digest ? "@" : ":", ref);
	else if (rc == 0 && q.status != 200)
		rc = answer_error(r, &q, "manifest", err);
	else if (rc == 0 && q.len > max)
		rc = perr_set(err, 0, "%s/%s: manifest of %zu bytes exceeds the JSON limit of %llu", r->host,
			      r->repo, q.len, (unsigned long long)max);
	if (rc == 0) {
		sha256_buf(q.body ? q.body : "", q.len, digest);
		const char *want = by_digest ? ref : q.digest;
		if (want && strcmp(want, digest))
			rc = perr_set(err, 0, "%s/%s: manifest digest mismatch (%s says %s, content is %s)",
				      r->host, r->repo, by_digest ? "the reference" : "the registry", want, digest);
	}
	if (rc == 0) {
		const char *ct = q.ctype ? q.ctype : "";
		*media_type = strndup(ct, strcspn(ct, "; "));
		*buf = q.body ? steal_pointer(&q.body) : xstrdup("");
		*len = q.len;
	}
	req_free(&q);
	return rc;
}

int registry_get_blob(struct registry *r, const char *digest, int64_t size, uint64_t max, char **buf,
		      size_t *len, struct perr *err)
{
	char got[DIGEST_STR_LEN + 1];
	if (size < 0 || (uint64_t)size > max)
		return perr_set(err, 0, "blob %s: size %lld exceeds the JSON limit of %llu", digest,
				(long long)size, (unsigned long long)max);
	struct req q = { .method = "GET" };
	q.url = url_of(r, "blobs", digest);
	int rc = reg_do(r, &q, err);
	if (rc == 0 && q.status != 200)
		rc = answer_error(r, &q, digest, err);
	if (rc == 0 && (int64_t)q.len != size)
		rc = perr_set(err, 0, "blob %s: size mismatch (descriptor says %lld, registry sent %zu)", digest,
			      (long long)size, q.len);
	if (rc == 0) {
		sha256_buf(q.body ? q.body : "", q.len, got);
		if (strcmp(got, digest))
			rc = perr_set(err, 0, "blob %s: digest mismatch (content is %s)", digest, got);
	}
	if (rc == 0) {
		*buf = q.body ? steal_pointer(&q.body) : xstrdup("");
		*len = q.len;
	}
	req_free(&q);
	return rc;
}

/* A blob streamed: libcurl pushes into BUF (paused above STREAM_HIGH),
 * read() drains it. After a break the transfer starts again from GOT
 * with a Range request. */
struct reg_stream {
	struct blob b;
	struct registry *r;
	struct perr *err;
	char *url;
	CURLM *m;
	CURL *h;
	struct curl_slist *hdrs;
	char *buf;
	size_t len, off;
	char digest[DIGEST_STR_LEN + 1];
	uint64_t size; /* from the descriptor, for progress; 0: unknown */
	uint64_t got;  /* bytes received, from the blob's start */
	uint64_t from; /* where this transfer started (a Range when not 0) */
	bool paused, running, eof, failed, authed;
	long status;
	int attempts;
};

static size_t on_stream(char *p, size_t size, size_t n, void *ctx)
{
	struct reg_stream *s = ctx;
	size_t len = size * n;
	if (!s->status) {
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
		if (s->status != (s->from ? 206 : 200))
			return 0; /* the body of an error: the status says it */
	}
	if (s->len - s->off >= STREAM_HIGH) {
		s->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (s->off) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	s->buf = xrealloc(s->buf, s->len + len);
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->got += len;
	if (s->r->o.on_bytes)
		s->r->o.on_bytes(s->r->o.on_bytes_ctx, "pull", s->digest, s->got, s->size);
	return len;
}

static void stream_stop(struct reg_stream *s)
{
	if (s->h) {
		curl_multi_remove_handle(s->m, s->h);
		curl_easy_cleanup(s->h);
		s->h = NULL;
	}
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	s->running = false;
}

static void stream_start(struct reg_stream *s)
{
	char range[64];
	s->h = curl_easy_init();
	set_common(s->r, s->h, s->url);
	curl_easy_setopt(s->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	if (s->got) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)s->got);
		s->hdrs = curl_slist_append(s->hdrs, range);
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
	}
	s->from = s->got;
	s->status = 0;
	s->paused = false;
	s->running = true;
	curl_multi_add_handle(s->m, s->h);
}

/* The transfer ended with C: the end, a retry, or an error in S->err. */
static int stream_ended(struct reg_stream *s, CURLcode c)
{
	long status = s->status;
	if (!status)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	char *challenge = status == 401 ? header_of(s->h, "WWW-Authenticate") : NULL;
	const char *why = c == CURLE_OK || (c == CURLE_WRITE_ERROR && status) ? NULL : curl_easy_strerror(c);
	stream_stop(s);
	if (!why && status == (s->from ? 206 : 200) && c == CURLE_OK) {
		s->eof = true;
		return 0;
	}
	if (status == 401 && challenge && !s->authed) {
		s->authed = true;
		int rc = authenticate(s->r, challenge, NULL, s->err);
		free(challenge);
		if (rc < 0)
			return -1;
		stream_start(s);
		return 0;
	}
	free(challenge);
	bool again = why ? curl_retriable(c) : status_retriable(status);
	if (again && s->attempts < RETRIES) {
		sleep_ms(BACKOFF_MS << s->attempts++);
		stream_start(s);
		return 0;
	}
	if (why)
		return perr_set(s->err, 0, "%s: blob %s: %s after %llu bytes", s->r->host, s->url, why,
				(unsigned long long)s->got);
	if (status == 404)
		return perr_set(s->err, 0, "%s/%s: blob unknown: %s", s->r->host, s->r->repo, s->url);
	return perr_set(s->err, 0, "%s/%s: blob %s: HTTP %ld", s->r->host, s->r->repo, s->url, status);
}

static ssize_t reg_stream_read(struct blob *b, void *out, size_t n)
{
	struct reg_stream *s = (struct reg_stream *)b;
	while (s->off == s->len && !s->eof) {
		if (s->failed)
			return -1;
		if (s->paused) {
			s->paused = false;
			curl_easy_pause(s->h, CURLPAUSE_CONT);
			continue;
		}
		int running = 0;
		if (curl_multi_perform(s->m, &running) != CURLM_OK)
			return perr_set(s->err, 0, "%s: libcurl failed", s->r->host);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(s->m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == s->h && stream_ended(s, msg->data.result) < 0) {
				s->failed = true;
				return -1;
			}
		if (s->off == s->len && s->running && !s->paused)
			curl_multi_poll(s->m, NULL, 0, 1000, NULL);
	}
	size_t k = s->len - s->off < n ? s->len - s->off : n;
	memcpy(out, s->buf + s->off, k);
	s->off += k;
	return (ssize_t)k;
}

static void reg_stream_close(struct blob *b)
{
	struct reg_stream *s = (struct reg_stream *)b;
	stream_stop(s);
	curl_multi_cleanup(s->m);
	free(s->url);
	free(s->buf);
	free(s);
}

int registry_open_blob(struct registry *r, const char *digest, int64_t size, struct blob **out,
		       struct perr *err)
{
	if (!digest_valid(digest))
		return perr_set(err, 0, "malformed digest '%.80s'", digest);
	struct reg_stream *s = xcalloc(1, sizeof(*s));
	s->b.read = reg_stream_read;
	s->b.close = reg_stream_close;
	s->r = r;
	s->err = err;
	snprintf(s->digest, sizeof(s->digest), "%s", digest);
	s->size = size > 0 ? (uint64_t)size : 0;
	s->url = url_of(r, "blobs", digest);
	s->m = curl_multi_init();
	stream_start(s);
	*out = &s->b;
	return 0;
}

/* ---------- push ---------- */

/* Blobs this process saw in a repository, by registry: what a push to
 * another repository of the same registry mounts instead of uploading. */
struct seen_blob {
	char *host, *repo, digest[DIGEST_STR_LEN + 1];
};
static struct seen_blob *seen;
static size_t n_seen;

void registry_note_blob(const struct registry *r, const char *digest)
{
	for (size_t i = 0; i < n_seen; i++)
		if (!strcmp(seen[i].digest, digest) && !strcmp(seen[i].host, r->host) && !strcmp(seen[i].repo, r->repo))
			return;
	seen = xrealloc(seen, (n_seen + 1) * sizeof(*seen));
	seen[n_seen].host = xstrdup(r->host);
	seen[n_seen].repo = xstrdup(r->repo);
	snprintf(seen[n_seen].digest, sizeof(seen[n_seen].digest), "%s", digest);
	n_seen++;
}

static const char *seen_elsewhere(const struct registry *r, const char *digest)
{
	for (size_t i = 0; i < n_seen; i++)
		if (!strcmp(seen[i].digest, digest) && !strcmp(seen[i].host, r->host) && strcmp(seen[i].repo, r->repo))
			return seen[i].repo;
	return NULL;
}

/* An upload URL from a Location header: absolute, or relative to the
 * registry, with the digest parameter added. */
static char *upload_url(const struct registry *r, const char *location, const char *digest)
{
	CURLU *u = curl_url();
	char *s = NULL;
	cleanup_free char *param = xasprintf("digest=%s", digest);
	curl_url_set(u, CURLUPART_URL, r->base, 0);
	if (curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, param, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK)
		curl_url_get(u, CURLUPART_URL, &s, 0);
	curl_url_cleanup(u);
	if (!s)
		return NULL;
	char *out = xstrdup(s);
	curl_free(s);
	return out;
}

/* Start an upload (or mount from FROM): 201 mounted, else LOCATION set. */
static int upload_start(struct registry *r, const char *digest, const char *from, bool *mounted,
			char **location, struct perr *err)
{
	struct req q = { .method = "POST", .extra_scope = from };
	*mounted = false;
	q.url = from ? xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, r->repo, digest, from)
		     : xasprintf("%s/v2/%s/blobs/uploads/", r->base, r->repo);
	int rc = reg_do(r, &q, err);
	if (rc == 0 && q.status == 201 && from)
		*mounted = true;
	else if (rc == 0 && q.status == 202 && q.location)
		*location = steal_pointer(&q.location);
	else if (rc == 0)
		rc = answer_error(r, &q, "starting an upload", err);
	req_free(&q);
	return rc;
}

static int blob_exists(struct registry *r, const char *digest, bool *yes, struct perr *err)
{
	struct req q = { .method = "HEAD" };
	q.url = url_of(r, "blobs", digest);
	int rc = reg_do(r, &q, err);
	*yes = rc == 0 && q.status == 200;
	if (rc == 0 && q.status != 200 && q.status != 404)
		rc = answer_error(r, &q, "checking a blob", err);
	req_free(&q);
	return rc;
}

/* Blob DIGEST without its bytes: 1 when the repository has it or mounted
 * it from another this process saw it in, 0 when it must be uploaded
 * (*LOCATION: an upload a refused mount started, or NULL). */
static int reuse(struct registry *r, const char *digest, char **location, struct perr *err)
{
	bool exists = false, mounted = false;
	const char *from = seen_elsewhere(r, digest);
	*location = NULL;
	if (blob_exists(r, digest, &exists, err) < 0)
		return -1;
	if (exists)
		return 1;
	if (!from)
		return 0;
	if (upload_start(r, digest, from, &mounted, location, err) < 0)
		return -1;
	return mounted ? 1 : 0;
}

int registry_reuse_blob(struct registry *r, const char *digest, struct perr *err)
{
	char *location = NULL;
	int rc = reuse(r, digest, &location, err);
	free(r->absent_location);
	r->absent_location = rc == 0 ? location : (free(location), NULL);
	snprintf(r->absent, sizeof(r->absent), "%s", rc == 0 ? digest : "");
	if (rc == 1)
		registry_note_blob(r, digest);
	return rc;
}

static int upload_once(struct registry *r, int fd, const char *buf, const char *digest, int64_t size,
		       long *status, struct perr *err)
{
	bool mounted = false;
	cleanup_free char *location = NULL;
	*status = 0;
	/* Just found absent: not asked again (a retry asks). */
	bool known_absent = !strcmp(r->absent, digest);
	r->absent[0] = 0;
	if (known_absent)
		location = steal_pointer(&r->absent_location);
	int reused = known_absent ? 0 : reuse(r, digest, &location, err);
	if (reused)
		return reused < 0 ? -1 : 0;
	if (!location && upload_start(r, digest, NULL, &mounted, &location, err) < 0)
		return -1;
	struct req q = { .method = "PUT", .content_type = "application/octet-stream", .up_buf = buf,
			 .up_fd = fd, .up_len = (uint64_t)size, .blob = digest, .o = &r->o };
	q.url = upload_url(r, location, digest);
	if (!q.url)
		return perr_set(err, 0, "%s: a malformed upload location '%.200s'", r->host, location);
	int rc = reg_do(r, &q, err);
	*status = q.status;
	if (rc == 0 && q.status != 201)
		rc = answer_error(r, &q, digest, err);
	if (rc == 0 && q.digest && strcmp(q.digest, digest))
		rc = perr_set(err, 0, "%s/%s: pushed %s, the registry stored %s", r->host, r->repo, digest, q.digest);
	req_free(&q);
	return rc;
}

static int push(struct registry *r, int fd, const char *buf, const char *digest, int64_t size,
		struct perr *err)
{
	long status;
	/* An upload lost with a restarted registry (404 BLOB_UPLOAD_UNKNOWN)
	 * or refused mid-way starts again from the beginning. */
	for (int attempt = 0;; attempt++) {
		int rc = upload_once(r, fd, buf, digest, size, &status, err);
		if (rc == 0 || attempt >= RETRIES || !(status == 404 || status_retriable(status)))
			return rc < 0 ? perr_wrap(err, "pushing blob %s", digest) : (registry_note_blob(r, digest), 0);
		sleep_ms(BACKOFF_MS << attempt);
	}
}

int registry_push_blob(struct registry *r, int fd, const char *digest, int64_t size, struct perr *err)
{
	return push(r, fd, NULL, digest, size, err);
}

int registry_put_manifest(struct registry *r, const char *ref, const char *media_type, const char *buf,
			  size_t len, struct perr *err)
{
	char digest[DIGEST_STR_LEN + 1];
	sha256_buf(buf, len, digest);
	struct req q = { .method = "PUT", .content_type = media_type, .up_buf = buf, .up_len = len };
	q.url = url_of(r, "manifests", ref);
	int rc = reg_do(r, &q, err);
	if (rc == 0 && q.status != 201)
		rc = answer_error(r, &q, "pushing the manifest", err);
	if (rc == 0 && q.digest && strcmp(q.digest, digest))
		rc = perr_set(err, 0, "%s/%s: pushed manifest %s, the registry stored %s", r->host, r->repo,
			      digest, q.digest);
	req_free(&q);
	return rc;
}

int registry_push_bytes(struct registry *r, const char *buf, size_t len, const char *digest, struct perr *err)
{
	return push(r, -1, buf, digest, (int64_t)len, err);
}
