#define _GNU_SOURCE
#include "tracer/run_plan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>

#include <sys/stat.h>

#include "base/resolve.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ACCOUNT_FILE (4u << 20)

void run_plan_free(struct run_plan *p)
{
	strv_free(&p->argv);
	strv_free(&p->env);
	free(p->cwd);
	free(p->groups);
	memset(p, 0, sizeof(*p));
}

int parse_signal(const char *s)
{
	uint64_t n;
	if (parse_u64(s, &n) == 0)
		return n > 0 && n < (uint64_t)NSIG ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);
		if (name && !strcasecmp(name, s))
			return i;
	}
	return -1;
}

bool image_has_path(int rootfd, const char *path)
{
	struct perr err;
	int fd = root_open_file(rootfd, path, O_PATH, &err);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* One line of passwd or group split on ':'; returns the field count. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = 0;
			f[n++] = p + 1;
		}
	return n;
}

static bool parse_id(const char *s, unsigned *out)
{
	uint64_t v;
	if (parse_u64(s, &v) < 0 || v > 0xfffffffeu)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Read an account file of the image, resolved in-root (/etc may be a
 * symlink); a missing or odd one reads as empty. */
static char *read_account(int rootfd, const char *rel)
{
	struct perr err;
	long fd = root_open_file(rootfd, rel, O_RDONLY | O_NONBLOCK, &err);
	struct stat st;
	if (fd < 0)
		return xstrdup("");
	char *buf = NULL;
	if (fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < MAX_ACCOUNT_FILE) {
		buf = xmalloc((size_t)st.st_size + 1);
		ssize_t n = read_full((int)fd, buf, (size_t)st.st_size);
		buf[n > 0 ? n : 0] = 0;
	}
	close((int)fd);
	return buf ? buf : xstrdup("");
}

struct account {
	bool found;
	char name[256];
	unsigned uid, gid;
	char home[1024];
};

static void find_user(const char *passwd, const char *want, struct account *a)
{
	cleanup_free char *copy = xstrdup(passwd);
	char *save = NULL;
	unsigned want_id = 0;
	bool numeric = parse_id(want, &want_id);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[8];
		unsigned uid, gid;
		if (split_fields(line, f, 8) < 7 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
			continue;
		if (numeric ? uid != want_id : strcmp(f[0], want) != 0)
			continue;
		a->found = true;
		snprintf(a->name, sizeof(a->name), "%s", f[0]);
		a->uid = uid;
		a->gid = gid;
		snprintf(a->home, sizeof(a->home), "%s", f[5]);
		return;
	}
}

/* gid of group WANT (name or number); false when unknown by name. */
static bool find_group(const char *group, const char *want, unsigned *gid)
{
	if (parse_id(want, gid))
		return true;
	cleanup_free char *copy = xstrdup(group);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5];
		if (split_fields(line, f, 5) >= 3 && !strcmp(f[0], want) && parse_id(f[2], gid))
			return true;
	}
	return false;
}

/* Supplementary groups: every group that lists NAME as a member. */
static void member_groups(const char *group, const char *name, struct run_plan *p)
{
	cleanup_free char *copy = xstrdup(group);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5], *msave = NULL;
		unsigned gid;
		if (split_fields(line, f, 5) < 4 || !parse_id(f[2], &gid))
			continue;
		for (char *m = strtok_r(f[3], ",", &msave); m; m = strtok_r(NULL, ",", &msave))
			if (!strcmp(m, name)) {
				p->groups = xrealloc(p->groups, (p->ngroups + 1) * sizeof(gid_t));
				p->groups[p->ngroups++] = gid;
			}
	}
}

static int resolve_user(int rootfd, const char *spec, struct run_plan *p, char **home,
			struct perr *err)
{
	*home = xstrdup("/");
	if (!spec || !*spec)
		spec = "0";
	cleanup_free char *user = xstrdup(spec);
	char *grp = strchr(user, ':');
	if (grp)
		*grp++ = 0;
	cleanup_free char *passwd = read_account(rootfd, "/etc/passwd");
	cleanup_free char *group = read_account(rootfd, "/etc/group");
	struct account a = { 0 };
	find_user(passwd, user, &a);
	unsigned id;
	if (a.found) {
		p->uid = a.uid;
		p->gid = a.gid;
		free(*home);
		*home = xstrdup(a.home[0] ? a.home : "/");
		member_groups(group, a.name, p);
	} else if (parse_id(user, &id)) {
		p->uid = id;
		p->gid = 0;
	} else {
		return perr_set(err, 0, "user '%s' is not in the image's /etc/passwd", user);
	}
	if (grp) {
		if (!find_group(group, grp, &id))
			return perr_set(err, 0, "group '%s' is not in the image's /etc/group", grp);
		p->gid = id;
	}
	return 0;
}

static bool env_has(const struct strv *env, const char *key)
{
	size_t k = strlen(key);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], key, k) && env->v[i][k] == '=')
			return true;
	return false;
}

static void env_set(struct strv *env, const char *kv)
{
	size_t k = strcspn(kv, "=");
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], kv, k) && env->v[i][k] == '=') {
			free(env->v[i]);
			env->v[i] = xstrdup(kv);
			return;
		}
	strv_push(env, xstrdup(kv));
}

static void build_env(const struct image_config *c, const struct run_overrides *o,
		      const char *home, struct run_plan *p)
{
	for (size_t i = 0; i < c->env.n; i++)
		env_set(&p->env, c->env.v[i]);
	for (size_t i = 0; i < o->nenv; i++) {
		if (strchr(o->env[i], '=')) {
			env_set(&p->env, o->env[i]);
		} else if (getenv(o->env[i])) { /* docker's -e KEY: take our value */
			cleanup_free char *kv = xasprintf("%s=%s", o->env[i], getenv(o->env[i]));
			env_set(&p->env, kv);
		}
	}
	if (!env_has(&p->env, "PATH"))
		env_set(&p->env, "PATH=" DEFAULT_PATH);
	cleanup_free char *hn = xasprintf("HOSTNAME=%s", o->hostname);
	env_set(&p->env, hn);
	if (!env_has(&p->env, "HOME")) {
		cleanup_free char *h = xasprintf("HOME=%s", home);
		env_set(&p->env, h);
	}
	if (o->tty && !env_has(&p->env, "TERM"))
		env_set(&p->env, "TERM=xterm");
}

int run_plan_build(int rootfd, const struct image_config *c, const struct run_overrides *o,
		   struct run_plan *p, struct perr *err)
{
	memset(p, 0, sizeof(*p));
	if (o->entrypoint) {
		if (*o->entrypoint)
			strv_push(&p->argv, xstrdup(o->entrypoint));
	} else {
		for (size_t i = 0; i < c->entrypoint.n; i++)
			strv_push(&p->argv, xstrdup(c->entrypoint.v[i]));
	}
	if (o->ncmd) {
		for (size_t i = 0; i < o->ncmd; i++)
			strv_push(&p->argv, xstrdup(o->cmd[i]));
	} else if (!o->entrypoint) { /* docker: a new entrypoint drops the image's cmd */
		for (size_t i = 0; i < c->cmd.n; i++)
			strv_push(&p->argv, xstrdup(c->cmd.v[i]));
	}
	if (!p->argv.n) {
		run_plan_free(p);
		return perr_set(err, 0, "the image has no entrypoint or cmd; give a command");
	}
	cleanup_free char *home = NULL;
	if (resolve_user(rootfd, o->user ? o->user : c->user, p, &home, err) < 0) {
		run_plan_free(p);
		return -1;
	}
	const char *wd = o->workdir ? o->workdir : c->workdir;
	p->cwd = xstrdup(wd && *wd ? wd : "/");
	if (p->cwd[0] != '/') {
		run_plan_free(p);
		return perr_set(err, 0, "working directory '%s' is not absolute", wd);
	}
	p->stop_signal = SIGTERM;
	if (c->stop_signal && *c->stop_signal) {
		p->stop_signal = parse_signal(c->stop_signal);
		if (p->stop_signal < 0) {
			perr_set(err, 0, "unknown StopSignal '%s' in the image config", c->stop_signal);
			run_plan_free(p);
			return -1;
		}
	}
	build_env(c, o, home, p);
	return 0;
}

int env_file_read(const char *file, struct strv *env, struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	if (read_side_file(file, 1u << 20, &text, &len, err) < 0)
		return perr_wrap(err, "--env-file");
	if (strlen(text) != len)
		return perr_set(err, 0, "--env-file: '%s' holds a NUL byte", file);
	unsigned lineno = 0;
	for (char *line = text, *next; line; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		line += strspn(line, " \t");
		size_t n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[--n] = 0;
		if (!n || *line == '#')
			continue;
		size_t key = strcspn(line, "=");
		if (!key || strcspn(line, " \t") < key)
			return perr_set(err, 0, "--env-file: %s line %u: '%.*s' is not a variable name",
					file, lineno, (int)key, line);
		strv_push(env, xstrdup(line));
	}
	return 0;
}
