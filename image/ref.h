/* Image references in skopeo's transport syntax. */
#ifndef PARE_REF_H
#define PARE_REF_H

#include "base/util.h"
#include "image/registry.h"

enum transport { T_OCI, T_DOCKER_ARCHIVE, T_DOCKER_DAEMON, T_REGISTRY, T_OCI_ARCHIVE };

struct imgref {
	enum transport transport;
	char *path;  /* OCI dir or archive file ("-" = stdin/stdout); NULL for daemon and registry */
	char *tag;   /* OCI ref name, "name:tag" for docker, the tag in a registry; may be NULL */
	char *text;  /* as the user wrote it, for messages */
	/* docker://: the registry's host[:port], the repository, and the
	 * digest when the reference names one (then tag is NULL). */
	char *host, *repo, *digest;
	/* How to reach the registry: set by the command (borrowed strings). */
	struct registry_opts reg;
};

/* oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG],
 * docker-daemon:NAME:TAG, docker://HOST[:PORT]/REPO[:TAG|@DIGEST], or a
 * bare path (a directory holding oci-layout is OCI, anything else a
 * docker-archive). FOR_WRITE: bare paths that do not exist yet are taken
 * as docker-archive files unless they end in '/'. */
int imgref_parse(const char *s, bool for_write, struct imgref *out, struct perr *err);
void imgref_free(struct imgref *r);
/* A deep copy (the registry options stay borrowed). */
void imgref_copy(struct imgref *dst, const struct imgref *src);
const char *transport_name(enum transport t);
/* Does S start with a transport prefix skopeo knows (oci:, docker://, ...)? */
bool imgref_has_transport(const char *s);
/* docker's full form of a reference, for comparing names as docker does:
 * "rw/php" -> "docker.io/rw/php:latest", "redis:7" ->
 * "docker.io/library/redis:7"; malloc'd. */
char *docker_ref_canonical(const char *ref);
bool docker_ref_equal(const char *a, const char *b);
/* "name:tag" with ":latest" added when no tag is given; malloc'd. */
char *docker_normalize_tag(const char *nametag);

#endif
