#define _GNU_SOURCE
#include "slimmer/layer_reuse.h"

#include "base/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libdeflate.h>
#include <string.h>
#include <sys/stat.h>

/* Bump when the layer writer's output changes for the same inputs. */
#define LAYER_FORMAT "pare-layer 3 (libdeflate " LIBDEFLATE_VERSION_STRING " members of 512K)"

void layer_reuse_key(const struct strv *paths, const struct build_opts *bo, char key[65])
{
	struct sha256 h;
	char head[160], digest[DIGEST_STR_LEN + 1];
	sha256_init(&h);
	int n = snprintf(head, sizeof(head), "%s\n%d %d %d %lld\n", LAYER_FORMAT, (int)bo->comp, bo->level,
			 (int)bo->clamp_mtime, bo->clamp_mtime ? (long long)bo->epoch : 0LL);
	sha256_update(&h, head, (size_t)n);
	/* The builder sorts: so does the key. */
	const char **v = xmalloc((paths->n + 1) * sizeof(*v));
	memcpy(v, paths->v, paths->n * sizeof(*v));
	qsort(v, paths->n, sizeof(*v), strp_cmp);
	for (size_t i = 0; i < paths->n; i++)
		sha256_update(&h, v[i], strlen(v[i]) + 1);
	free(v);
	sha256_final(&h, digest);
	snprintf(key, 65, "%s", digest + 7);
}

/* Copy IN to OUT from their current offsets to IN's end; the sha256 of
 * what was copied into DIGEST when it is not NULL. */
static bool read_meta(const char *dir, const char *key, struct built_layer *bl)
{
	cleanup_free char *file = xasprintf("%s/%s.json", dir, key), *text = NULL;
	size_t n;
	struct perr ignored;
	if (read_side_file(file, 1024, &text, &n, &ignored) < 0)
		return false;
	json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
	const char *digest = NULL, *diff_id = NULL;
	json_int_t size = -1, unc = -1, entries = -1;
	bool good = j && json_unpack(j, "{s:s,s:s,s:I,s:I,s:I}", "digest", &digest, "diff_id", &diff_id, "size",
				     &size, "uncompressed", &unc, "entries", &entries) == 0 &&
		    strlen(digest) == DIGEST_STR_LEN && strlen(diff_id) == DIGEST_STR_LEN && size >= 0 && unc >= 0 &&
		    entries >= 0;
	if (good) {
		snprintf(bl->digest, sizeof(bl->digest), "%s", digest);
		snprintf(bl->diff_id, sizeof(bl->diff_id), "%s", diff_id);
		bl->size = (int64_t)size;
		bl->uncompressed = (uint64_t)unc;
		bl->entries = (uint64_t)entries;
	}
	json_decref(j);
	return good;
}

static void forget(int dfd, const char *key)
{
	char name[80];
	snprintf(name, sizeof(name), "%s.json", key);
	unlinkat(dfd, name, 0);
	snprintf(name, sizeof(name), "%s.blob", key);
	unlinkat(dfd, name, 0);
}

bool layer_reuse_get(const char *dir, const char *key, int out_fd, struct built_layer *bl)
{
	cleanup_close int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct built_layer got = { 0 };
	if (dfd < 0 || !read_meta(dir, key, &got))
		return false;
	char name[80], digest[DIGEST_STR_LEN + 1];
	snprintf(name, sizeof(name), "%s.blob", key);
	cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	/* What was stored is checked as it is copied: a cache is not trusted. */
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == got.size &&
	    sha256_copy_fd(fd, out_fd, digest) == 0 && !strcmp(digest, got.digest)) {
		futimens(fd, NULL); /* its last use, for LAYER_REUSE_KEEP */
		*bl = got;
		return true;
	}
	forget(dfd, key);
	/* A miss leaves OUT_FD as it came, for the builder. */
	if (ftruncate(out_fd, 0) == 0)
		lseek(out_fd, 0, SEEK_SET);
	return false;
}

struct stored {
	char key[65];
	struct timespec used;
};

static int by_use(const void *a, const void *b)
{
	const struct stored *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? 1 : -1;
	return x->used.tv_nsec < y->used.tv_nsec ? 1 : x->used.tv_nsec > y->used.tv_nsec ? -1 : 0;
}

/* Keep the LAYER_REUSE_KEEP most recently used; half-written ones of
 * processes gone are left for the tree's eviction, which takes them all. */
static void drop_oldest(int dfd)
{
	DIR *d = opendir_at(dfd, "");
	struct stored *v = NULL;
	size_t n = 0;
	for (struct dirent *de; d && (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		struct stat st;
		if (len != 64 + 5 || strcmp(de->d_name + 64, ".blob") ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		snprintf(v[n].key, sizeof(v[n].key), "%.64s", de->d_name);
		v[n++].used = st.st_mtim;
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(*v), by_use);
	for (size_t i = LAYER_REUSE_KEEP; i < n; i++)
		forget(dfd, v[i].key);
	free(v);
}

void layer_reuse_put(const char *dir, const char *key, int fd, const struct built_layer *bl)
{
	struct perr ignored;
	if (mkdir_p(dir, 0700, &ignored) < 0)
		return;
	cleanup_close int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	char tmp[96], name[80];
	snprintf(tmp, sizeof(tmp), "%s.blob.tmp-%d", key, (int)getpid());
	cleanup_close int out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	bool good = out >= 0 && lseek(fd, 0, SEEK_SET) == 0 && sha256_copy_fd(fd, out, NULL) == 0 && fsync(out) == 0;
	snprintf(name, sizeof(name), "%s.blob", key);
	good = good && renameat(dfd, tmp, dfd, name) == 0;
	if (!good) {
		unlinkat(dfd, tmp, 0);
		return;
	}
	/* The metadata last: an entry without it is no entry. */
	json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I}", "digest", bl->digest, "diff_id", bl->diff_id, "size",
			      (json_int_t)bl->size, "uncompressed", (json_int_t)bl->uncompressed, "entries",
			      (json_int_t)bl->entries);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	snprintf(tmp, sizeof(tmp), "%s.json.tmp-%d", key, (int)getpid());
	cleanup_close int mfd = text ? openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)
				     : -1;
	snprintf(name, sizeof(name), "%s.json", key);
	if (mfd < 0 || write_all(mfd, text, strlen(text)) < 0 || renameat(dfd, tmp, dfd, name) < 0) {
		unlinkat(dfd, tmp, 0);
		forget(dfd, key);
	}
	free(text);
	drop_oldest(dfd);
}
