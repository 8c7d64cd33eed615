/* The transports behind image_open(): one file each (oci_layout.c,
 * docker_archive.c, docker_daemon.c), one ops table each. Internal to
 * image/. A new transport (a registry) is a file and a row. */
#ifndef PARE_TRANSPORT_H
#define PARE_TRANSPORT_H

#include "image/source.h"

struct platform_want {
	char os[64], arch[64], variant[64];
};

struct transport_ops {
	/* Read the manifest and config into IMG (the ref is set). */
	int (*open)(struct image *img, const struct platform_want *w, struct perr *err);
	/* The raw bytes of layer IDX (in range). */
	int (*open_layer)(struct image *img, size_t idx, struct blob **out, struct perr *err);
	/* Free what open() left in IMG's backend fields. */
	void (*close)(struct image *img);
};

extern const struct transport_ops oci_layout_transport, docker_archive_transport,
	docker_daemon_transport, registry_transport, oci_archive_transport;

/* The bytes of descriptor D (an index or a manifest), checked against it. */
typedef int (*blob_fetch_fn)(struct image *img, const struct descriptor *d, char **buf, size_t *len,
			     struct perr *err);
/* From candidate descriptors to one manifest's, through nested indexes
 * (read with FETCH), choosing by platform. */
int choose_manifest(struct image *img, const struct descriptor *c, size_t n, const struct platform_want *w,
		    blob_fetch_fn fetch, struct descriptor *out, struct perr *err);

/* source.c */
int parse_platform_want(const char *s, struct platform_want *w, struct perr *err);
/* Read a whole blob into memory, at most MAX bytes. */
int blob_slurp(struct blob *b, uint64_t max, char **buf, size_t *len, struct perr *err);

/* docker_archive.c, for the daemon's `docker save` stream */
int spool_to_tmpfile(int in, const struct limits *lim, struct perr *err);
int open_docker_archive(struct image *img, int fd, struct perr *err);
int docker_archive_open_layer(struct image *img, size_t idx, struct blob **out, struct perr *err);
void docker_archive_close(struct image *img);
/* For oci-archive: the tar file indexed (tar_fd, members), one member
 * (links inside the archive followed) as a blob. */
int tar_archive_open(struct image *img, struct perr *err);
int tar_member_open(struct image *img, const char *name, struct blob **out, struct perr *err);

#endif
