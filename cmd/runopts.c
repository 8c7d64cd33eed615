#define _GNU_SOURCE
/* What `pare run` and `pare probe` share: docker-run-like options, getting
 * the image's rootfs, the terminal, and the exit status convention. */
#include "cmd/runopts.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>

#include "tracer/run_plan.h"

#define HOST_BUSYBOX "/bin/busybox"

static int bad(const char *opt, const char *arg)
{
	fprintf(stderr, "pare: invalid value '%s' for --%s\n", arg, opt);
	return -1;
}

static int parse_secs(const char *arg, uint64_t *ms)
{
	uint64_t s;
	if (parse_u64(arg, &s) < 0 || s > 86400 * 365)
		return -1;
	*ms = s * 1000;
	return 0;
}

/* docker's -1 (and 0) for no limit. */
static int parse_pids_limit(const char *arg, int64_t *out)
{
	uint64_t v;
	if (!strcmp(arg, "-1") || !strcmp(arg, "0")) {
		*out = CONFINE_UNLIMITED;
		return 0;
	}
	if (parse_u64(arg, &v) < 0 || v > INT32_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* docker's --security-opt: KEY=VALUE (or the old KEY:VALUE). */
static int security_opt(struct run_cmd *rc, const char *arg)
{
	size_t k = strcspn(arg, "=:");
	const char *v = arg[k] ? arg + k + 1 : NULL;
	if (!strncmp(arg, "seccomp", k) && k == 7 && v && *v) {
		struct perr err;
		if (strcmp(v, "unconfined") && check_side_file(v, &err) < 0) {
			fprintf(stderr, "pare: --security-opt seccomp: %s\n", err.msg);
			return -1;
		}
		rc->confine.seccomp = v;
		return 0;
	}
	if (k == 17 && !strncmp(arg, "no-new-privileges", k) && (!v || !strcmp(v, "true")))
		return 0; /* always on: the tracer's filter needs it */
	if (k == 17 && !strncmp(arg, "no-new-privileges", k))
		fprintf(stderr, "pare: --security-opt %s: no_new_privs is always on in pare's "
				"sandbox\n", arg);
	else if ((k == 8 && !strncmp(arg, "apparmor", k)) || (k == 5 && !strncmp(arg, "label", k)))
		fprintf(stderr, "pare: --security-opt %s: not supported: pare has no AppArmor or "
				"SELinux confinement\n(Hint: seccomp=unconfined|FILE and "
				"no-new-privileges are)\n", arg);
	else
		fprintf(stderr, "pare: --security-opt '%s': expected seccomp=unconfined, "
				"seccomp=FILE or no-new-privileges\n", arg);
	return -1;
}

static int told(int r, const struct perr *err)
{
	if (r < 0)
		fprintf(stderr, "pare: %s\n", err->msg);
	return r < 0 ? -1 : 0;
}

int run_cmd_opt(void *ctx, int c, const char *optarg)
{
	struct run_cmd *rc = ctx;
	struct perr err = { 0 };
	switch (c) {
	case OPT_ENTRYPOINT:
		rc->ov.entrypoint = optarg;
		return 0;
	case 'e':
		strv_push(&rc->env, xstrdup(optarg));
		return 0;
	case OPT_ENV_FILE:
		return told(env_file_read(optarg, &rc->env, &err), &err);
	case 'v':
		return told(volume_add_bind(&rc->volumes, optarg, &err), &err);
	case OPT_TMPFS:
		return told(volume_add_tmpfs(&rc->volumes, optarg, &err), &err);
	case 'w':
		rc->ov.workdir = optarg;
		return 0;
	case 'u':
		rc->ov.user = optarg;
		return 0;
	case OPT_HOSTNAME:
		rc->ov.hostname = optarg;
		return 0;
	case OPT_NETWORK:
		if (strcmp(optarg, "host") && strcmp(optarg, "none"))
			return bad("network", optarg);
		rc->net_host = !strcmp(optarg, "host");
		return 0;
	case OPT_TIMEOUT:
		return parse_secs(optarg, &rc->timeout_ms) < 0 ? bad("timeout", optarg) : 0;
	case OPT_STOP_TIMEOUT:
		return parse_secs(optarg, &rc->grace_ms) < 0 ? bad("stop-timeout", optarg) : 0;
	case 'i':
		rc->interactive = true;
		return 0;
	case 't':
		rc->tty = true;
		return 0;
	case OPT_NO_CACHE:
		rc->no_cache = true;
		return 0;
	case OPT_CACHE_MAX:
		return parse_size(optarg, &rc->cache_max) < 0 ? bad("cache-max", optarg) : 0;
	case OPT_CAP_ADD:
		strv_push(&rc->cap_add, xstrdup(optarg));
		return 0;
	case OPT_CAP_DROP:
		strv_push(&rc->cap_drop, xstrdup(optarg));
		return 0;
	case OPT_SECURITY_OPT:
		return security_opt(rc, optarg);
	case OPT_PIDS_LIMIT:
		return parse_pids_limit(optarg, &rc->confine.pids_limit) < 0 ? bad("pids-limit", optarg)
									      : 0;
	case 'm': {
		uint64_t v;
		if (parse_size(optarg, &v) < 0 || v > INT64_MAX)
			return bad("memory", optarg);
		rc->confine.memory = v ? (int64_t)v : CONFINE_UNLIMITED;
		return 0;
	}
	case OPT_SHELL:
		rc->shell = true;
		return 0;
	case OPT_TRACER:
		return tracer_mode_parse(optarg, &rc->mode) < 0 ? bad("tracer", optarg) : 0;
	case OPT_SYSCALLS:
		rc->syscalls = true;
		return 0;
	case OPT_SECCOMP_PROFILE:
		rc->seccomp_profile = optarg;
		rc->syscalls = true; /* the profile is built from every syscall made */
		return 0;
	case 'o':
		rc->output = optarg;
		return 0;
	case OPT_JSON_SUMMARY:
		rc->co.json = true;
		return 0;
	default:
		return 1;
	}
}

void run_cmd_init(struct run_cmd *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->grace_ms = 10000; /* docker's default stop timeout */
	rc->mode = TRACER_AUTO;
	rc->ov.hostname = "pare";
	rc->cache_max = CACHE_MAX_UNSET;
	rc->confine.pids_limit = rc->confine.memory = CONFINE_DEFAULT;
}

int run_cmd_parse(const struct cmd_spec *spec, int argc, char **argv, void *ctx,
		  struct run_cmd *rc)
{
	struct args a;
	int r = parse_args(spec, argc, argv, &rc->co, ctx, &a);
	if (r < 0) {
		rc->ref = a.v[0];
		rc->cmd = a.cmd;
		rc->ncmd = a.ncmd;
	}
	args_free(&a);
	return r;
}

/* Raw mode for our side of an interactive session; restored at the end. */
static void tty_raw(struct prepared *p)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &p->saved) < 0)
		return;
	struct termios raw = p->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		p->raw = true;
}

/* The confinement, from the options (before any work, so that a bad
 * profile or capability name fails at once); its fallback told once. */
static int confine_setup(struct run_cmd *rc, struct prepared *p)
{
	struct perr err = { 0 };
	rc->confine.cap_add = rc->cap_add.v;
	rc->confine.n_cap_add = rc->cap_add.n;
	rc->confine.cap_drop = rc->cap_drop.v;
	rc->confine.n_cap_drop = rc->cap_drop.n;
	rc->confine.rootless = sandbox_userns_reason() != NULL;
	if (confine_prepare(&rc->confine, &p->confine, &err) < 0) {
		fprintf(stderr, "pare: %s\n", err.msg);
		return EXIT_USAGE;
	}
	p->have_confine = true;
	if (p->confine.notice && !rc->notice_told)
		fprintf(stderr, "pare: warning: %s\n", p->confine.notice);
	rc->notice_told = true;
	return 0;
}

int run_prepare(struct run_cmd *rc, struct prepared *p)
{
	struct perr err = { 0 };
	memset(p, 0, sizeof(*p));
	p->s.rootfd = p->s.master = p->s.slave = p->s.null_fd = -1;
	/* A container that refuses namespaces: one line, before warnings and an unpack. */
	if (sandbox_preflight(rc->net_host, &err) < 0)
		return report(&err);
	int r = confine_setup(rc, p);
	if (r)
		return r;
	cleanup_free char *cache = rc->no_cache ? NULL : rootfs_default_cache();
	struct session_opts o = {
		.ref = rc->ref, .open = rc->co.open, .cache_dir = cache, .cache_max = rc->cache_max,
		.ov = rc->ov, .shell = rc->shell, .busybox = HOST_BUSYBOX,
		.interactive = rc->interactive, .net_host = rc->net_host, .confine = &p->confine,
		.warn = warn_print, .layer_done = progress_layer, .ctx = "unpack",
	};
	if (!rc->shell) {
		o.ov.cmd = rc->cmd;
		o.ov.ncmd = rc->ncmd;
	}
	o.ov.env = rc->env.v;
	o.ov.nenv = rc->env.n;
	o.volumes = &rc->volumes;
	o.ov.tty = rc->tty;
	if (session_open(&o, &p->s, &err) < 0)
		return report(&err);
	if (rc->shell)
		rc->tty = rc->interactive = true;
	return 0;
}

int run_execute_with(struct run_cmd *rc, struct prepared *p, struct tracer_opts *o, struct trace *t,
		     struct run_result *res)
{
	struct perr err = { 0 };
	o->syscalls = rc->syscalls;
	o->timeout_ms = rc->timeout_ms;
	o->stop_signal = p->s.plan.stop_signal;
	o->grace_ms = rc->grace_ms;
	o->tty_master = p->s.master;
	o->on_wait = progress_wait;
	if (!o->wait_ctx)
		o->wait_ctx = "run";
	if (p->s.master >= 0 && p->s.interactive)
		tty_raw(p);
	int r = tracer_run(&p->s.spec, o, t, res, &err);
	if (p->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &p->saved);
	p->raw = false;
	if (r < 0)
		return report(&err);
	return 0;
}

int run_execute(struct run_cmd *rc, struct prepared *p, enum tracer_mode mode, struct trace *t,
		struct run_result *res)
{
	struct tracer_opts o = { .mode = mode };
	return run_execute_with(rc, p, &o, t, res);
}

void run_cleanup(struct prepared *p)
{
	if (p->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &p->saved);
	p->raw = false;
	session_close(&p->s);
	if (p->have_confine)
		confine_free(&p->confine);
	p->have_confine = false;
}

void run_cmd_free(struct run_cmd *rc)
{
	strv_free(&rc->env);
	volume_list_free(&rc->volumes);
	strv_free(&rc->cap_add);
	strv_free(&rc->cap_drop);
}
