/* From a trace to the slim image: the keep-set's seeds (the traced paths
 * the rules keep, the command, the workdir, the config's user and
 * volumes), what the probes wrote, the sizes before and after, the default
 * output name, and the image written. The first part of the slim pipeline
 * to move out of cmd/slim.c (issue 15). */
#define _GNU_SOURCE
#include "slimmer/slim_image.h"
#include "slimmer/layer_reuse.h"

#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/resolve.h"
#include "image/layer_write.h"
#include "image/writer.h"

void slim_seed(struct keepset *k, const struct rules *rules, const struct trace *t,
	       const struct run_plan *plan, const struct image *img, int rootfd,
	       struct dropped **dropped, size_t *n_dropped)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct rule *ex = rules_excluded(rules, t->e[i].path);
		if (ex) {
			if (t->e[i].exists) {
				*dropped = xrealloc(*dropped, (*n_dropped + 1) * sizeof(**dropped));
				(*dropped)[(*n_dropped)++] = (struct dropped){ xstrdup(t->e[i].path), ex };
			}
			continue;
		}
		char ops[256] = "";
		for (int op = 0; op < OP__COUNT; op++)
			if (t->e[i].ops & (1u << op))
				snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops), "%s%s", *ops ? "," : "",
					 trace_op_names[op]);
		keepset_add(k, t->e[i].path, KEEP_TRACED, ops);
		/* Where the program creates files, the directories must be there
		 * (nginx mkdirs /var/lib/nginx/body): keep the ancestors that
		 * exist in the image. */
		if (t->e[i].ops & (1u << OP_MODIFY | 1u << OP_OPEN_WRITE)) {
			cleanup_free char *dir = xstrdup(t->e[i].path);
			for (char *slash; (slash = strrchr(dir, '/')) && slash != dir;) {
				*slash = 0;
				keepset_add(k, dir, KEEP_PARENT, t->e[i].path);
			}
		}
	}
	/* The command's executable as exec would find it in the image's PATH. */
	const char *cmd = plan->argv.v[0];
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (size_t i = 0; i < plan->env.n; i++)
		if (!strncmp(plan->env.v[i], "PATH=", 5))
			path = plan->env.v[i] + 5;
	if (strchr(cmd, '/')) {
		keepset_add(k, cmd, KEEP_COMMAND, NULL);
	} else {
		cleanup_free char *copy = xstrdup(path);
		char *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			cleanup_free char *cand = xasprintf("%s/%s", d, cmd);
			if (image_has_path(rootfd, cand)) {
				keepset_add(k, cand, KEEP_COMMAND, NULL);
				break;
			}
		}
	}
	keepset_add(k, plan->cwd, KEEP_WORKDIR, NULL);
	/* A user named in the config is looked up in the image's own files
	 * when the slim image runs (by pare, docker and runc alike). */
	const char *user = img->config.user;
	if (user && *user && strspn(user, "0123456789:") != strlen(user)) {
		keepset_add(k, "/etc/passwd", KEEP_ALWAYS, "the image's User");
		keepset_add(k, "/etc/group", KEEP_ALWAYS, "the image's User");
	}
	for (size_t i = 0; i < img->config.volumes.n; i++)
		keepset_add(k, img->config.volumes.v[i], KEEP_ALWAYS, "VOLUME");
	rules_seed(rules, k, rootfd);
}

/* Regular files and bytes of the unpacked image (the "before"). */
struct tree_size {
	uint64_t bytes, entries;
};

static void count_entry(void *ctx, const char *rel, const struct stat *st)
{
	struct tree_size *ts = ctx;
	(void)rel;
	ts->entries++;
	if (S_ISREG(st->st_mode))
		ts->bytes += (uint64_t)st->st_size;
}

/* What the probes wrote, still there in the shared upper directory (not
 * whiteouts): PATHS gets them too, WRITTEN names them for the builder. */
void slim_collect_written(const struct rules *rules, const struct trace *t, int upper_fd,
			  const struct keepset *k, struct strv *paths, struct strset *written)
{
	for (size_t i = 0; i < t->n; i++) {
		const char *path = t->e[i].path;
		if (!(t->e[i].ops & (1u << OP_OPEN_WRITE | 1u << OP_MODIFY)) || rules_excluded(rules, path))
			continue;
		char parent[4097];
		struct perr ignored;
		struct stat st;
		const char *base = split_parent(path + 1, parent, sizeof(parent));
		int pfd = root_open_dir(upper_fd, parent, &ignored);
		if (pfd >= 0 && *base && fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !(S_ISCHR(st.st_mode) && st.st_rdev == 0) && strset_add(written, path + 1) &&
		    !keepset_find(k, path + 1))
			strv_push(paths, xstrdup(path + 1));
		if (pfd >= 0)
			close(pfd);
	}
}


void slim_measure(const struct image *img, int rootfd, struct tree_index *tree, const struct strv *paths,
		  struct slim_written *w)
{
	for (size_t i = 0; i < img->manifest.n_layers; i++)
		w->before_compressed += (uint64_t)img->manifest.layers[i].size;
	struct tree_size ts = { 0 };
	tree_walk(tree, rootfd, count_entry, &ts);
	w->before_bytes = ts.bytes;
	w->before_files = ts.entries;
	for (size_t i = 0; i < paths->n; i++) {
		struct stat st;
		if (fstatat(rootfd, paths->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			w->after_bytes += (uint64_t)st.st_size;
	}
}

/* Next to the input, as docker users name things: app.tar ->
 * app-slim.tar tagged NAME:TAG-slim (the archive's own tag), oci:DIR:TAG ->
 * oci:DIR:TAG-slim, docker-daemon:NAME:TAG -> docker-daemon:NAME:TAG-slim.
 * NULL when the input has no place to be next to (stdin). */
char *slim_default_output(const struct image *img)
{
	const struct imgref *in = &img->ref;
	const char *tag = in->tag ? in->tag : img->tag;
	switch (in->transport) {
	case T_OCI:
		return xasprintf("oci:%s:%s-slim", in->path, tag ? tag : "latest");
	case T_DOCKER_DAEMON:
		return xasprintf("docker-daemon:%s-slim", in->tag);
	case T_REGISTRY:
		/* A digest has no tag to extend: its first hex digits stand in. */
		if (in->digest)
			return xasprintf("docker://%s/%s:%.12s-slim", in->host, in->repo, digest_hex(in->digest));
		return xasprintf("docker://%s/%s:%s-slim", in->host, in->repo, in->tag);
	case T_OCI_ARCHIVE: {
		size_t n = strlen(in->path);
		size_t stem = n > 4 && !strcmp(in->path + n - 4, ".tar") ? n - 4 : n;
		return xasprintf("oci-archive:%.*s-slim.tar:%s-slim", (int)stem, in->path, tag ? tag : "latest");
	}
	default: {
		if (!strcmp(in->path, "-"))
			return NULL;
		size_t n = strlen(in->path);
		size_t stem = n > 4 && !strcmp(in->path + n - 4, ".tar") ? n - 4 : n;
		if (tag)
			return xasprintf("docker-archive:%.*s-slim.tar:%s-slim", (int)stem, in->path, tag);
		/* No tag of its own: name it after the file, as a repository
		 * name must be spelled (lowercase, [a-z0-9._-]). */
		const char *base = memrchr(in->path, '/', stem);
		base = base ? base + 1 : in->path;
		cleanup_free char *name = strndup(base, stem - (size_t)(base - in->path));
		for (char *c = name; *c; c++)
			*c = strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", tolower((unsigned char)*c))
				     ? (char)tolower((unsigned char)*c) : '-';
		return xasprintf("docker-archive:%.*s-slim.tar:%s:latest-slim", (int)stem, in->path,
				 *name && isalnum((unsigned char)*name) ? name : "image");
	}
	}
}


const char *slim_created(const struct image *img, char buf[64])
{
	int64_t epoch;
	if (!source_date_epoch(&epoch))
		return img->config.created;
	time_t t = (time_t)epoch;
	strftime(buf, 64, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	return buf;
}

int slim_write_image(const struct image *img, int rootfd, const char *reuse_dir, const struct imgref *dst,
		     const struct compress_spec *comp, const struct strv *paths,
		     const struct strset *from_upper, int upper_fd, struct slim_written *w,
		     struct perr *err)
{
	cleanup_writer struct image_writer *iw = NULL;
	if (writer_open(dst, &iw, err) < 0)
		return -1;
	struct build_opts bo = { .comp = writer_wants_uncompressed(iw) ? COMP_NONE : comp ? comp->comp : COMP_GZIP,
				 .level = comp ? comp->level : 0, .threads = comp ? comp->threads : 0,
				 .from_upper = from_upper, .upper_fd = upper_fd };
	w->comp = bo.comp;
	bo.clamp_mtime = source_date_epoch(&bo.epoch);
	cleanup_close int fd = writer_layer_tmpfile(iw, err);
	if (fd < 0)
		return perr_wrap(err, "building the slim layer");
	/* What a probe wrote comes from outside the tree: not reused. */
	char key[65];
	bool reusable = reuse_dir && !(from_upper && from_upper->n);
	if (reusable)
		layer_reuse_key(paths, &bo, key);
	w->reused = reusable && layer_reuse_get(reuse_dir, key, fd, &w->layer);
	if (!w->reused) {
		if (layer_build(rootfd, paths, fd, &bo, &w->layer, err) < 0)
			return perr_wrap(err, "building the slim layer");
		if (reusable)
			layer_reuse_put(reuse_dir, key, fd, &w->layer);
	}
	/* consumed: the writer owns it from here */
	if (writer_add_layer(iw, steal_fd(&fd), w->layer.digest, w->layer.size, bo.comp,
			     w->layer.diff_id, err) < 0)
		return -1;
	struct strv diff_ids = { 0 };
	strv_push(&diff_ids, xstrdup(w->layer.diff_id));
	char created[64];
	cleanup_free char *cfg = config_rewrite(img->config_raw, img->config_len, &diff_ids, "pare slim",
						slim_created(img, created), err);
	strv_free(&diff_ids);
	if (!cfg || writer_set_config(iw, cfg, strlen(cfg), err) < 0 || writer_commit(iw, err) < 0)
		return -1;
	const char *md = writer_manifest_digest(iw);
	snprintf(w->manifest, sizeof(w->manifest), "%s", md ? md : "");
	return 0;
}

