/* The rules every process in a sandbox runs under. See confine.h. */
#define _GNU_SOURCE
#include "tracer/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "tracer/seccomp_policy.h"
#include "tracer/syscalls.h"

const char confine_docker_profile_version[] = "moby/profiles/seccomp v0.2.3 (docker 29.7)";

/* Docker's default capabilities (moby daemon/pkg/oci/caps/defaults.go).
 * CAP_MKNOD stays, as in Docker: the sandbox's mounts are nodev, so a node
 * made in it cannot be opened (Docker's device cgroup does the same). */
static const cap_value_t default_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
	CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
	CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

/* Generous defaults: a limit is a guard against runaway probes, not a
 * tuning knob (Docker sets none). */
#define DEFAULT_PIDS 4096
#define MIN_MEMORY (6u << 20) /* docker refuses less */

/* Each limit's cgroup files (v2, v1) and its rlimit fallback. The swap
 * file keeps a memory hog from spilling into swap (memory+swap = memory). */
static const struct controller {
	const char *name, *v2_file, *v1_file, *v2_swap, *v1_swap;
	int rlimit;
} controllers[N_LIMITS] = {
	[LIMIT_PIDS] = { "pids", "pids.max", "pids.max", NULL, NULL, RLIMIT_NPROC },
	[LIMIT_MEMORY] = { "memory", "memory.max", "memory.limit_in_bytes", "memory.swap.max",
			   "memory.memsw.limit_in_bytes", RLIMIT_DATA },
};

const char *confine_via_name(enum limit_via via)
{
	static const char *const names[] = { "none", "cgroup v2", "cgroup v1", "rlimit" };
	return names[via];
}

/* ---- capabilities ---- */

int confine_cap_parse(const char *name, int *out)
{
	char low[64];
	cap_value_t v;
	memcpy(low, "cap_", 4);
	if (!ascii_lower(low + 4, sizeof(low) - 4, strncasecmp(name, "CAP_", 4) ? name : name + 4) ||
	    cap_from_name(low, &v) < 0)
		return -1;
	*out = v;
	return 0;
}

static uint64_t all_caps(void)
{
	int last = (int)cap_max_bits() - 1;
	return last >= 63 ? ~0ull : (1ull << (last + 1)) - 1;
}

/* Docker's order: ALL in --cap-add starts from every capability, ALL in
 * --cap-drop from none; then the named ones are dropped and added. */
static int caps_compute(const struct confine_opts *o, uint64_t *out, struct perr *err)
{
	uint64_t caps = 0, add = 0, drop = 0;
	bool add_all = false, drop_all = false;
	for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++)
		caps |= 1ull << default_caps[i];
	for (int pass = 0; pass < 2; pass++) {
		char **v = pass ? o->cap_drop : o->cap_add;
		size_t n = pass ? o->n_cap_drop : o->n_cap_add;
		for (size_t i = 0; i < n; i++) {
			int c;
			if (!strcasecmp(v[i], "ALL")) {
				*(pass ? &drop_all : &add_all) = true;
				continue;
			}
			if (confine_cap_parse(v[i], &c) < 0 || c >= 64)
				return perr_set(err, 0, "--cap-%s: unknown capability '%s' "
						"(Hint: names as docker's, e.g. NET_ADMIN or CAP_NET_ADMIN)",
						pass ? "drop" : "add", v[i]);
			*(pass ? &drop : &add) |= 1ull << c;
		}
	}
	if (add_all)
		caps = all_caps();
	else if (drop_all)
		caps = 0;
	*out = ((caps & ~drop) | add) & all_caps();
	return 0;
}

char **confine_cap_names(const struct confinement *cf, size_t *n)
{
	char **v = xcalloc(65, sizeof(*v));
	*n = 0;
	for (int c = 0; c < 64; c++) {
		if (!(cf->caps & (1ull << c)))
			continue;
		char *name = cap_to_name(c);
		if (!name)
			continue;
		char *s = xstrdup(strncmp(name, "cap_", 4) ? name : name + 4);
		cap_free(name);
		for (char *p = s; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		v[(*n)++] = s;
	}
	return v;
}

/* ---- seccomp ---- */

static int policy_prepare(const struct confine_opts *o, struct confinement *cf, struct perr *err)
{
	if (o->seccomp && !strcmp(o->seccomp, "unconfined")) {
		cf->policy_name = xstrdup("unconfined");
		return 0;
	}
	if (!o->seccomp) {
		cf->policy_name = xstrdup("docker-default");
		return seccomp_policy_compile(seccomp_docker_default, seccomp_docker_default_len,
					      "docker-default", cf->caps, &cf->policy, err);
	}
	cleanup_free char *text = NULL;
	size_t len;
	if (read_side_file(o->seccomp, SIDE_FILE_MAX, &text, &len, err) < 0)
		return perr_wrap(err, "--security-opt seccomp");
	cf->policy_name = xstrdup(o->seccomp);
	return seccomp_policy_compile(text, len, o->seccomp, cf->caps, &cf->policy, err);
}

/* ---- cgroups ---- */

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

static bool has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = list; p; p = strchr(p, ',')) {
		p += *p == ',';
		if (!strncmp(p, tok, n) && (p[n] == ',' || !p[n] || p[n] == '\n'))
			return true;
	}
	return false;
}

/* The mount point and root of the cgroup hierarchy holding CONTROLLER
 * (v1), or of the cgroup2 hierarchy (CONTROLLER NULL). */
static bool find_hierarchy(const char *controller, char *mnt, char *root, size_t sz)
{
	cleanup_file FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char r[1024], m[1024], type[64], opts[1024];
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", type, opts) != 2)
			continue;
		bool ok = controller ? !strcmp(type, "cgroup") && has_token(opts, controller)
				     : !strcmp(type, "cgroup2");
		if (!ok)
			continue;
		unescape(r);
		unescape(m);
		snprintf(mnt, sz, "%s", m);
		snprintf(root, sz, "%s", r);
		return true;
	}
	return false;
}

/* Our own cgroup in that hierarchy (from /proc/self/cgroup). */
static bool own_cgroup(const char *controller, char *path, size_t sz)
{
	cleanup_file FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		bool ok = controller ? has_token(c1 + 1, controller) : c1[1] == 0;
		if (!ok)
			continue;
		c2[strcspn(c2 + 1, "\n") + 1] = 0;
		snprintf(path, sz, "%s", c2 + 1);
		return true;
	}
	return false;
}

/* The host directory of our cgroup, or false. */
static bool cgroup_dir(const char *controller, char *dir, size_t sz)
{
	char mnt[1024], root[1024], own[2048];
	if (!find_hierarchy(controller, mnt, root, sizeof(mnt)) ||
	    !own_cgroup(controller, own, sizeof(own)))
		return false;
	size_t rl = strcmp(root, "/") ? strlen(root) : 0;
	if (rl && (strncmp(own, root, rl) || (own[rl] && own[rl] != '/')))
		return false; /* our cgroup is outside what is mounted here */
	return (size_t)snprintf(dir, sz, "%s%s", mnt, own + rl) < sz;
}

static int write_text(const char *dir, const char *file, const char *text)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static bool v2_delegates(const char *dir, const char *controller)
{
	char buf[1024];
	cleanup_free char *path = xasprintf("%s/cgroup.subtree_control", dir);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read_full(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
		if (!strcmp(tok, controller))
			return true;
	return false;
}

/* Remove the cgroups a killed pare left below PARENT (pare-PID-* whose
 * PID is gone; rmdir only takes an empty one). */
static void cgroup_sweep(const char *parent)
{
	cleanup_dir DIR *d = opendir(parent);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int pid;
		if (sscanf(e->d_name, "pare-%d-", &pid) != 1 || pid <= 0 ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		cleanup_free char *dir = xasprintf("%s/%s", parent, e->d_name);
		rmdir(dir);
	}
}

/* A new cgroup below PARENT named pare-PID-RANDOM, with limit L. */
static char *cgroup_make(const struct controller *ct, const struct confine_limit *l,
			 struct perr *err)
{
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)monotonic_ms();
	cgroup_sweep(l->cgroup_parent);
	char *dir = xasprintf("%s/pare-%d-%08x", l->cgroup_parent, (int)getpid(), rnd);
	if (mkdir(dir, 0755) < 0) {
		perr_set(err, errno, "cannot create cgroup %s", dir);
		free(dir);
		return NULL;
	}
	bool v2 = l->via == LIMIT_CGROUP2;
	char value[32];
	snprintf(value, sizeof(value), "%llu", (unsigned long long)l->value);
	int rc = l->value ? write_text(dir, v2 ? ct->v2_file : ct->v1_file, value) : 0;
	const char *swap = v2 ? ct->v2_swap : ct->v1_swap;
	if (rc == 0 && l->value && swap) {
		/* Absent without swap accounting: then there is no swap to use. */
		if (write_text(dir, swap, v2 ? "0" : value) < 0 && errno != ENOENT)
			rc = -1;
	}
	if (rc < 0) {
		perr_set(err, errno, "cannot set the %s limit of cgroup %s", ct->name, dir);
		rmdir(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

/* How limit I can be enforced here: a cgroup we can create, else an rlimit. */
static void limit_choose(size_t i, bool rootless, struct confine_limit *l)
{
	const struct controller *ct = &controllers[i];
	char dir[4096];
	l->via = LIMIT_RLIMIT;
	if (rootless)
		return;
	struct { enum limit_via via; const char *controller; } tries[] = {
		{ LIMIT_CGROUP2, NULL }, { LIMIT_CGROUP1, ct->name },
	};
	for (size_t t = 0; t < ARRAY_SIZE(tries); t++) {
		if (!cgroup_dir(tries[t].controller, dir, sizeof(dir)))
			continue;
		if (tries[t].via == LIMIT_CGROUP2 && !v2_delegates(dir, ct->name))
			continue;
		struct confine_limit probe = { .value = l->value, .via = tries[t].via,
					       .cgroup_parent = dir };
		struct perr ignored;
		char *made = cgroup_make(ct, &probe, &ignored);
		if (!made)
			continue;
		rmdir(made);
		free(made);
		l->via = tries[t].via;
		l->cgroup_parent = xstrdup(dir);
		return;
	}
}

static uint64_t default_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2 : 0;
}

static int limits_prepare(const struct confine_opts *o, struct confinement *cf, struct perr *err)
{
	int64_t given[N_LIMITS] = { [LIMIT_PIDS] = o->pids_limit, [LIMIT_MEMORY] = o->memory };
	uint64_t defaults[N_LIMITS] = { [LIMIT_PIDS] = DEFAULT_PIDS,
					[LIMIT_MEMORY] = default_memory() };
	if (o->memory > 0 && (uint64_t)o->memory < MIN_MEMORY)
		return perr_set(err, 0, "--memory: the minimum is 6m");
	bool fell_back = false;
	for (size_t i = 0; i < N_LIMITS; i++) {
		struct confine_limit *l = &cf->limits[i];
		l->value = given[i] == CONFINE_DEFAULT ? defaults[i]
			   : given[i] == CONFINE_UNLIMITED ? 0
							   : (uint64_t)given[i];
		if (!l->value)
			continue;
		limit_choose(i, o->rootless, l);
		fell_back |= l->via == LIMIT_RLIMIT;
	}
	if (fell_back) {
		bool pids = cf->limits[LIMIT_PIDS].via == LIMIT_RLIMIT,
		     mem = cf->limits[LIMIT_MEMORY].via == LIMIT_RLIMIT;
		cf->notice = xasprintf(
			"no cgroup can be made here for the %s (%s): each process gets %s instead, "
			"which %s",
			pids && mem ? "pids and memory limits" : pids ? "pids limit" : "memory limit",
			o->rootless ? "rootless" : "cgroup v2 does not delegate it and no v1 hierarchy is writable",
			pids && mem ? "RLIMIT_NPROC and RLIMIT_DATA" : pids ? "RLIMIT_NPROC" : "RLIMIT_DATA",
			pids && mem ? "bind a user other than root, and one process's memory"
			: pids     ? "binds a user other than root"
				   : "binds one process's memory");
	}
	return 0;
}

int confine_prepare(const struct confine_opts *o, struct confinement *cf, struct perr *err)
{
	memset(cf, 0, sizeof(*cf));
	if (caps_compute(o, &cf->caps, err) < 0 || policy_prepare(o, cf, err) < 0 ||
	    limits_prepare(o, cf, err) < 0) {
		confine_free(cf);
		return -1;
	}
	return 0;
}

void confine_free(struct confinement *cf)
{
	free(cf->policy.filter);
	free(cf->policy_name);
	free(cf->notice);
	for (size_t i = 0; i < N_LIMITS; i++)
		free(cf->limits[i].cgroup_parent);
	memset(cf, 0, sizeof(*cf));
}

int confine_cgroup_create(const struct confinement *cf, struct confine_cgroup *cg,
			  struct perr *err)
{
	for (size_t i = 0; i < N_LIMITS; i++) {
		cg->dirs[i] = NULL;
		cg->procs_fd[i] = -1;
	}
	for (size_t i = 0; i < N_LIMITS; i++) {
		const struct confine_limit *l = &cf->limits[i];
		if (!l->value || (l->via != LIMIT_CGROUP1 && l->via != LIMIT_CGROUP2))
			continue;
		cg->dirs[i] = cgroup_make(&controllers[i], l, err);
		if (!cg->dirs[i])
			goto fail;
		cleanup_free char *path = xasprintf("%s/cgroup.procs", cg->dirs[i]);
		cg->procs_fd[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (cg->procs_fd[i] < 0) {
			perr_set(err, errno, "cannot open %s", path);
			goto fail;
		}
	}
	return 0;
fail:
	confine_cgroup_remove(cg);
	return -1;
}

void confine_cgroup_remove(struct confine_cgroup *cg)
{
	for (size_t i = 0; i < N_LIMITS; i++) {
		if (cg->procs_fd[i] >= 0)
			close(cg->procs_fd[i]);
		cg->procs_fd[i] = -1;
		/* The last exits may still be accounted for a moment. */
		for (int tries = 0; cg->dirs[i] && rmdir(cg->dirs[i]) < 0 && errno == EBUSY &&
				    tries < 100; tries++)
			usleep(10000);
		free(cg->dirs[i]);
		cg->dirs[i] = NULL;
	}
}

/* ---- in the process about to run image code ---- */

static int set_caps(const struct confinement *cf, const struct confine_creds *cr,
		    const char **why)
{
	for (int c = 0; c <= (int)cap_max_bits() - 1; c++)
		if (!(c < 64 && (cf->caps & (1ull << c))) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return *why = "cannot drop a capability from the bounding set", -1;
	if (cr->set_groups && setgroups(cr->ngroups, cr->groups) < 0)
		return *why = "cannot set supplementary groups", -1;
	if (setresgid(cr->gid, cr->gid, cr->gid) < 0)
		return *why = "cannot switch group", -1;
	if (setresuid(cr->uid, cr->uid, cr->uid) < 0)
		return *why = "cannot switch user", -1;
	if (cr->uid == 0) {
		/* capset(2) directly: libcap's cap_t would allocate. */
		struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2] = { 0 };
		for (int i = 0; i < 2; i++)
			d[i].effective = d[i].permitted = d[i].inheritable =
				(uint32_t)(cf->caps >> (32 * i));
		if (syscall(SYS_capset, &h, d) < 0)
			return *why = "cannot set capabilities", -1;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

/* The notifying filter and its listener, sent to the tracer. The
 * listener travels in the message: closing ours loses nothing. */
static int install_listener(const struct sock_fprog *trace, int handover_fd, const char **why)
{
	int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			      SECCOMP_FILTER_FLAG_NEW_LISTENER, trace);
	if (fd < 0)
		return *why = "cannot install the tracer's seccomp filter", -1;
	char byte = 'L';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n = sendmsg(handover_fd, &m, SC_HANDOVER_FLAGS);
	close(fd);
	if (n != 1)
		return *why = "cannot hand the seccomp listener to the tracer", -1;
	return 0;
}

int confine_apply(const struct confinement *cf, const struct confine_cgroup *cg,
		  const struct confine_creds *cr, const struct sock_fprog *trace, int handover_fd,
		  const char **why)
{
	for (size_t i = 0; i < N_LIMITS; i++) {
		const struct confine_limit *l = &cf->limits[i];
		if (cg && cg->procs_fd[i] >= 0 && write_all(cg->procs_fd[i], "0", 1) < 0)
			return *why = "cannot join the sandbox's cgroup", -1;
		struct rlimit rl = { l->value, l->value };
		if (l->value && l->via == LIMIT_RLIMIT && setrlimit(controllers[i].rlimit, &rl) < 0)
			return *why = "cannot set a resource limit", -1;
	}
	if (set_caps(cf, cr, why) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return *why = "cannot set no_new_privs", -1;
	if (trace && handover_fd >= 0) {
		if (install_listener(trace, handover_fd, why) < 0)
			return -1;
		trace = NULL; /* installed */
	}
	/* The policy first: the call that installs the tracer's filter is then
	 * not traced as the program's own (it must be allowed by the policy,
	 * as Docker's and every profile pare writes allow prctl). */
	if (cf->policy.len && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &cf->policy) < 0)
		return *why = "cannot install the seccomp policy", -1;
	if (trace && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, trace) < 0)
		return *why = "cannot install the tracer's seccomp filter (does the seccomp policy "
			      "deny prctl?)", -1;
	return 0;
}

json_t *confine_json(const struct confinement *cf)
{
	size_t n;
	char **caps = confine_cap_names(cf, &n);
	json_t *capv = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(capv, json_string(caps[i]));
		free(caps[i]);
	}
	free(caps);
	json_t *limits = json_object();
	static const char *const names[N_LIMITS] = { [LIMIT_PIDS] = "pids",
						     [LIMIT_MEMORY] = "memory_bytes" };
	for (size_t i = 0; i < N_LIMITS; i++) {
		const struct confine_limit *l = &cf->limits[i];
		json_object_set_new(limits, names[i],
				    l->value ? json_pack("{s:I,s:s}", "max", (json_int_t)l->value,
							 "by", confine_via_name(l->via))
					     : json_null());
	}
	bool builtin = !strcmp(cf->policy_name, "docker-default");
	return json_pack("{s:s,s:s?,s:o,s:b,s:o}", "seccomp", cf->policy_name, "seccomp_source",
			 builtin ? confine_docker_profile_version : NULL, "capabilities", capv,
			 "no_new_privileges", 1, "limits", limits);
}
