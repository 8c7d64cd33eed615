/* -v and --tmpfs: parsed and checked on our side, before any sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/resolve.h"
#include "tracer/sandbox.h"
#include "tracer/volume.h"

/* Where a mount would hide or undo what the sandbox itself mounts. */
static const char *const reserved[] = { "proc", "sys", "dev", SANDBOX_PRIVATE_DIR + 1 };

static int clean_target(const char *opt, const char *path, char *out, size_t sz, struct perr *err)
{
	if (path[0] != '/')
		return perr_set(err, 0, "%s: the path in the image '%s' must be absolute", opt, path);
	if (clean_entry_path(path, out, sz - 1, err) < 0)
		return perr_wrap(err, "%s '%s'", opt, path);
	if (!out[0])
		return perr_set(err, 0, "%s: cannot mount over the image's root", opt);
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
		size_t k = strlen(reserved[i]);
		if (!strncmp(out, reserved[i], k) && (!out[k] || out[k] == '/'))
			return perr_set(err, 0, "%s: /%s is the sandbox's own mount; choose another path",
					opt, out);
	}
	/* back to absolute: "/" + canonical */
	memmove(out + 1, out, strlen(out) + 1);
	out[0] = '/';
	return 0;
}

static void volume_free(struct volume *v)
{
	free(v->source);
	free(v->target);
	if (v->fd >= 0)
		close(v->fd);
}

static int push(struct volume_list *l, struct volume *v, const char *opt, struct perr *err)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].target, v->target)) {
			volume_free(v);
			return perr_set(err, 0, "%s: %s is mounted twice", opt, l->v[i].target);
		}
	/* Kept shortest target first: a volume inside another is mounted after it. */
	size_t at = l->n;
	while (at > 0 && strlen(l->v[at - 1].target) > strlen(v->target))
		at--;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	memmove(&l->v[at + 1], &l->v[at], (l->n - at) * sizeof(*l->v));
	l->v[at] = *v;
	l->n++;
	return 0;
}

/* The host side: a directory or a regular file, never a FIFO or device
 * (nothing is waited on or opened for I/O here: O_PATH). */
static int open_source(struct volume *v, struct perr *err)
{
	struct stat st;
	v->fd = open(v->source, O_PATH | O_CLOEXEC);
	if (v->fd < 0 || fstat(v->fd, &st) < 0)
		return perr_set(err, errno, "-v: cannot open '%s'", v->source);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return perr_set(err, 0, "-v: '%s' is %s, not a directory or a regular file", v->source,
				file_kind_name(st.st_mode));
	v->is_dir = S_ISDIR(st.st_mode);
	return 0;
}

int volume_add_bind(struct volume_list *l, const char *spec, struct perr *err)
{
	struct volume v = { .kind = VOLUME_BIND, .fd = -1 };
	cleanup_free char *copy = xstrdup(spec);
	char *mode = NULL, *target = strchr(copy, ':');
	if (!target || target == copy)
		return perr_set(err, 0, "-v '%s': expected HOST:PATH[:ro|rw]", spec);
	*target++ = 0;
	if ((mode = strchr(target, ':')))
		*mode++ = 0;
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw"))
		return perr_set(err, 0, "-v '%s': the mode '%s' is not ro or rw", spec, mode);
	if (copy[0] != '/' && strncmp(copy, "./", 2) && strncmp(copy, "../", 3))
		return perr_set(err, 0, "-v '%s': '%s' is not a host path; named volumes are docker's "
				"(give an absolute path, or ./%s)", spec, copy, copy);
	char clean[PATH_MAX];
	if (clean_target("-v", target, clean, sizeof(clean), err) < 0)
		return -1;
	v.source = xstrdup(copy);
	v.target = xstrdup(clean);
	v.readonly = mode && !strcmp(mode, "ro");
	if (open_source(&v, err) < 0) {
		volume_free(&v);
		return -1;
	}
	return push(l, &v, "-v", err);
}

int volume_add_tmpfs(struct volume_list *l, const char *spec, struct perr *err)
{
	char clean[PATH_MAX];
	if (strchr(spec, ':'))
		return perr_set(err, 0, "--tmpfs '%s': mount options are not supported (it is "
				"mode 1777, nosuid, nodev, noexec, as docker's)", spec);
	if (clean_target("--tmpfs", spec, clean, sizeof(clean), err) < 0)
		return -1;
	struct volume v = { .kind = VOLUME_TMPFS, .target = xstrdup(clean), .fd = -1, .is_dir = true };
	return push(l, &v, "--tmpfs", err);
}

const struct volume *volume_holding(const struct volume_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++) {
		size_t k = strlen(l->v[i].target);
		if (!strncmp(path, l->v[i].target, k) && (!path[k] || path[k] == '/'))
			return &l->v[i];
	}
	return NULL;
}

void volume_list_free(struct volume_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		volume_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
