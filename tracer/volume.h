/* The sandbox's own mounts, as docker run's -v/--volume and --tmpfs make
 * them. A bind's host side is opened once, here, when the option is read:
 * pid 1 clones and mounts that fd (never the path again), so a symlink
 * swapped in on the host afterwards changes nothing. */
#ifndef PARE_VOLUME_H
#define PARE_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

enum volume_kind {
	VOLUME_BIND,  /* -v HOST:PATH[:ro|rw] */
	VOLUME_TMPFS, /* --tmpfs PATH */
};

struct volume {
	enum volume_kind kind;
	char *source;  /* the host path as given (binds) */
	char *target;  /* absolute and canonical, inside the image */
	bool readonly;
	bool is_dir;   /* a directory (else a regular file) on the host */
	int fd;        /* O_PATH of the host side (binds), else -1 */
};

struct volume_list {
	struct volume *v;
	size_t n;
};

/* Parse and open "HOST:PATH[:ro|rw]" (HOST absolute or ./relative) or,
 * for --tmpfs, "PATH"; add it to L. Errors name the option's value. */
int volume_add_bind(struct volume_list *l, const char *spec, struct perr *err);
int volume_add_tmpfs(struct volume_list *l, const char *spec, struct perr *err);
/* Is PATH (absolute) at or below one of L's targets? The target, or NULL. */
const struct volume *volume_holding(const struct volume_list *l, const char *path);
void volume_list_free(struct volume_list *l);

#endif
