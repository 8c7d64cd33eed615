#include "image/ref.h"
#include "base/digest.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *const transport_names[] = { "oci", "docker-archive", "docker-daemon", "docker",
						"oci-archive" };
#define KNOWN_TRANSPORTS                                                                          \
	"oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker-daemon:NAME:TAG, " \
	"docker://HOST/REPO[:TAG]"

/* Every transport prefix a skopeo user may type, so that "--http
 * docker://x" reads as an image, not a probe. */
static const char *const transport_prefixes[] = { "oci:", "docker-archive:", "docker-daemon:",
						  "docker://", "oci-archive:" };

bool imgref_has_transport(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(transport_prefixes); i++)
		if (!strncmp(s, transport_prefixes[i], strlen(transport_prefixes[i])))
			return true;
	return false;
}

const char *transport_name(enum transport t)
{
	return transport_names[t];
}

/* distribution/reference's ParseNormalizedNamed, for comparing: a first
 * component with a '.' or ':' (or "localhost") is a registry, else the
 * registry is docker.io, where one-component names live in library/. */
char *docker_ref_canonical(const char *ref)
{
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');
	const char *at = strchr(ref, '@');
	size_t name_len = at ? (size_t)(at - ref) : colon ? (size_t)(colon - ref) : strlen(ref);
	const char *suffix = at ? at : colon ? colon : ":latest";
	cleanup_free char *name = strndup(ref, name_len);
	const char *first_slash = strchr(name, '/');
	size_t first_len = first_slash ? (size_t)(first_slash - name) : 0;
	bool has_domain = first_slash && (memchr(name, '.', first_len) || memchr(name, ':', first_len) ||
					  (first_len == 9 && !strncmp(name, "localhost", 9)));
	const char *domain = "docker.io", *path = name;
	cleanup_free char *dom = NULL;
	if (has_domain) {
		dom = strndup(name, first_len);
		domain = strcmp(dom, "index.docker.io") ? dom : "docker.io";
		path = name + first_len + 1;
	}
	bool library = !strcmp(domain, "docker.io") && !strchr(path, '/');
	return xasprintf("%s/%s%s%s", domain, library ? "library/" : "", path, suffix);
}

bool docker_ref_equal(const char *a, const char *b)
{
	cleanup_free char *ca = docker_ref_canonical(a);
	cleanup_free char *cb = docker_ref_canonical(b);
	return !strcmp(ca, cb);
}

char *docker_normalize_tag(const char *nametag)
{
	const char *slash = strrchr(nametag, '/');
	const char *colon = strrchr(slash ? slash : nametag, ':');
	return colon ? xstrdup(nametag) : xasprintf("%s:latest", nametag);
}

/* A docker reference must look like a repository name with a tag: it ends
 * up in manifest.json and in `docker load`'s arguments. */
static bool docker_name_valid(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (const char *p = s; *p; p++)
		if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
		      ('0' <= *p && *p <= '9') || strchr("._-/:@", *p)))
			return false;
	return true;
}

/* Split "PATH[:REST]" at the first colon; PATH itself may not hold one. */
static void split_first(const char *s, char **path, char **rest)
{
	const char *colon = strchr(s, ':');
	*path = colon ? strndup(s, (size_t)(colon - s)) : xstrdup(s);
	*rest = colon && colon[1] ? xstrdup(colon + 1) : NULL;
}

static int parse_docker_tag(struct imgref *out, char *rest, bool required, struct perr *err)
{
	if (!rest) {
		if (required)
			return perr_set(err, 0, "'%s': expected NAME:TAG", out->text);
		return 0;
	}
	if (!docker_name_valid(rest)) {
		free(rest);
		return perr_set(err, 0, "'%s': invalid image name", out->text);
	}
	out->tag = docker_normalize_tag(rest);
	free(rest);
	return 0;
}

/* docker://HOST[:PORT]/REPO[:TAG|@DIGEST], as distribution/reference
 * reads it: a first component with a '.' or ':', or "localhost", is the
 * registry, else it is Docker Hub (registry-1.docker.io, one-component
 * names in library/), as it is when named docker.io or index.docker.io. */
static int parse_registry_ref(const char *s, struct imgref *out, struct perr *err)
{
	const char *at = strchr(s, '@');
	size_t name_len = at ? (size_t)(at - s) : strlen(s);
	cleanup_free char *name = strndup(s, name_len);
	char *slash = strchr(name, '/');
	char *colon = strrchr(slash ? slash : name, ':');
	if (at) {
		if (!digest_valid(at + 1))
			return perr_set(err, 0, "'%s': invalid digest '%s' (expected sha256:64 hex digits)", out->text, at + 1);
		out->digest = xstrdup(at + 1);
		if (colon) /* name:tag@digest: the digest wins, as in docker */
			*colon = 0;
	} else if (colon) {
		out->tag = xstrdup(colon + 1);
		*colon = 0;
	}
	size_t first = slash ? (size_t)(slash - name) : 0;
	bool has_host = slash && (memchr(name, '.', first) || memchr(name, ':', first) ||
				  (first == 9 && !strncmp(name, "localhost", 9)));
	const char *repo = has_host ? slash + 1 : name;
	/* Docker Hub by any of its names: its API is at registry-1.docker.io. */
	bool hub = !has_host || (first == 9 && !strncmp(name, "docker.io", 9)) ||
		   (first == 15 && !strncmp(name, "index.docker.io", 15));
	out->host = hub ? xstrdup("registry-1.docker.io") : strndup(name, first);
	out->repo = hub && !strchr(repo, '/') ? xasprintf("library/%s", repo) : xstrdup(repo);
	if (!out->digest && !out->tag)
		out->tag = xstrdup("latest");
	/* distribution's grammar: lowercase components of [a-z0-9._-],
	 * separated by '/'; tags of [A-Za-z0-9_.-], at most 128. */
	bool ok = *out->repo && out->repo[0] != '/' && !strstr(out->repo, "//") &&
		  out->repo[strlen(out->repo) - 1] != '/' && strlen(out->repo) <= 255;
	for (const char *p = out->repo; ok && *p; p++)
		ok = strchr("abcdefghijklmnopqrstuvwxyz0123456789._-/", *p) != NULL;
	if (!ok)
		return perr_set(err, 0, "'%s': invalid repository name '%s' (lowercase letters, digits, '.', '_', '-', '/')",
				out->text, out->repo);
	if (out->tag) {
		ok = *out->tag && strlen(out->tag) <= 128 && out->tag[0] != '.' && out->tag[0] != '-';
		for (const char *p = out->tag; ok && *p; p++)
			ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p) != NULL;
		if (!ok)
			return perr_set(err, 0, "'%s': invalid tag '%s'", out->text, out->tag);
	}
	if (!*out->host || strpbrk(out->host, "/?#@ "))
		return perr_set(err, 0, "'%s': invalid registry host '%s'", out->text, out->host);
	return 0;
}

int imgref_parse(const char *s, bool for_write, struct imgref *out, struct perr *err)
{
	char *rest = NULL;
	struct stat st;
	memset(out, 0, sizeof(*out));
	out->text = xstrdup(s);
	if (!strncmp(s, "docker://", 9)) {
		out->transport = T_REGISTRY;
		return parse_registry_ref(s + 9, out, err);
	} else if (!strncmp(s, "oci-archive:", 12)) {
		out->transport = T_OCI_ARCHIVE;
		split_first(s + 12, &out->path, &out->tag);
	} else if (!strncmp(s, "oci:", 4)) {
		out->transport = T_OCI;
		split_first(s + 4, &out->path, &out->tag);
	} else if (!strncmp(s, "docker-archive:", 15)) {
		out->transport = T_DOCKER_ARCHIVE;
		split_first(s + 15, &out->path, &rest);
		if (parse_docker_tag(out, rest, false, err) < 0)
			return -1;
	} else if (!strncmp(s, "docker-daemon:", 14)) {
		out->transport = T_DOCKER_DAEMON;
		if (parse_docker_tag(out, s[14] ? xstrdup(s + 14) : NULL, true, err) < 0)
			return -1;
		return 0;
	} else if (stat(s, &st) == 0) {
		out->path = xstrdup(s);
		out->transport = S_ISDIR(st.st_mode) ? T_OCI : T_DOCKER_ARCHIVE;
		if (out->transport == T_OCI) {
			char *marker = xasprintf("%s/oci-layout", s);
			bool is_oci = access(marker, F_OK) == 0;
			free(marker);
			if (!is_oci && !for_write)
				return perr_set(err, 0, "'%s': directory is not an OCI layout (no oci-layout file)", s);
		}
	} else {
		int e = errno;
		const char *colon = strchr(s, ':');
		size_t word = colon ? strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") : 0;
		if (colon && word && s + word == colon && (colon[1] == '/' || colon[1] == '.'))
			return perr_set(err, 0, "'%s': unknown transport '%.*s' (known: " KNOWN_TRANSPORTS ")",
					s, (int)word, s);
		/* What docker users type for an image in the daemon: name:tag,
		 * or a name without a file-like dot ("app.tar" is a file). */
		const char *base = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
		bool name_like = colon || (!for_write && !strchr(base, '.'));
		if (s[0] != '/' && s[0] != '.' && docker_name_valid(s) && name_like)
			return perr_set(err, 0, for_write ? "'%s' is an image name, not a file; did you mean "
							    "docker-daemon:%s%s or docker-archive:FILE:%s?"
							  : "'%s': no such file; did you mean docker-daemon:%s%s?",
					s, s, colon ? "" : ":latest", s);
		if (!for_write)
			return perr_set(err, e, "'%s'", s);
		out->path = xstrdup(s);
		out->transport = s[strlen(s) - 1] == '/' ? T_OCI : T_DOCKER_ARCHIVE;
	}
	if (!out->path || !*out->path)
		return perr_set(err, 0, "'%s': missing path", s);
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void imgref_copy(struct imgref *dst, const struct imgref *src)
{
	*dst = (struct imgref){ .transport = src->transport, .path = dup_or_null(src->path),
				.tag = dup_or_null(src->tag), .text = dup_or_null(src->text),
				.host = dup_or_null(src->host), .repo = dup_or_null(src->repo),
				.digest = dup_or_null(src->digest), .reg = src->reg };
}

void imgref_free(struct imgref *r)
{
	free(r->path);
	free(r->tag);
	free(r->text);
	free(r->host);
	free(r->repo);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}
