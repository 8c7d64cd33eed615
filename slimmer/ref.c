#include "ref.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

const char *transport_name(enum transport t)
{
	static const char *const names[] = { "oci", "docker-archive", "docker-daemon" };
	return names[t];
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

int imgref_parse(const char *s, bool for_write, struct imgref *out, struct perr *err)
{
	char *rest = NULL;
	struct stat st;
	memset(out, 0, sizeof(*out));
	out->text = xstrdup(s);
	if (!strncmp(s, "oci:", 4)) {
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
	} else if (strchr(s, ':') && !strchr(s, '/') && access(s, F_OK) != 0) {
		return perr_set(err, 0, "'%s': unknown transport (use oci:, docker-archive: or docker-daemon:)", s);
	} else {
		out->path = xstrdup(s);
		if (stat(s, &st) == 0)
			out->transport = S_ISDIR(st.st_mode) ? T_OCI : T_DOCKER_ARCHIVE;
		else if (!for_write)
			return perr_set(err, errno, "'%s'", s);
		else
			out->transport = s[strlen(s) - 1] == '/' ? T_OCI : T_DOCKER_ARCHIVE;
		if (out->transport == T_OCI && stat(s, &st) == 0) {
			char *marker = xasprintf("%s/oci-layout", s);
			bool is_oci = access(marker, F_OK) == 0;
			free(marker);
			if (!is_oci && !for_write)
				return perr_set(err, 0, "'%s': directory is not an OCI layout (no oci-layout file)", s);
		}
	}
	if (!out->path || !*out->path)
		return perr_set(err, 0, "'%s': missing path", s);
	return 0;
}

void imgref_free(struct imgref *r)
{
	free(r->path);
	free(r->tag);
	free(r->text);
	memset(r, 0, sizeof(*r));
}
