/* A run session. See session.h. */
#define _GNU_SOURCE
#include "tracer/session.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_tree(const struct session_opts *o, struct session *s, struct perr *err)
{
	if (image_open_text(o->ref, &o->open, &s->img, err) < 0)
		return -1;
	struct apply_opts ao = { .lim = o->open.lim, .privileged = geteuid() == 0,
				 .warn = o->warn, .ctx = o->ctx, .layer_done = o->layer_done };
	return rootfs_open(s->img, o->cache_dir, o->cache_max, &ao, &s->rfs, &s->rootfd, err);
}

/* A shell: the image's own, else our busybox, bound where the tracer
 * never records (SANDBOX_PRIVATE_DIR). */
static int pick_shell(const struct session_opts *o, struct session *s, struct run_overrides *ov,
		      struct perr *err)
{
	static char *sh[] = { "/bin/sh", NULL };
	static char *bb[] = { SANDBOX_PRIVATE_DIR "/busybox", "sh", NULL };
	ov->entrypoint = "";
	if (image_has_path(s->rootfd, "/bin/sh")) {
		ov->cmd = sh;
		ov->ncmd = 1;
		return 0;
	}
	struct stat st;
	if (!o->busybox || stat(o->busybox, &st) < 0)
		return perr_set(err, 0, "the image has no /bin/sh and %s is missing\n"
				"(Hint: apt-get install busybox-static)", o->busybox ? o->busybox : "busybox");
	s->spec.busybox = o->busybox;
	ov->cmd = bb;
	ov->ncmd = 2;
	return 0;
}

/* The program's standard fds: the pty, or ours (stdin only with -i). */
static int set_fds(struct session *s, bool tty, struct perr *err)
{
	struct proc_spec *p = &s->spec.proc;
	if (tty) {
		if (pty_open(&s->master, &s->slave, err) < 0)
			return -1;
		for (int i = 0; i < 3; i++)
			p->fds[i] = s->slave;
		p->tty = true;
		return 0;
	}
	s->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	p->fds[0] = s->interactive ? STDIN_FILENO : s->null_fd;
	p->fds[1] = STDOUT_FILENO;
	p->fds[2] = STDERR_FILENO;
	return 0;
}

static void set_proc(const struct session_opts *o, struct session *s)
{
	struct proc_spec *p = &s->spec.proc;
	s->spec.rootfs = s->rfs.path;
	s->spec.hostname = o->ov.hostname;
	s->spec.net_host = o->net_host;
	s->spec.confine = o->confine;
	if (o->volumes) {
		s->spec.volumes = o->volumes->v;
		s->spec.n_volumes = o->volumes->n;
	}
	p->argv = s->plan.argv.v;
	p->envp = s->plan.env.v;
	p->cwd = s->plan.cwd;
	p->uid = s->plan.uid;
	p->gid = s->plan.gid;
	p->groups = s->plan.groups;
	p->ngroups = s->plan.ngroups;
	const char *userns = sandbox_userns_reason();
	if (userns && geteuid() == 0 && o->warn) { /* root in a container, with its default caps */
		char msg[400];
		snprintf(msg, sizeof(msg), "root with %s: the sandbox takes the rootless path (a user "
			 "namespace of its own); fanotify and the eBPF recorder need CAP_SYS_ADMIN in the "
			 "initial namespace, so every path call waits for seccomp notification", userns);
		o->warn(o->ctx, msg);
	}
	if (userns && s->plan.uid != 0) {
		if (o->warn) {
			char msg[160];
			snprintf(msg, sizeof(msg), "rootless: running as root in a user namespace "
				 "instead of uid %u", (unsigned)s->plan.uid);
			o->warn(o->ctx, msg);
		}
		p->uid = p->gid = 0;
		p->ngroups = 0;
	}
}

int session_open(const struct session_opts *o, struct session *s, struct perr *err)
{
	memset(s, 0, sizeof(*s));
	s->rootfd = s->master = s->slave = s->null_fd = -1;
	struct run_overrides ov = o->ov;
	s->interactive = o->interactive || o->shell;
	if (open_tree(o, s, err) < 0 || (o->shell && pick_shell(o, s, &ov, err) < 0))
		goto fail;
	ov.tty = o->ov.tty || o->shell;
	if (run_plan_build(s->rootfd, &s->img->config, &ov, &s->plan, err) < 0) {
		perr_wrap(err, "%s", s->img->ref.text);
		goto fail;
	}
	if (set_fds(s, ov.tty, err) < 0)
		goto fail;
	set_proc(o, s);
	return 0;
fail:
	session_close(s);
	return -1;
}

void session_close(struct session *s)
{
	if (s->master >= 0)
		close(s->master);
	if (s->slave >= 0)
		close(s->slave);
	if (s->null_fd >= 0)
		close(s->null_fd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	s->master = s->slave = s->null_fd = s->rootfd = -1;
	run_plan_free(&s->plan);
	rootfs_release(&s->rfs);
	if (s->img)
		image_close(s->img);
	s->img = NULL;
}
