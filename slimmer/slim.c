/* pare slim's pipeline: the steps in order, on the state in struct slim.
 * The probes' runs are in slim_runs.c, the keep-set's seeding and the
 * image's writing in slim_image.c, the report in slim_report.c. */
#define _GNU_SOURCE
#include "slimmer/slim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimmer/apptree.h"
#include "slimmer/glob.h"
#include "slimmer/slim_report.h"
#include "slimmer/slim_runs.h"
#include "tracer/seccomp_record.h"

void slim_opts_free(struct slim_opts *o)
{
	probe_args_free(&o->probes);
	struct strv *lists[] = { &o->ready.ports, &o->ready.cmds, &o->traces, &o->keep,
				 &o->exclude, &o->profile_names, &o->unit_kinds, &o->app_dirs,
				 &o->no_profiles };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		strv_free(lists[i]);
}

void slim_init(struct slim *sl, const struct slim_opts *o)
{
	memset(sl, 0, sizeof(*sl));
	sl->o = o;
	sl->upper_fd = -1;
	rules_init(&sl->rules);
	trace_init(&sl->trace);
	keepset_init(&sl->keep);
}

int slim_load_rules(struct slim *sl, struct perr *err)
{
	const struct slim_opts *o = sl->o;
	struct profile_path pp;
	int r = 0;
	profile_path_init(&pp, o->profile_dir);
	if (!o->no_default_profiles && !strv_has(&o->no_profiles, "base") && profile_set_add(&sl->profiles, &pp, "base", err) < 0)
		r = -1;
	for (size_t i = 0; !r && i < o->profile_names.n; i++)
		if (profile_set_add(&sl->profiles, &pp, o->profile_names.v[i], err) < 0)
			r = -1;
	profile_path_free(&pp);
	return r;
}

/* Profiles applied by default when the image holds what they are for: the
 * classic traps (CA bundles, time zones: looked up by name, at run time,
 * often on a path no probe takes) and the runtimes that load by name,
 * detected from what the probes executed (a path as exec'd or as the
 * kernel resolved it). */
static const struct default_profile {
	const char *name;
	bool by_exe;                 /* GLOBS match an executed path, else name a file */
	const char *const globs[6];
} default_profiles[] = {
	{ "certs", false, { "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem", "/etc/pki/tls/certs/ca-bundle.crt" } },
	{ "tzdata", false, { "/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Etc/UTC" } },
	{ "python", true, { "/usr/bin/python3*", "/usr/local/bin/python3*" } },
	{ "node", true, { "/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node" } },
	{ "git", true, { "/usr/bin/git", "/usr/lib/git-core/git", "/usr/local/bin/git" } },
	{ "ruby", true, { "/usr/bin/ruby*", "/usr/local/bin/ruby*" } },
	{ "php", true, { "/usr/bin/php*", "/usr/local/bin/php*", "/usr/sbin/php-fpm*", "/usr/local/sbin/php-fpm*" } },
	{ "java", true, { "/usr/bin/java", "/usr/lib/jvm/*/bin/java", "/opt/java/openjdk/bin/java" } },
	{ "postgres", true, { "/usr/lib/postgresql/*/bin/postgres", "/usr/local/bin/postgres", "/usr/lib/postgresql/*/bin/initdb" } },
};

static bool profile_applies(const struct default_profile *d, const struct trace *t, int rootfd)
{
	for (size_t g = 0; g < ARRAY_SIZE(d->globs) && d->globs[g]; g++) {
		if (!d->by_exe && image_has_path(rootfd, d->globs[g]))
			return true;
		for (size_t i = 0; d->by_exe && i < t->exes.n; i++)
			if (glob_match(d->globs[g], t->exes.v[i]))
				return true;
	}
	return false;
}

static int add_default_profiles(struct slim *sl, struct perr *err)
{
	const struct slim_opts *o = sl->o;
	if (o->no_default_profiles)
		return 0;
	struct profile_path pp;
	int r = 0;
	profile_path_init(&pp, o->profile_dir);
	for (size_t i = 0; !r && i < ARRAY_SIZE(default_profiles); i++) {
		const struct default_profile *d = &default_profiles[i];
		if (!strv_has(&o->no_profiles, d->name) && profile_applies(d, &sl->trace, sl->s->rootfd))
			r = profile_set_add(&sl->profiles, &pp, d->name, err);
	}
	profile_path_free(&pp);
	return r;
}

/* The rules: the profiles', then the command line's. */
static void build_rules(struct slim *sl)
{
	const struct slim_opts *o = sl->o;
	rules_add_profiles(&sl->rules, &sl->profiles);
	for (size_t i = 0; i < o->keep.n; i++)
		rules_add(&sl->rules.keep, o->keep.v[i], NULL);
	for (size_t i = 0; i < o->exclude.n; i++)
		rules_add(&sl->rules.exclude, o->exclude.v[i], NULL);
	/* What the probes saw below a volume was the volume's, not the image's. */
	for (size_t i = 0; i < sl->s->spec.n_volumes; i++) {
		cleanup_free char *below = xasprintf("%s/**", sl->s->spec.volumes[i].target);
		rules_add(&sl->rules.exclude, below, NULL);
	}
	for (size_t i = 0; i < o->unit_kinds.n; i++)
		if (o->unit_kinds.v[i][0] == '/')
			rules_add(&sl->rules.units, o->unit_kinds.v[i], NULL);
		else
			rules_add_kind(&sl->rules, (enum unit_kind)unit_kind_parse(o->unit_kinds.v[i]), NULL);
	sl->rules.app.off = o->no_app_trees;
	sl->rules.no_imports = o->no_import_closure;
	if (o->have_app_tree_max)
		sl->rules.app.max = o->app_tree_max;
	for (size_t i = 0; i < o->app_dirs.n; i++)
		rules_add(&sl->rules.app.dirs, o->app_dirs.v[i], NULL);
}

int slim_plan(struct slim *sl, const struct image *img, struct perr *err)
{
	const struct slim_opts *o = sl->o;
	if (probes_plan(&sl->probes, &o->probes, &o->ready, &img->config, err) < 0)
		return -1;
	sl->results = xcalloc(sl->probes.n, sizeof(*sl->results));
	return 0;
}

/* --keep-written: one writable layer on the host for all probes, read
 * back after them. */
static int upper_open(struct slim *sl, struct perr *err)
{
	sl->upper_dir = make_tempdir("pare-written", err);
	if (!sl->upper_dir)
		return -1;
	cleanup_free char *u = xasprintf("%s/upper", sl->upper_dir);
	cleanup_free char *wk = xasprintf("%s/work", sl->upper_dir);
	if (mkdir(u, 0755) < 0 || mkdir(wk, 0755) < 0 ||
	    (sl->upper_fd = open(u, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return perr_set(err, errno, "cannot prepare '%s'", sl->upper_dir);
	sl->s->spec.upper_dir = sl->upper_dir;
	return 0;
}

/* The trace (and --trace's) to the closed keep-set and its paths. */
static int close_keepset(struct slim *sl, struct perr *err)
{
	struct trace *t = &sl->trace;
	struct session *s = sl->s;
	if (t->lost)
		return perr_set(err, 0, "slim: the trace is incomplete (%s); refusing to slim", t->lost_why);
	if (sl->o->seccomp_profile && seccomp_profile_write(t, sl->o->seccomp_profile, err) < 0)
		return -1;
	for (size_t i = 0; i < sl->o->traces.n; i++)
		if (trace_read_file(t, sl->o->traces.v[i], err) < 0)
			return perr_wrap(err, "--trace");
	if (add_default_profiles(sl, err) < 0)
		return -1;
	build_rules(sl);
	trace_check_image(t, s->rootfd); /* "exists", for the report's excluded paths */
	slim_seed(&sl->keep, &sl->rules, t, &s->plan, s->img, s->rootfd, &sl->dropped, &sl->n_dropped);
	if (rules_close(&sl->rules, &sl->keep, s->rootfd, &sl->units, err) < 0)
		return -1;
	app_trees_check(&sl->rules, &sl->keep, &sl->units, t, s->rootfd);
	keepset_paths(&sl->keep, &sl->paths);
	if (sl->upper_fd >= 0)
		slim_collect_written(&sl->rules, t, sl->upper_fd, &sl->keep, &sl->paths, &sl->written);
	slim_measure(s->img, s->rootfd, &sl->keep.tree, &sl->paths, &sl->w);
	return 0;
}

static int write_image(struct slim *sl, const struct slim_host *h, struct perr *err)
{
	struct slim_event ev = { .kind = SLIM_WRITE_START };
	if (h->event)
		h->event(h->ctx, sl, &ev);
	cleanup_free char *reuse = rootfs_layer_dir(&sl->s->rfs);
	int r = slim_write_image(sl->s->img, sl->s->rootfd, reuse, sl->dst, sl->o->compress, &sl->paths,
				 sl->written.n ? &sl->written : NULL, sl->upper_fd, &sl->w, err);
	ev.kind = SLIM_WRITE_END;
	if (h->event)
		h->event(h->ctx, sl, &ev);
	if (r < 0)
		return perr_wrap(err, "cannot write %s", sl->dst_text);
	ev.kind = SLIM_WRITTEN;
	if (h->event)
		h->event(h->ctx, sl, &ev);
	return 0;
}

static int slim_steps(struct slim *sl, struct session *s, const struct slim_host *h, struct perr *err)
{
	bool sh = probe_args_have(&sl->o->probes, ARG_EXEC) || probe_args_have(&sl->o->probes, ARG_RUN) ||
		  sl->o->ready.cmds.n;
	if (sh && !image_has_path(s->rootfd, "/bin/sh"))
		return perr_set(err, 0, "slim: --exec, --run and --wait-cmd need /bin/sh in the image");
	if (sl->o->keep_written && upper_open(sl, err) < 0)
		return -1;
	uint64_t t = monotonic_ms();
	int r = slim_run_probes(sl, h, s, &sl->trace, sl->results, "slim", "", true);
	sl->probes_ms = monotonic_ms() - t;
	if (r)
		return r;
	/* --verify's second run of the original goes on beside the closure
	 * (a forked helper; the closure is this process's CPU, the run its
	 * sandbox's), and is judged before anything is written: a flaky
	 * probe fails the slim. */
	struct noise_job noise = { .pid = -1, .fd = -1 };
	if (sl->o->verify)
		slim_noise_start(sl, h, &noise);
	t = monotonic_ms();
	int closed = close_keepset(sl, err);
	sl->close_ms = monotonic_ms() - t;
	r = sl->o->verify ? slim_noise_finish(sl, h, &noise, closed == 0) : 0;
	if (closed < 0)
		return -1;
	if (r)
		return r;
	if (h->closed)
		return h->closed(h->ctx, sl, err);
	t = monotonic_ms();
	if (write_image(sl, h, err) < 0)
		return -1;
	sl->write_ms = monotonic_ms() - t;
	t = monotonic_ms();
	if (sl->o->verify)
		r = slim_verify(sl, h);
	sl->verify_ms = monotonic_ms() - t;
	if (sl->o->report && slim_report_write(sl, sl->o->report, err) < 0)
		return -1;
	return r;
}

int slim_run(struct slim *sl, struct session *s, const char *dst_text, const struct imgref *dst,
	     const struct slim_host *h, struct perr *err)
{
	sl->s = s;
	sl->dst_text = dst_text;
	sl->dst = dst;
	int r = slim_steps(sl, s, h, err);
	s->spec.upper_dir = NULL; /* about to be removed */
	sl->s = NULL;
	return r;
}

void slim_free(struct slim *sl)
{
	if (sl->upper_fd >= 0)
		close(sl->upper_fd);
	if (sl->upper_dir) {
		struct perr ignored;
		remove_tree_at(AT_FDCWD, sl->upper_dir, &ignored);
		free(sl->upper_dir);
	}
	strset_free(&sl->written);
	probe_results_free(sl->results, sl->probes.n);
	probes_free(&sl->probes);
	strv_free(&sl->paths);
	keepset_free(&sl->keep);
	trace_free(&sl->trace);
	for (size_t i = 0; i < sl->n_dropped; i++)
		free(sl->dropped[i].path);
	free(sl->dropped);
	units_state_free(&sl->units);
	rules_free(&sl->rules);
	profile_set_free(&sl->profiles);
	memset(sl, 0, sizeof(*sl));
	sl->upper_fd = -1;
}
