/* Image references in skopeo's transport syntax. */
#ifndef PARE_REF_H
#define PARE_REF_H

#include "base/util.h"

enum transport { T_OCI, T_DOCKER_ARCHIVE, T_DOCKER_DAEMON };

struct imgref {
	enum transport transport;
	char *path;  /* OCI dir or archive file ("-" = stdin/stdout); NULL for daemon */
	char *tag;   /* OCI ref name, or "name:tag" for docker; may be NULL */
	char *text;  /* as the user wrote it, for messages */
};

/* oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG], docker-daemon:NAME:TAG, or a
 * bare path (a directory holding oci-layout is OCI, anything else a
 * docker-archive). FOR_WRITE: bare paths that do not exist yet are taken
 * as docker-archive files unless they end in '/'. */
int imgref_parse(const char *s, bool for_write, struct imgref *out, struct perr *err);
void imgref_free(struct imgref *r);
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
