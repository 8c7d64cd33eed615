/* Registry credentials, looked up as skopeo and podman do (registry.h).
 * The files are the user's own, read as side files: a FIFO is refused,
 * the size is bounded. Only $HOME is read for the home directory: no NSS
 * lookup (it could load a module). */
#define _GNU_SOURCE
#include "image/registry.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>

void registry_creds_free(struct registry_creds *c)
{
	if (c->pass)
		explicit_bzero(c->pass, strlen(c->pass));
	free(c->user);
	free(c->pass);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* "USER[:PASS]" into C. */
static int split_user_pass(const char *s, size_t len, const char *source, struct registry_creds *c,
			   struct perr *err)
{
	const char *colon = memchr(s, ':', len);
	if (!len || colon == s)
		return perr_set(err, 0, "%s: an empty user name", source);
	c->user = strndup(s, colon ? (size_t)(colon - s) : len);
	c->pass = colon ? strndup(colon + 1, len - (size_t)(colon + 1 - s)) : xstrdup("");
	c->source = xasprintf("credentials from %s", source);
	return 0;
}

/* The "auths" key for HOST: "HOST", "https://HOST", "http://HOST", with
 * or without a path after it (docker's "https://index.docker.io/v1/"). */
static bool key_names_host(const char *key, const char *host)
{
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	size_t n = strlen(host);
	if (strncmp(key, host, n) || (key[n] && key[n] != '/'))
		return false;
	/* podman's per-repository keys ("HOST/ns/repo") would also match
	 * here; they are taken for the whole registry. */
	return true;
}

static bool docker_hub(const char *host)
{
	return !strcmp(host, "registry-1.docker.io") || !strcmp(host, "docker.io") ||
	       !strcmp(host, "index.docker.io");
}

/* FILE's "auths" entry for HOST into C; *FOUND says whether there was one.
 * A missing file is no entry; one that cannot be read or parsed, an error. */
static int from_auth_file(const char *file, const char *host, struct registry_creds *c, bool *found,
			  struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	*found = false;
	if (access(file, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (read_side_file(file, SIDE_FILE_MAX, &text, &len, err) < 0)
		return perr_wrap(err, "auth file");
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return perr_set(err, 0, "auth file '%s': not a JSON object (line %d: %s)", file, je.line, je.text);
	}
	json_t *auths = json_object_get(j, "auths"), *v;
	const char *key;
	int rc = 0;
	json_object_foreach(auths, key, v)
	{
		if (!key_names_host(key, host) && !(docker_hub(host) && strstr(key, "index.docker.io")))
			continue;
		const char *b64 = json_string_value(json_object_get(v, "auth"));
		if (!b64 || !*b64)
			continue;
		size_t n = strlen(b64);
		if (n % 4 || n > 8192) {
			rc = perr_set(err, 0, "auth file '%s': the entry for '%s' is not base64", file, key);
			break;
		}
		cleanup_free unsigned char *raw = xmalloc(n / 4 * 3 + 1);
		int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
		if (got < 0) {
			rc = perr_set(err, 0, "auth file '%s': the entry for '%s' is not base64", file, key);
			break;
		}
		while (n && b64[n - 1] == '=')
			n--, got--;
		rc = split_user_pass((const char *)raw, (size_t)got, file, c, err);
		explicit_bzero(raw, (size_t)got);
		*found = rc == 0;
		break;
	}
	json_decref(j);
	return rc;
}

int registry_find_creds(const char *host, const struct registry_opts *o, struct registry_creds *out,
			struct perr *err)
{
	memset(out, 0, sizeof(*out));
	if (o->creds)
		return split_user_pass(o->creds, strlen(o->creds), "--creds", out, err);
	const char *env_file = getenv("REGISTRY_AUTH_FILE"), *xdg = getenv("XDG_RUNTIME_DIR"),
		   *home = getenv("HOME");
	cleanup_free char *xdg_file = xdg && *xdg ? xasprintf("%s/containers/auth.json", xdg) : NULL;
	cleanup_free char *docker_file = home && *home ? xasprintf("%s/.docker/config.json", home) : NULL;
	const char *files[] = { o->authfile, o->authfile ? NULL : env_file && *env_file ? env_file : NULL,
				o->authfile ? NULL : xdg_file, o->authfile ? NULL : docker_file };
	if (o->authfile && check_side_file(o->authfile, err) < 0)
		return perr_wrap(err, "--authfile");
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		bool found;
		if (!files[i])
			continue;
		if (from_auth_file(files[i], host, out, &found, err) < 0)
			return -1;
		if (found)
			return 0;
	}
	return 0;
}
