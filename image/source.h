/* Reading images: OCI layouts, docker-archive tarballs (legacy and the OCI
 * flavour docker 25+ writes), and the docker daemon through `docker save`. */
#ifndef PARE_SOURCE_H
#define PARE_SOURCE_H

#include "image/image.h"
#include "image/ref.h"

/* A readable byte stream: one blob of an image. */
struct blob {
	ssize_t (*read)(struct blob *b, void *buf, size_t n);
	void (*close)(struct blob *b);
};
static inline void blob_closep(struct blob **b)
{
	if (*b)
		(*b)->close(*b);
}
#define cleanup_blob __attribute__((cleanup(blob_closep)))

struct archive_member;

struct image {
	struct imgref ref;
	struct limits lim;
	struct manifest manifest;  /* layers carry the expected blob digest and size */
	struct image_config config;
	char *config_raw;
	size_t config_len;
	char config_digest[80];
	char *manifest_raw;        /* as read (OCI layout, registry); NULL for docker-archives */
	size_t manifest_len;
	char manifest_digest[DIGEST_STR_LEN + 1]; /* its digest; "" without one */
	char index_digest[DIGEST_STR_LEN + 1];    /* the index it was chosen from; "" for none */
	struct strv repo_tags;     /* docker-archive only */
	/* The tag it was found by, or that it carries: the OCI ref name, the
	 * archive's first RepoTag; NULL when it has none. */
	char *tag;
	/* backends */
	int dir_fd;                /* OCI layout directory */
	int tar_fd;                /* docker-archive, always seekable (spooled if need be) */
	struct archive_member *members;
	size_t n_members;
	size_t *layer_member;      /* docker-archive: member index of each layer */
	struct registry *reg;      /* docker:// */
	char *oci_dir;             /* oci-archive: its layout, unpacked to a temporary directory */
};

struct open_opts {
	struct limits lim;
	const char *platform;      /* "os/arch[/variant]", default linux/amd64 */
	struct registry_opts reg;  /* for docker:// references without their own */
};

int image_open(const struct imgref *ref, const struct open_opts *opts, struct image **out,
	       struct perr *err);
/* The same from a reference as the user typed it (imgref_parse, then open). */
int image_open_text(const char *text, const struct open_opts *opts, struct image **out,
		    struct perr *err);
void image_close(struct image *img);
static inline void image_closep(struct image **i)
{
	if (*i)
		image_close(*i);
}
#define cleanup_image __attribute__((cleanup(image_closep)))

/* The raw (possibly compressed) bytes of layer IDX. The caller verifies
 * them (see layer.h). */
int image_open_layer_blob(struct image *img, size_t idx, struct blob **out, struct perr *err);
/* The compression of layer IDX, from its media type. */
enum compression image_layer_compression(const struct image *img, size_t idx);
/* All layers' compression by name: "gzip", "uncompressed", ..., or
 * "mixed" when they differ. */
const char *image_layers_compression(const struct image *img);

/* Read REL below DIRFD, at most MAX bytes, refusing symlinks anywhere on
 * the way and anything but a regular file (a FIFO is never opened for a
 * blocking read). */
int read_file_beneath(int dirfd, const char *rel, uint64_t max, char **buf, size_t *len,
		      struct perr *err);

/* Run `docker ARGV...` with its stdin or stdout on FD (the other on
 * /dev/null, stderr captured). Used for docker-daemon read and write. */
int docker_spawn(char *const argv[], int fd, bool fd_is_stdin, pid_t *pid, int *errfd,
		 struct perr *err);
int docker_wait(pid_t pid, int errfd, const char *what, struct perr *err);

#endif
