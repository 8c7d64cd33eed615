/* The sandbox: pid 1 (our init, a clone of this process, never an image
 * binary) builds the mounts and starts the program. See sandbox.h. */
#define _GNU_SOURCE
#include "base/resolve.h"
#include "tracer/sandbox.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <dirent.h>

#include "tracer/syscalls.h"

#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif

/* Device nodes bound from the host into the sandbox's /dev. */
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

static const struct { const char *name, *target; } dev_links[] = {
	{ "fd", "/proc/self/fd" },      { "stdin", "/proc/self/fd/0" },
	{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
	{ "ptmx", "pts/ptmx" },
};

/* Docker's masked and read-only paths (moby daemon/pkg/oci/defaults.go,
 * docker 29.7): kernel state a container has no business reading, and
 * knobs it must not turn. A masked directory gets an empty read-only
 * tmpfs, a masked file /dev/null; a read-only one a read-only bind of
 * itself. Missing ones are skipped, as runc does. */
static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
	"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* Control messages. To pid 1: 'G' build the sandbox, 'P' start the
 * program, 'X' + u32 start exec process N, 'K' + u32 kill it. From pid 1:
 * 'R' ready, 'E' + text error, 'S' + int the program's status, 'x' + u32
 * + int exec process N's status. */
enum { MSG_GO = 'G', MSG_READY = 'R', MSG_ERROR = 'E', MSG_START = 'P', MSG_STATUS = 'S',
       MSG_EXEC = 'X', MSG_KILL = 'K', MSG_EXITED = 'x' };

/* What pid 1 needs besides the spec, prepared before the clone. */
struct init_ctx {
	const struct sandbox_spec *spec;
	const struct confinement *confine;
	struct confine_cgroup cg;
	int ctl, exec_w;
	int handover;           /* spec->notify: where listeners go, or -1 */
	int fail_code;          /* init_fail's exit code */
	pid_t *exec_pids;       /* spec->execs' running processes, 0 = none */
	bool rootless;
	int cap_last;
	char resolv[4096];
	int dev_trees[ARRAY_SIZE(dev_nodes)];
	int busybox_tree, sys_tree, proc_tree;
	int *volume_trees;      /* spec->volumes' detached mounts */
};

/* ---- helpers that run in pid 1 (no allocation needed, errors as text) ---- */

static __attribute__((noreturn)) void init_fail(struct init_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void init_fail(struct init_ctx *c, const char *fmt, ...)
{
	char msg[1024];
	int e = errno;
	va_list ap;
	msg[0] = MSG_ERROR;
	va_start(ap, fmt);
	int n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n + 1 < sizeof(msg) && e)
		n += snprintf(msg + 1 + n, sizeof(msg) - 1 - n, ": %s", strerror(e));
	if ((size_t)n + 1 > sizeof(msg))
		n = sizeof(msg) - 1;
	if (c->ctl >= 0) { /* a socket in pid 1, the exec pipe in the program */
		(void)!write(c->ctl, msg, n + 1);
	} else { /* an exec process: its own stderr, as docker exec says it */
		(void)!write(STDERR_FILENO, "pare: ", 6);
		if ((size_t)n + 2 > sizeof(msg))
			n = sizeof(msg) - 2;
		msg[n + 1] = '\n';
		(void)!write(STDERR_FILENO, msg + 1, n + 1);
	}
	_exit(c->fail_code);
}

static int new_mount(struct init_ctx *c, const char *fstype, const char *const *opts,
		     unsigned attrs)
{
	int fs = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		init_fail(c, "cannot create a %s filesystem", fstype);
	for (; opts && opts[0]; opts += 2) {
		int r = opts[1] ? fsconfig(fs, FSCONFIG_SET_STRING, opts[0], opts[1], 0)
				: fsconfig(fs, FSCONFIG_SET_FLAG, opts[0], NULL, 0);
		if (r < 0)
			init_fail(c, "cannot set %s option '%s'", fstype, opts[0]);
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		init_fail(c, "cannot create the %s filesystem", fstype);
	int m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (m < 0)
		init_fail(c, "cannot mount the %s filesystem", fstype);
	close(fs);
	return m;
}

/* A detached mount of a filesystem without options, or -1. */
static int try_mount(const char *fstype, unsigned attrs)
{
	int fs = fsopen(fstype, FSOPEN_CLOEXEC), m = -1;
	if (fs >= 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
		m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (fs >= 0)
		close(fs);
	return m;
}

/* Mount the detached tree MNT on the mount point fd T (closed, as MNT
 * is), which must be a directory or a regular file as DIR says; WHAT
 * names it in errors ("mount point /x", "volume /x"). */
static void attach_at(struct init_ctx *c, int mnt, int t, bool dir, const char *what)
{
	struct stat st;
	if (fstat(t, &st) < 0 || (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		errno = 0;
		init_fail(c, "%s: in the image it is not a %s", what, dir ? "directory" : "regular file");
	}
	if (move_mount(mnt, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		init_fail(c, "%s: cannot mount on it", what);
	close(t);
	close(mnt);
}

/* Attach detached mount MNT at PATH inside the new root. The mount point
 * is created when missing and must be a real directory (or file), never a
 * symlink: the image decides what is at PATH, so nothing is followed. */
static void attach(struct init_ctx *c, int mnt, const char *path, bool dir)
{
	if (dir) {
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			init_fail(c, "cannot create mount point %s", path);
	} else {
		int f = open(path, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (f >= 0)
			close(f);
	}
	int t = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (t < 0)
		init_fail(c, "cannot open mount point %s", path);
	char what[4200];
	snprintf(what, sizeof(what), "mount point %s", path);
	attach_at(c, mnt, t, dir, what);
}

/* Replace /etc/NAME in the overlay (the upper layer only) with TEXT, as
 * Docker's bind-mounted hosts, hostname and resolv.conf. */
static void write_etc(struct init_ctx *c, const char *name, const char *text)
{
	int etc = open("/etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (etc < 0) {
		if (mkdir("/etc", 0755) < 0 && errno != EEXIST)
			init_fail(c, "cannot create /etc");
		etc = open("/etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (etc < 0)
			init_fail(c, "/etc in the image is not a directory");
	}
	struct stat st;
	if (fstatat(etc, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		unlinkat(etc, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	int f = openat(etc, name, O_CREAT | O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f < 0 || write_all(f, text, strlen(text)) < 0)
		init_fail(c, "cannot write /etc/%s", name);
	close(f);
	close(etc);
}

static void loopback_up(struct init_ctx *c)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		init_fail(c, "cannot read the loopback interface");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		init_fail(c, "cannot bring up the loopback interface");
	close(s);
}

/* Cover PATH, one of our /proc or /sys paths (never the image's), with an
 * empty read-only tmpfs (a directory) or /dev/null (a file). */
static void mask_path(struct init_ctx *c, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return; /* not on this kernel: nothing to hide */
	static const char *const ro_opts[] = { "mode", "0555", "size", "4k", NULL };
	int m = S_ISDIR(st.st_mode)
			? new_mount(c, "tmpfs", ro_opts, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
							 MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)
			: open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (m < 0 || move_mount(m, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		init_fail(c, "cannot mask %s", path);
	close(m);
}

static void readonly_path(struct init_ctx *c, const char *path)
{
	int t = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
						  AT_SYMLINK_NOFOLLOW);
	if (t < 0 && errno == ENOENT)
		return;
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
	if (t < 0 || mount_setattr(t, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0 ||
	    move_mount(t, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		init_fail(c, "cannot make %s read-only", path);
	close(t);
}

/* Docker's lists, plus each CPU's thermal_throttle directory (moby masks
 * those too: GHSA-6fw5-f8r9-fgfm). Works the same over our own /proc and
 * over a bind of the host's (rootless). */
static void mask_kernel_paths(struct init_ctx *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++)
		mask_path(c, masked_paths[i]);
	cleanup_dir DIR *d = opendir("/sys/devices/system/cpu");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "cpu", 3) || e->d_name[3] < '0' || e->d_name[3] > '9')
			continue;
		char p[300];
		snprintf(p, sizeof(p), "/sys/devices/system/cpu/%s/thermal_throttle", e->d_name);
		mask_path(c, p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++)
		readonly_path(c, readonly_paths[i]);
}

/* Set ATTRS on a cloned tree and all below it; one that cannot take them
 * is not used (closed, -1). */
static void restrict_tree(int *tree, unsigned attrs)
{
	struct mount_attr a = { .attr_set = attrs };
	if (*tree >= 0 && mount_setattr(*tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0) {
		close(*tree);
		*tree = -1;
	}
}

/* A clone of volume V's host side. V's fd is a mount of the host's
 * namespace, which a new namespace may not clone from: clone its path as
 * seen here, and use it only if it is still the very inode V's fd holds
 * (a symlink swapped in since the option was read fails, never mounts). */
static int clone_source(struct init_ctx *c, const struct volume *v)
{
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", v->fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		init_fail(c, "cannot find the volume %s", v->source);
	path[n] = 0;
	int t = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
					     AT_SYMLINK_NOFOLLOW);
	struct stat want, got;
	if (t < 0 || fstat(v->fd, &want) < 0 || fstat(t, &got) < 0)
		init_fail(c, "cannot bind %s", v->source);
	if (want.st_dev != got.st_dev || want.st_ino != got.st_ino) {
		errno = 0;
		init_fail(c, "volume %s changed on the host while the sandbox started", v->source);
	}
	return t;
}

/* A detached mount for volume V, made before pivot_root (the host side
 * is reached only through V's fd, opened when the option was read). */
static int volume_tree(struct init_ctx *c, const struct volume *v)
{
	const unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	if (v->kind == VOLUME_TMPFS) {
		static const char *const opts[] = { "mode", "1777", NULL };
		return new_mount(c, "tmpfs", opts, attrs | MOUNT_ATTR_NOEXEC);
	}
	int src = clone_source(c, v);
	if (v->readonly || !v->is_dir) {
		restrict_tree(&src, attrs | MOUNT_ATTR_RDONLY);
		if (src < 0)
			init_fail(c, "cannot make the volume %s read-only", v->source);
		return src;
	}
	/* Writable: the host directory as an overlay's lower layer, the
	 * writes in a tmpfs of this sandbox's own, gone with it. */
	static const char *const tmp_opts[] = { "mode", "0755", NULL };
	int tmp = new_mount(c, "tmpfs", tmp_opts, 0);
	struct stat st;
	if (mkdirat(tmp, "upper", 0755) < 0 || mkdirat(tmp, "work", 0755) < 0 || fstat(v->fd, &st) < 0)
		init_fail(c, "cannot prepare the writable layer of %s", v->source);
	/* The merged root takes the upper's owner and mode: the host's. */
	if (fchmodat(tmp, "upper", st.st_mode & 07777, 0) < 0 ||
	    (fchownat(tmp, "upper", st.st_uid, st.st_gid, 0) < 0 && !c->rootless))
		init_fail(c, "cannot prepare the writable layer of %s", v->source);
	char lower[64], upper[64], work[64];
	snprintf(lower, sizeof(lower), "/proc/self/fd/%d", src);
	snprintf(upper, sizeof(upper), "/proc/self/fd/%d/upper", tmp);
	snprintf(work, sizeof(work), "/proc/self/fd/%d/work", tmp);
	const char *opts[] = { "lowerdir", lower, "upperdir", upper, "workdir", work,
			       c->rootless ? "userxattr" : NULL, NULL, NULL };
	int ovl = new_mount(c, "overlay", opts, attrs);
	close(tmp);
	close(src);
	return ovl;
}

/* Mount point PATH made and opened inside the new root, its symlinks
 * resolved in the root (RESOLVE_IN_ROOT, no magic links: /proc is not
 * mounted yet either); a missing component is created in its resolved
 * parent, never through a symlink. */
static int open_mount_point(const char *path, bool dir, struct perr *err)
{
	char rel[PATH_MAX], part[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s", path + 1);
	cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return perr_set(err, errno, "cannot open the root");
	for (char *s = rel;; s++) {
		if (*s && *s != '/')
			continue;
		snprintf(part, sizeof(part), "%.*s", (int)(s - rel), rel);
		bool last = !*s;
		int fd = last && !dir ? root_open_file(root, part, O_PATH, err) : root_open_dir(root, part, err);
		if (fd < 0 && err->errnum == ENOENT) {
			char parent[PATH_MAX];
			const char *base = split_parent(part, parent, sizeof(parent));
			cleanup_close int pfd = root_open_dir(root, parent, err);
			int made = pfd < 0 ? -1
				   : !last || dir ? mkdirat(pfd, base, 0755)
				   : openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (made < 0 && pfd >= 0 && errno == EEXIST) /* a dangling symlink */
				return perr_set(err, 0, "/%s is a symlink to nothing in the image", part);
			if (made < 0 && pfd >= 0)
				return perr_set(err, errno, "cannot create mount point /%s", part);
			if (made > 0 && last && !dir)
				close(made);
			fd = last && !dir ? root_open_file(root, part, O_PATH, err) : root_open_dir(root, part, err);
		}
		if (fd < 0 || last)
			return fd;
		close(fd);
	}
}

static void attach_volume(struct init_ctx *c, int mnt, const struct volume *v)
{
	struct perr err = { 0 };
	int t = open_mount_point(v->target, v->is_dir, &err);
	if (t < 0) {
		errno = 0; /* the message has the cause */
		init_fail(c, "volume %s: %s", v->target, err.msg);
	}
	char what[4200];
	snprintf(what, sizeof(what), "volume %s", v->target);
	attach_at(c, mnt, t, v->is_dir, what);
}

/* Mounts below the new root; runs after pivot_root, so every path here
 * resolves inside the image. */
static void setup_root(struct init_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	/* Volumes first, while no /proc can lend a magic link to their paths. */
	for (size_t i = 0; i < s->n_volumes; i++)
		attach_volume(c, c->volume_trees[i], &s->volumes[i]);
	int proc = try_mount("proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	/* A user namespace may not mount a proc that is partly hidden on the
	 * host (mount_too_revealing): then bind the host's, which still gives
	 * /proc/self; pids are the host's. */
	if (proc < 0 && c->rootless && c->proc_tree >= 0) {
		proc = c->proc_tree;
		c->proc_tree = -1;
	}
	if (proc < 0)
		init_fail(c, "cannot mount /proc");
	attach(c, proc, "/proc", true);
	if (c->proc_tree >= 0)
		close(c->proc_tree);
	static const char *const dev_opts[] = { "mode", "0755", "size", "65536k", NULL };
	attach(c, new_mount(c, "tmpfs", dev_opts,
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV),
	       "/dev", true);
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		char p[64];
		snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i]);
		if (c->dev_trees[i] >= 0)
			attach(c, c->dev_trees[i], p, false);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++) {
		char p[64];
		snprintf(p, sizeof(p), "/dev/%s", dev_links[i].name);
		if (symlink(dev_links[i].target, p) < 0)
			init_fail(c, "cannot create %s", p);
	}
	const char *pts_opts[] = { "newinstance", NULL, "ptmxmode", "0666", "mode", "0620",
				   c->rootless ? NULL : "gid", "5", NULL };
	attach(c, new_mount(c, "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC),
	       "/dev/pts", true);
	static const char *const shm_opts[] = { "mode", "1777", "size", "65536k", NULL };
	attach(c, new_mount(c, "tmpfs", shm_opts,
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC),
	       "/dev/shm", true);

	int sys = -1;
	if (!s->net_host && !c->rootless)
		sys = try_mount("sysfs", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
						 MOUNT_ATTR_NOEXEC);
	if (sys < 0)
		sys = c->sys_tree; /* the host's /sys, bound read-only */
	else if (c->sys_tree >= 0)
		close(c->sys_tree);
	if (sys >= 0)
		attach(c, sys, "/sys", true);
	mask_kernel_paths(c);

	if (c->busybox_tree >= 0) {
		if (mkdir(SANDBOX_PRIVATE_DIR, 0755) < 0 && errno != EEXIST)
			init_fail(c, "cannot create %s", SANDBOX_PRIVATE_DIR);
		attach(c, c->busybox_tree, SANDBOX_PRIVATE_DIR "/busybox", false);
	}

	char hosts[512];
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
		 "ff02::2\tip6-allrouters\n127.0.1.1\t%s\n", s->hostname);
	write_etc(c, "hosts", hosts);
	char hn[300];
	snprintf(hn, sizeof(hn), "%s\n", s->hostname);
	write_etc(c, "hostname", hn);
	write_etc(c, "resolv.conf", c->resolv);
	if (s->proc.cwd && s->proc.cwd[0] == '/') {
		struct perr ignored; /* a failure shows as the program's chdir error */
		mkdir_p(s->proc.cwd, 0755, &ignored);
	}
}

/* Host mounts we bind into the sandbox, cloned inside our new mount (and
 * user) namespace, where we may; before pivot_root, while they are visible. */
static void clone_host_trees(struct init_ctx *c)
{
	const struct sandbox_spec *spec = c->spec;
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		char p[64];
		snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i]);
		c->dev_trees[i] = open_tree(AT_FDCWD, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	}
	c->busybox_tree = spec->busybox ? open_tree(AT_FDCWD, spec->busybox,
						    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
					: -1;
	c->proc_tree = c->rootless ? open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE |
					       OPEN_TREE_CLOEXEC | AT_RECURSIVE)
				   : -1;
	c->sys_tree = open_tree(AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	/* Every mount we make is nodev but the allow-listed nodes' binds. */
	restrict_tree(&c->busybox_tree, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
	restrict_tree(&c->proc_tree, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	restrict_tree(&c->sys_tree, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					    MOUNT_ATTR_NOEXEC);
	for (size_t i = 0; i < spec->n_volumes; i++)
		c->volume_trees[i] = volume_tree(c, &spec->volumes[i]);
}

/* Overlay over the rootfs, pivot_root into it. */
static void enter_root(struct init_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		init_fail(c, "cannot make the mount namespace private");
	clone_host_trees(c);
	static const char *const tmp_opts[] = { "mode", "0755", NULL };
	int tmp = s->upper_dir ? open(s->upper_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)
			       : new_mount(c, "tmpfs", tmp_opts, 0);
	if (tmp < 0)
		init_fail(c, "cannot open %s", s->upper_dir);
	if (!s->upper_dir && (mkdirat(tmp, "upper", 0755) < 0 || mkdirat(tmp, "work", 0755) < 0))
		init_fail(c, "cannot prepare the overlay's upper directory");
	char upper[64], work[64];
	snprintf(upper, sizeof(upper), "/proc/self/fd/%d/upper", tmp);
	snprintf(work, sizeof(work), "/proc/self/fd/%d/work", tmp);
	const char *ovl_opts[] = { "lowerdir", s->rootfs, "upperdir", upper, "workdir", work,
				   c->rootless ? "userxattr" : NULL, NULL, NULL };
	/* nodev: a device node the program makes (it keeps CAP_MKNOD, as in
	 * Docker) cannot be opened; only the bound allow-list in /dev can. */
	int ovl = new_mount(c, "overlay", ovl_opts, MOUNT_ATTR_NODEV);
	close(tmp);
	/* Cover the rootfs path in our private namespace only: the host never
	 * sees this mount, and the overlay already holds its lower dir. */
	if (move_mount(ovl, "", AT_FDCWD, s->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		init_fail(c, "cannot mount the overlay on %s", s->rootfs);
	close(ovl);
	if (chdir(s->rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		init_fail(c, "cannot pivot_root into %s", s->rootfs);
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		init_fail(c, "cannot detach the old root");
}

/* A process of the sandbox: the program (pid 2; errors go to the exec
 * pipe, whose close-on-exec end tells the caller that execve succeeded)
 * or an exec process (errors on its own stderr, exit 126 or 127 as
 * docker exec). The same confinement for both. */
static __attribute__((noreturn)) void start_process(struct init_ctx *c, const struct proc_spec *p,
						    int report_fd)
{
	c->ctl = report_fd;
	c->fail_code = report_fd >= 0 ? 125 : 126;
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	setsid();
	int fds[3];
	for (int i = 0; i < 3; i++)
		if ((fds[i] = fcntl(p->fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
			init_fail(c, "cannot set up standard fd %d", i);
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			init_fail(c, "cannot set up standard fd %d", i);
	if (p->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		init_fail(c, "cannot acquire the terminal");
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (p->cwd && chdir(p->cwd) < 0)
		init_fail(c, "cannot change to working directory '%s'", p->cwd);
	struct confine_creds cr = { .uid = p->uid, .gid = p->gid, .groups = p->groups,
				    .ngroups = p->ngroups, .set_groups = !c->rootless };
	const char *why = NULL;
	int handover = -1;
	if (c->handover >= 0) {
		if (dup3(c->handover, SC_HANDOVER_FD, O_CLOEXEC) < 0)
			init_fail(c, "cannot set up the tracer's socket");
		handover = SC_HANDOVER_FD;
	}
	if (confine_apply(c->confine, &c->cg, &cr, c->spec->filter, handover, &why) < 0)
		init_fail(c, "%s", why);
	environ = p->envp;
	execvp(p->argv[0], p->argv);
	if (errno == ENOENT)
		c->fail_code = report_fd >= 0 ? 125 : 127;
	init_fail(c, "cannot execute '%s'", p->argv[0]);
}

static void send_status(struct init_ctx *c, int status)
{
	char msg[1 + sizeof(int)];
	msg[0] = MSG_STATUS;
	memcpy(msg + 1, &status, sizeof(int));
	(void)!send(c->ctl, msg, sizeof(msg), MSG_NOSIGNAL);
}

static char wait_msg(int fd)
{
	char m = 0;
	while (recv(fd, &m, 1, 0) < 0 && errno == EINTR)
		;
	return m;
}

static void send_exited(struct init_ctx *c, uint32_t idx, int status)
{
	char msg[1 + sizeof(uint32_t) + sizeof(int)];
	msg[0] = MSG_EXITED;
	memcpy(msg + 1, &idx, sizeof(idx));
	memcpy(msg + 1 + sizeof(idx), &status, sizeof(status));
	(void)!send(c->ctl, msg, sizeof(msg), MSG_NOSIGNAL);
}

/* A request from the caller: start or kill an exec process. */
static void on_request(struct init_ctx *c)
{
	char msg[16];
	ssize_t n = recv(c->ctl, msg, sizeof(msg), MSG_DONTWAIT);
	if (n == 0) /* the caller is gone: so are we (PDEATHSIG does the same) */
		_exit(125);
	uint32_t idx;
	if (n != 1 + (ssize_t)sizeof(idx))
		return;
	memcpy(&idx, msg + 1, sizeof(idx));
	if (idx >= c->spec->n_execs)
		return;
	if (msg[0] == MSG_KILL && c->exec_pids[idx] > 0) {
		kill(-c->exec_pids[idx], SIGKILL); /* its process group: setsid() */
		kill(c->exec_pids[idx], SIGKILL);
	}
	if (msg[0] != MSG_EXEC || c->exec_pids[idx] > 0)
		return;
	pid_t pid = fork();
	if (pid == 0)
		start_process(c, &c->spec->execs[idx], -1);
	if (pid < 0)
		send_exited(c, idx, 126 << 8);
	else
		c->exec_pids[idx] = pid;
}

/* Reap; true when the program is gone. */
static bool reap_children(struct init_ctx *c, pid_t prog, int *prog_status)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == prog) {
			*prog_status = st;
			return true;
		}
		for (uint32_t i = 0; i < c->spec->n_execs; i++)
			if (c->exec_pids[i] == p) {
				c->exec_pids[i] = 0;
				send_exited(c, i, st);
			}
	}
	return false;
}

/* Pid 1: forward signals to the program, start exec processes when asked,
 * reap everything, and when the program is gone kill whatever is left
 * and report its status. */
static __attribute__((noreturn)) void init_loop(struct init_ctx *c, pid_t prog)
{
	sigset_t all;
	sigfillset(&all);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		_exit(125);
	for (;;) {
		struct pollfd pf[2] = { { sfd, POLLIN, 0 }, { c->ctl, POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0)
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			if (si.ssi_signo != SIGCHLD)
				kill(prog, (int)si.ssi_signo);
		if (pf[1].revents)
			on_request(c);
		int st;
		if (!reap_children(c, prog, &st))
			continue;
		kill(-1, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
		send_status(c, st);
		_exit(0);
	}
}

static __attribute__((noreturn)) void init_main(struct init_ctx *c)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (wait_msg(c->ctl) != MSG_GO)
		_exit(125);
	enter_root(c);
	setup_root(c);
	if (sethostname(c->spec->hostname, strlen(c->spec->hostname)) < 0)
		init_fail(c, "cannot set the hostname");
	if (!c->spec->net_host)
		loopback_up(c);
	char ready = MSG_READY;
	if (send(c->ctl, &ready, 1, MSG_NOSIGNAL) < 0 || wait_msg(c->ctl) != MSG_START)
		_exit(125);
	pid_t prog = fork();
	if (prog < 0)
		init_fail(c, "cannot fork the program");
	if (prog == 0)
		start_process(c, &c->spec->proc, c->exec_w);
	close(c->exec_w);
	init_loop(c, prog);
}

/* ---- the caller's side ---- */

static int write_map(pid_t pid, const char *file, const char *text, struct perr *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return perr_set(err, e, "cannot write %s", path);
	}
	close(fd);
	return 0;
}

static int setup_userns(pid_t pid, struct perr *err)
{
	char map[64];
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)geteuid());
	if (write_map(pid, "uid_map", map, err) < 0 || write_map(pid, "setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)getegid());
	return write_map(pid, "gid_map", map, err);
}

static void read_small(const char *path, char *buf, size_t sz)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read_full(fd, buf, sz - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

/* The confinement and this sandbox's cgroup, before pid 1 exists: its
 * cgroup.procs fds are inherited, so the program can join. */
static int prepare_confine(const struct sandbox_spec *spec, struct sandbox *sb,
			   struct init_ctx *c, struct perr *err)
{
	c->confine = spec->confine;
	if (!c->confine) {
		struct confine_opts o = { .pids_limit = CONFINE_DEFAULT, .memory = CONFINE_DEFAULT,
					  .rootless = sandbox_userns_reason() != NULL };
		if (confine_prepare(&o, &sb->own_confine, err) < 0)
			return -1;
		sb->have_own_confine = true;
		c->confine = &sb->own_confine;
	}
	if (confine_cgroup_create(c->confine, &sb->cgroup, err) < 0)
		return perr_wrap(err, "sandbox");
	sb->have_cgroup = true;
	c->cg = sb->cgroup;
	return 0;
}

static void prepare_ctx(const struct sandbox_spec *spec, struct init_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->spec = spec;
	c->rootless = sandbox_userns_reason() != NULL;
	c->fail_code = 125;
	char buf[32];
	read_small("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf));
	c->cap_last = atoi(buf) > 0 ? atoi(buf) : CAP_LAST_CAP;
	read_small("/etc/resolv.conf", c->resolv, sizeof(c->resolv));
	c->busybox_tree = c->sys_tree = c->proc_tree = -1;
	c->exec_pids = spec->n_execs ? xcalloc(spec->n_execs, sizeof(pid_t)) : NULL;
	c->volume_trees = spec->n_volumes ? xcalloc(spec->n_volumes, sizeof(int)) : NULL;
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++)
		c->dev_trees[i] = -1;
}

/* Where pare itself runs under a seccomp filter, a container's profile
 * (docker's default, Kubernetes' RuntimeDefault) is what refuses the
 * sandbox: clone3 answered ENOSYS, namespaces and mounts EPERM. */
#define SECCOMP_HINT " (Hint: pare runs under a seccomp profile that blocks this, as a " \
	"container's default profile does: run the container with --security-opt " \
	"seccomp=unconfined --security-opt apparmor=unconfined; in Kubernetes, " \
	"securityContext.seccompProfile.type: Unconfined and appArmorProfile.type: Unconfined)"

static bool under_seccomp(void)
{
	char status[4096];
	read_small("/proc/self/status", status, sizeof(status));
	const char *line = strstr(status, "\nSeccomp:");
	return line && atoi(line + strlen("\nSeccomp:")) == SECCOMP_MODE_FILTER;
}

static const char *blocked_hint(int e)
{
	if ((e == EPERM || e == ENOSYS) && under_seccomp())
		return SECCOMP_HINT;
	if (e == EPERM)
		return " (Hint: user namespaces may be disabled: sysctl user.max_user_namespaces)";
	return "";
}

static void append_hint(struct perr *err, const char *hint)
{
	size_t n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, "%s", hint);
}

/* A child in the sandbox's new namespaces, as fork() returns it. */
static pid_t clone_namespaces(bool net_host, bool userns)
{
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	if (!net_host)
		flags |= CLONE_NEWNET;
	if (userns)
		flags |= CLONE_NEWUSER;
	struct clone_args args = { .flags = flags, .exit_signal = SIGCHLD };
	pid_t pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && errno == ENOSYS) /* docker's default profile, for callers to fall back as glibc does */
		pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
	return pid;
}

static int namespaces_error(int e, struct perr *err)
{
	perr_set(err, 0, "cannot create the sandbox namespaces: %s%s", strerror(e),
		 blocked_hint(e)); /* the hint last, after the reason */
	if (err)
		err->errnum = e;
	return -1;
}

int sandbox_preflight(bool net_host, struct perr *err)
{
	if (!under_seccomp())
		return 0;
	pid_t pid = clone_namespaces(net_host, sandbox_userns_reason() != NULL);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return namespaces_error(errno, err);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

const char *sandbox_userns_reason(void)
{
	if (geteuid() != 0)
		return "not root";
	cap_t caps = cap_get_proc();
	cap_flag_value_t admin = CAP_CLEAR, net = CAP_CLEAR;
	if (caps) {
		cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &admin);
		cap_get_flag(caps, CAP_NET_ADMIN, CAP_EFFECTIVE, &net);
		cap_free(caps);
	}
	if (admin != CAP_SET)
		return "no CAP_SYS_ADMIN";
	return net == CAP_SET ? NULL : "no CAP_NET_ADMIN";
}

/* Wait for pid 1's reply to a setup step: 0 on MSG_READY. */
static int wait_ready(struct sandbox *sb, struct perr *err)
{
	char msg[1100];
	ssize_t n;
	while ((n = recv(sb->ctl_fd, msg, sizeof(msg) - 1, 0)) < 0 && errno == EINTR)
		;
	if (n > 0 && msg[0] == MSG_READY)
		return 0;
	if (n > 1 && msg[0] == MSG_ERROR) {
		msg[n] = 0;
		return perr_set(err, 0, "sandbox: %s", msg + 1);
	}
	return perr_set(err, 0, "sandbox: pid 1 exited during setup");
}

int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, struct perr *err)
{
	struct init_ctx c;
	int sv[2], ex[2], ho[2] = { -1, -1 };
	memset(sb, 0, sizeof(*sb));
	sb->init_pid = -1;
	sb->ctl_fd = sb->exec_fd = sb->listener_fd = -1;
	if (spec->notify && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ho) < 0)
		return perr_set(err, errno, "cannot create a socket pair");
	sb->listener_fd = ho[0];
	cleanup_close int handover = ho[1]; /* pid 1's end: inherited, then ours goes */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perr_set(err, errno, "cannot create a socket pair");
		sandbox_release(sb);
		return -1;
	}
	if (pipe2(ex, O_CLOEXEC) < 0) {
		perr_set(err, errno, "cannot create a pipe");
		close(sv[0]);
		close(sv[1]);
		sandbox_release(sb);
		return -1;
	}
	prepare_ctx(spec, &c);
	c.handover = handover;
	if (prepare_confine(spec, sb, &c, err) < 0) {
		close(sv[1]);
		close(ex[1]);
		sb->ctl_fd = sv[0];
		sb->exec_fd = ex[0];
		sandbox_release(sb);
		return -1;
	}
	c.ctl = sv[1];
	c.exec_w = ex[1];
	sb->rootless = c.rootless;

	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old); /* pid 1 starts with everything blocked */
	pid_t pid = clone_namespaces(spec->net_host, c.rootless);
	if (pid == 0) {
		close(sv[0]);
		close(ex[0]);
		if (ho[0] >= 0)
			close(ho[0]);
		init_main(&c);
	}
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(c.exec_pids); /* pid 1's copies are its own */
	free(c.volume_trees);
	close(sv[1]);
	close(ex[1]);
	closep(&handover);
	sb->ctl_fd = sv[0];
	sb->exec_fd = ex[0];
	if (pid < 0) {
		sandbox_release(sb);
		return namespaces_error(e, err);
	}
	sb->init_pid = pid;
	if (c.rootless && setup_userns(pid, err) < 0)
		goto fail;
	if (spec->seize && ptrace(PTRACE_SEIZE, pid, 0, spec->ptrace_options) < 0) {
		perr_set(err, errno, "cannot ptrace the sandbox's pid 1");
		goto fail;
	}
	char go = MSG_GO;
	if (send(sb->ctl_fd, &go, 1, MSG_NOSIGNAL) < 0) {
		perr_set(err, errno, "sandbox: cannot talk to pid 1");
		goto fail;
	}
	if (wait_ready(sb, err) < 0) {
		/* Namespaces made, then a mount or pivot_root refused: the
		 * same profile with CAP_SYS_ADMIN added. */
		if (err && strstr(err->msg, strerror(EPERM)) && under_seccomp())
			append_hint(err, SECCOMP_HINT);
		goto fail;
	}
	return 0;
fail:
	sandbox_kill(sb);
	sandbox_release(sb);
	return -1;
}

int sandbox_go(struct sandbox *sb, struct perr *err)
{
	char m = MSG_START;
	if (send(sb->ctl_fd, &m, 1, MSG_NOSIGNAL) < 0)
		return perr_set(err, errno, "sandbox: cannot talk to pid 1");
	return 0;
}

int sandbox_exec_result(struct sandbox *sb, struct perr *err)
{
	char msg[1100];
	ssize_t n = read(sb->exec_fd, msg, sizeof(msg) - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	close(sb->exec_fd);
	sb->exec_fd = -1;
	if (n <= 0)
		return 0;
	msg[n] = 0;
	return perr_set(err, 0, "%s", msg[0] == MSG_ERROR ? msg + 1 : msg);
}

int sandbox_read_ctl(struct sandbox *sb, size_t *idx, int *status)
{
	char msg[1100];
	ssize_t n = recv(sb->ctl_fd, msg, sizeof(msg), MSG_DONTWAIT);
	uint32_t i;
	if (n == 1 + (ssize_t)sizeof(int) && msg[0] == MSG_STATUS) {
		memcpy(&sb->prog_status, msg + 1, sizeof(int));
		sb->have_prog_status = true;
	} else if (n == 1 + (ssize_t)(sizeof(i) + sizeof(int)) && msg[0] == MSG_EXITED) {
		memcpy(&i, msg + 1, sizeof(i));
		memcpy(status, msg + 1 + sizeof(i), sizeof(int));
		*idx = i;
		return 1;
	} else if (n == 0) {
		close(sb->ctl_fd);
		sb->ctl_fd = -1;
	}
	return 0;
}

static int send_request(struct sandbox *sb, char kind, size_t idx)
{
	char msg[1 + sizeof(uint32_t)];
	uint32_t i = (uint32_t)idx;
	msg[0] = kind;
	memcpy(msg + 1, &i, sizeof(i));
	return sb->ctl_fd >= 0 && send(sb->ctl_fd, msg, sizeof(msg), MSG_NOSIGNAL) == sizeof(msg) ? 0 : -1;
}

int sandbox_exec(struct sandbox *sb, size_t idx, struct perr *err)
{
	if (send_request(sb, MSG_EXEC, idx) < 0)
		return perr_set(err, errno, "sandbox: cannot ask pid 1 to start a process");
	return 0;
}

void sandbox_exec_kill(struct sandbox *sb, size_t idx)
{
	(void)send_request(sb, MSG_KILL, idx);
}

void sandbox_signal(struct sandbox *sb, int sig)
{
	if (sb->init_pid > 0 && !sb->exited)
		kill(sb->init_pid, sig);
}

void sandbox_kill(struct sandbox *sb)
{
	if (sb->init_pid <= 0 || sb->exited)
		return;
	kill(sb->init_pid, SIGKILL);
	int st;
	/* A traced pid 1 is reaped by the tracer's loop; here we only wait
	 * for our own child to be gone. */
	while (waitpid(sb->init_pid, &st, __WALL) < 0 && errno == EINTR)
		;
	sb->exited = true;
	sb->init_status = st;
}

void sandbox_release(struct sandbox *sb)
{
	if (sb->ctl_fd >= 0)
		close(sb->ctl_fd);
	if (sb->exec_fd >= 0)
		close(sb->exec_fd);
	if (sb->listener_fd >= 0)
		close(sb->listener_fd);
	sb->ctl_fd = sb->exec_fd = sb->listener_fd = -1;
	if (sb->have_cgroup)
		confine_cgroup_remove(&sb->cgroup);
	if (sb->have_own_confine)
		confine_free(&sb->own_confine);
	sb->have_cgroup = sb->have_own_confine = false;
}
