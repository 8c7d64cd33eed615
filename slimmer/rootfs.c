#define _GNU_SOURCE
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"

char *rootfs_default_cache(void)
{
	const char *env = getenv("PARE_CACHE_DIR");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/cache/pare");
	env = getenv("XDG_CACHE_HOME");
	if (env && *env)
		return xasprintf("%s/pare", env);
	env = getenv("HOME");
	return env && *env ? xasprintf("%s/.cache/pare", env) : NULL;
}

int rootfs_get(struct image *img, const char *cache_dir, const struct apply_opts *ao,
	       struct rootfs *out, struct perr *err)
{
	struct apply_stats st;
	memset(out, 0, sizeof(*out));
	if (!cache_dir) {
		cleanup_free char *tmp = make_tempdir("pare-rootfs", err);
		if (!tmp)
			return -1;
		cleanup_free char *dir = xasprintf("%s/rootfs", tmp);
		if (image_unpack(img, dir, ao, &st, err) < 0) {
			rmdir(tmp);
			return -1;
		}
		out->path = steal_pointer(&dir);
		out->temporary = true;
		return 0;
	}
	cleanup_free char *base = xasprintf("%s/rootfs", cache_dir);
	if (mkdir_p(base, 0700, err) < 0)
		return perr_wrap(err, "cache");
	cleanup_free char *final = xasprintf("%s/%s", base, digest_hex(img->config_digest));
	struct stat s;
	if (stat(final, &s) == 0 && S_ISDIR(s.st_mode)) {
		out->path = steal_pointer(&final);
		out->cached = true;
		return 0;
	}
	/* Unpack beside it and rename: a crash never leaves a half tree under
	 * the final name. */
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", final, (int)getpid());
	if (image_unpack(img, tmp, ao, &st, err) < 0)
		return -1;
	if (rename(tmp, final) < 0) {
		int e = errno;
		struct perr ignored;
		remove_tree_at(AT_FDCWD, tmp, &ignored);
		if (e != EEXIST && e != ENOTEMPTY) /* else another run won the race */
			return perr_set(err, e, "cannot rename '%s'", tmp);
	}
	out->path = steal_pointer(&final);
	return 0;
}

void rootfs_release(struct rootfs *r)
{
	if (r->temporary && r->path) {
		struct perr ignored;
		char *slash = strrchr(r->path, '/');
		remove_tree_at(AT_FDCWD, r->path, &ignored);
		if (slash) {
			*slash = 0;
			rmdir(r->path);
		}
	}
	free(r->path);
	memset(r, 0, sizeof(*r));
}
