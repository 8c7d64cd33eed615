/* A fleet image's keep record: what its map step (`pare fleet probe`)
 * found, as a file the reduce step (`pare fleet build`) and the verify
 * step read, on this machine or another. Every kept entry with what makes
 * it the same tar entry in another image (type, owner, mode, size, mtime,
 * content digest, symlink target, device, xattrs), the probes' results on
 * the original, and the source image's identity. Read as any input is:
 * bounded, refused unless a regular file, every field checked. */
#ifndef PARE_KEEPREC_H
#define PARE_KEEPREC_H

#include <stdint.h>

#include "base/digest.h"
#include "base/util.h"
#include "slimmer/slim_probes.h"

#define KEEP_RECORD_VERSION 1
#define KEEP_RECORD_MAX (256u << 20)

struct kr_entry {
	char *path;               /* relative to the root, as layer_build takes it */
	char type;                /* mode_type(): 'f', 'd', 'l', or 'o' */
	uint32_t mode;            /* the whole st_mode */
	uint32_t uid, gid;
	uint64_t size, rdev;
	int64_t mtime;
	char digest[DIGEST_STR_LEN + 1]; /* of a file's bytes, else "" */
	char *target;             /* a symlink's, else NULL */
	char xattrs[DIGEST_STR_LEN + 1]; /* of the xattrs a layer keeps, or "" */
};

struct kr_probe {
	int code;
	bool ok, noise;
	char digest[DIGEST_STR_LEN + 1]; /* of stdout or the HTTP body */
};

struct kr_layer {
	char digest[DIGEST_STR_LEN + 1];
	int64_t size;
};

struct keep_record {
	char *name;
	char args_digest[DIGEST_STR_LEN + 1]; /* of the image's slim arguments */
	char *source_ref;
	char source_config[DIGEST_STR_LEN + 1];
	uint64_t source_files, source_bytes;  /* the original's tree */
	struct kr_layer *layers;              /* the original's blobs */
	size_t n_layers;
	struct kr_entry *e;                   /* sorted by path */
	size_t n;
	struct kr_probe *probes;
	size_t n_probes;
};

/* The digest of a slim argument list, as a record names it. */
void keep_record_args_digest(char *const *argv, size_t argc, char out[DIGEST_STR_LEN + 1]);
/* Every path of PATHS as it is below ROOTFD (never followed), the root
 * itself too; the files' bytes hashed. */
int keep_record_entries(int rootfd, const struct strv *paths, struct keep_record *kr, struct perr *err);
/* The probes' results on the original. */
void keep_record_probes(struct keep_record *kr, const struct probe_result *pr, size_t n);
int keep_record_write(const struct keep_record *kr, const char *path, struct perr *err);
int keep_record_read(const char *path, struct keep_record *kr, struct perr *err);
/* Entry PATH of KR, or NULL. */
const struct kr_entry *keep_record_find(const struct keep_record *kr, const char *path);
void keep_record_free(struct keep_record *kr);

#endif
