/* A client for one repository of a registry (the OCI distribution API,
 * docker's Registry API v2) over libcurl: the /v2/ ping that picks https
 * or, with TLS verification off, plain http; anonymous, basic and Bearer
 * token auth from a WWW-Authenticate challenge; retries with backoff on
 * 5xx, 429 and broken connections; blobs streamed (resumed with Range
 * after a break), manifests and blobs pushed. Digests are checked by the
 * callers that know them (manifests here, layers by the layer reader). */
#ifndef PARE_REGISTRY_H
#define PARE_REGISTRY_H

#include "base/digest.h"
#include "base/util.h"

struct blob;

/* --tls-verify: unset verifies, as true does (zeroed options are safe). */
enum tls_verify { TLS_DEFAULT, TLS_VERIFY, TLS_NO_VERIFY };

/* How to reach registries, as skopeo's flags say it. Borrowed strings. */
struct registry_opts {
	const char *creds;    /* --creds USER[:PASS] */
	const char *authfile; /* --authfile FILE */
	const char *cert_dir; /* --cert-dir DIR: *.crt CAs, *.cert + *.key client pairs */
	enum tls_verify tls_verify; /* --tls-verify */
	/* Bytes of blob DIGEST moved so far (VERB "pull" or "push"; TOTAL 0
	 * when unknown), for a progress line; called per chunk, NULL for none. */
	void (*on_bytes)(void *ctx, const char *verb, const char *digest, uint64_t done, uint64_t total);
	void *on_bytes_ctx;
};

/* Where a credential came from, for errors that must say which. */
struct registry_creds {
	char *user, *pass;
	char *source; /* "--creds", "/root/.docker/config.json", ... */
};
void registry_creds_free(struct registry_creds *c);
/* HOST's credentials in skopeo's order: --creds, --authfile (alone when
 * given), $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * $HOME/.docker/config.json. None found is not an error (user NULL);
 * an auth file that exists but cannot be read is. A credential helper
 * ("credHelpers", "credsStore") is not run: it would run a program. */
int registry_find_creds(const char *host, const struct registry_opts *o, struct registry_creds *out,
			struct perr *err);

struct registry;

/* A session with HOST's repository REPO; PUSH asks for push rights too. */
int registry_open(const char *host, const char *repo, const struct registry_opts *o, bool push,
		  struct registry **out, struct perr *err);
void registry_free(struct registry *r);
static inline void registry_freep(struct registry **r)
{
	if (*r)
		registry_free(*r);
}
#define cleanup_registry __attribute__((cleanup(registry_freep)))
const char *registry_host(const struct registry *r);
const char *registry_repo(const struct registry *r);

/* The manifest or index REF (a tag or a digest) names, at most MAX bytes,
 * its media type, and its digest (checked against REF when REF is one,
 * and against the registry's Docker-Content-Digest when it sends one). */
int registry_get_manifest(struct registry *r, const char *ref, uint64_t max, char **buf, size_t *len,
			  char **media_type, char digest[DIGEST_STR_LEN + 1], struct perr *err);
/* A small blob (a config) into memory, checked against DIGEST and SIZE. */
int registry_get_blob(struct registry *r, const char *digest, int64_t size, uint64_t max, char **buf,
		      size_t *len, struct perr *err);
/* A blob of SIZE bytes (-1: unknown) as a stream; a break is resumed
 * where it stopped. The caller checks the bytes' digest. ERR must outlive
 * the blob. */
int registry_open_blob(struct registry *r, const char *digest, int64_t size, struct blob **out,
		       struct perr *err);

/* Push blob DIGEST of SIZE bytes from FD (read from offset 0) unless the
 * repository has it (HEAD). A blob this process has seen in another
 * repository of the same registry is mounted, not uploaded. */
int registry_push_blob(struct registry *r, int fd, const char *digest, int64_t size, struct perr *err);
/* Blob DIGEST without its bytes, when the repository has it or can mount
 * it (as registry_push_blob would): 1; 0 when its bytes must be pushed,
 * and the registry_push_blob of DIGEST that follows does not ask again. */
int registry_reuse_blob(struct registry *r, const char *digest, struct perr *err);
/* The same for a small blob (a config) in memory. */
int registry_push_bytes(struct registry *r, const char *buf, size_t len, const char *digest, struct perr *err);
/* Remember that REPO of this registry holds DIGEST (pulled or pushed). */
void registry_note_blob(const struct registry *r, const char *digest);
/* PUT a manifest under REF (a tag, or its own digest). */
int registry_put_manifest(struct registry *r, const char *ref, const char *media_type, const char *buf,
			  size_t len, struct perr *err);

#endif
