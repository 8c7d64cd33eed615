/* pare slim as one pipeline (slim.c): the probes planned, run traced in
 * the caller's run session, the keep-set seeded and closed, the slim
 * image written, the probes rerun against it (--verify), the report
 * written. Never prints: what the user should see as it happens reaches
 * the caller as events, and the runs themselves go through the caller's
 * host callbacks (its terminal, its timeouts, its progress lines). */
#ifndef PARE_SLIM_H
#define PARE_SLIM_H

#include "image/ref.h"
#include "slimmer/keeplist.h"
#include "slimmer/keepset.h"
#include "slimmer/rules.h"
#include "slimmer/slim_image.h"
#include "slimmer/slim_probes.h"
#include "tracer/session.h"

/* What the user asked for (pare slim's options but the run options). */
struct slim_opts {
	struct probe_args probes;              /* --exec, --run, --http, --http-file, in order */
	struct readiness ready;                /* --wait-port, --wait-cmd */
	uint64_t probe_timeout_ms;             /* each probe beside the entrypoint (0: default) */
	struct strv traces;                    /* `pare probe` traces to add */
	struct strv keep, exclude, profile_names;
	struct strv no_profiles;               /* left out of the default ones */
	struct strv unit_kinds;                /* kinds, or directory globs ("/...") */
	const char *report, *profile_dir;
	const char *seccomp_profile;           /* write a Docker seccomp profile here */
	bool verify, keep_written, no_default_profiles;
	bool no_app_trees, have_app_tree_max, no_import_closure;
	uint64_t app_tree_max;                 /* with have_app_tree_max */
	struct strv app_dirs;                  /* --app-dir */
	const struct compress_spec *compress;  /* of the slim layer, or NULL */
	enum tracer_mode mode;                 /* of the traced runs */
};

void slim_opts_free(struct slim_opts *o);

/* One run the pipeline asks its host for, in the session it was given. */
struct slim_run {
	const char *step;       /* "slim", "verify", "verify (second run of the original)" */
	enum tracer_mode mode;  /* TRACER_OFF: untraced, TRACE is NULL */
	struct trace *trace;
	const struct run_step *steps;  /* beside the running program, or none */
	size_t n_steps;
	struct step_result *step_results;
	uint64_t step_timeout_ms;
};

enum slim_event_kind {
	SLIM_PROBE_FAILED,  /* PREFIX, PROBE, WHY */
	SLIM_NOT_READY,     /* PREFIX, WHY: the entrypoint never got ready for its probes */
	SLIM_PROBE_OUTPUT,  /* WHOSE output, OUT_FD, ERR_FD (memfds, -1 when none): after failures */
	SLIM_PROBE_FLAKY,   /* PROBE: WAS and NOW, two runs of the original, differ in status */
	SLIM_WRITE_START,   /* the slim image is being written (slim.paths, slim.dst_text) */
	SLIM_WRITE_END,     /* done writing, well or not */
	SLIM_WRITTEN,       /* written: slim.w, profiles, units and keep warnings are final */
	SLIM_DIVERGED,      /* PROBE: WAS on the original, NOW on the slim image */
	SLIM_VERIFIED,      /* OK: the verdict of --verify */
};

struct slim_event {
	enum slim_event_kind kind;
	const char *prefix;  /* "", "verify: ", "verify (second run of the original): " */
	size_t probe;        /* index into slim.probes */
	const char *why;
	const char *whose;   /* "its", "the entrypoint's" */
	int out_fd, err_fd;
	const struct probe_result *was, *now;
	bool ok;
};

struct slim;

/* The caller's side of the runs. Each returns 0, or -1 after telling the
 * user itself. */
struct slim_host {
	/* A run session of REF, the slim image (for --verify). */
	int (*open)(void *ctx, const char *ref, struct session **s);
	void (*close)(void *ctx, struct session *s);
	/* One run of S->spec with the caller's timeouts, stop signal and terminal. */
	int (*run)(void *ctx, struct session *s, const struct slim_run *run, struct run_result *res);
	void (*event)(void *ctx, const struct slim *sl, const struct slim_event *ev);
	void *ctx;
	/* Set: the slim stops at its closed keep-set (noise judged, nothing
	 * written) and hands it here: a fleet's map step. 0 or -1 (ERR). */
	int (*closed)(void *ctx, struct slim *sl, struct perr *err);
};

/* One slim: the options, then what each step found. */
struct slim {
	const struct slim_opts *o;
	struct rules rules;
	struct profile_set profiles;
	struct units_state units;
	struct probe_list probes;
	struct probe_result *results; /* one per probe, on the original */
	struct session *s;            /* the original's run session, while slim_run runs */
	const char *dst_text;
	const struct imgref *dst;
	struct trace trace;
	struct dropped *dropped;      /* traced paths an exclude rule dropped */
	size_t n_dropped;
	struct keepset keep;
	struct strv paths;            /* what the slim image holds */
	struct strset written;        /* of PATHS, those read from the probes' upper layer */
	char *upper_dir;              /* --keep-written: the probes' shared upper layer */
	int upper_fd;
	struct slim_written w;
	bool used_ebpf, used_fanotify, used_ptrace, used_notify, rootless;
	uint64_t noise_ms;            /* --verify's second run of the original */
	/* Where a slim's time went (the report's "timings_ms"): the probes,
	 * the keep-set and its closure, the image written, --verify. */
	uint64_t probes_ms, close_ms, write_ms, verify_ms;
	const char *verdict;          /* "same", "diverged", or NULL without --verify */
};

/* slim_run's failure that the user was already told of, through events
 * or the host's own callbacks; -1 is an error in ERR, still to be told. */
#define SLIM_FAILED 1

void slim_init(struct slim *sl, const struct slim_opts *o);
/* The profiles (base unless no_default_profiles, then the named ones,
 * each with its includes): before any run, so that a bad profile fails at
 * once. The rules are made after the probes, when the profiles the image
 * calls for by default (certs, tzdata, python, node) are known. */
int slim_load_rules(struct slim *sl, struct perr *err);
/* The probes, for IMG (its exposed ports, its command). */
int slim_plan(struct slim *sl, const struct image *img, struct perr *err);
/* Everything else, on the caller's open session S of the original: the
 * slim image goes to DST (DST_TEXT as the user wrote it). 0, -1 (ERR), or
 * SLIM_FAILED. */
int slim_run(struct slim *sl, struct session *s, const char *dst_text, const struct imgref *dst,
	     const struct slim_host *h, struct perr *err);
void slim_free(struct slim *sl);

#endif
