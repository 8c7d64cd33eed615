/* Running pare slim's probes and comparing their results. Each run's
 * stdout and stderr go to memfds: stdout for the digest that --verify
 * compares, both for the last lines shown after a failure. */
#define _GNU_SOURCE
#include "slimmer/slim_runs.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/digest.h"

static void event(const struct slim *sl, const struct slim_host *h, const struct slim_event *ev)
{
	if (h->event)
		h->event(h->ctx, sl, ev);
}

static void digest_fd(int fd, struct probe_result *pr)
{
	struct sha256 sha;
	char buf[65536];
	ssize_t n;
	sha256_init(&sha);
	pr->len = 0;
	free(pr->head);
	pr->head = xmalloc(STDOUT_HEAD);
	pr->head_len = 0;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		sha256_update(&sha, buf, (size_t)n);
		pr->len += (uint64_t)n;
		size_t take = (size_t)n < STDOUT_HEAD - pr->head_len ? (size_t)n : STDOUT_HEAD - pr->head_len;
		memcpy(pr->head + pr->head_len, buf, take);
		pr->head_len += take;
	}
	sha256_final(&sha, pr->digest);
	sha256_free(&sha);
}

static int fail_probe(const struct slim *sl, const struct slim_host *h, const char *prefix, size_t i,
		      const char *why)
{
	struct slim_event ev = { .kind = SLIM_PROBE_FAILED, .prefix = prefix, .probe = i, .why = why };
	event(sl, h, &ev);
	return SLIM_FAILED;
}

/* Where one run's stdout and stderr go. */
struct run_output {
	int out, err;
};

static void output_open(struct run_output *o, struct session *s)
{
	o->out = memfd_create("pare-probe-stdout", MFD_CLOEXEC);
	o->err = memfd_create("pare-probe-stderr", MFD_CLOEXEC);
	s->spec.proc.fds[1] = o->out >= 0 ? o->out : STDOUT_FILENO;
	s->spec.proc.fds[2] = o->err >= 0 ? o->err : STDERR_FILENO;
}

static void output_close(struct run_output *o, struct session *s)
{
	s->spec.proc.fds[1] = STDOUT_FILENO;
	s->spec.proc.fds[2] = STDERR_FILENO;
	closep(&o->out);
	closep(&o->err);
}

static void output_show(const struct slim *sl, const struct slim_host *h, const struct run_output *o,
			const char *whose)
{
	struct slim_event ev = { .kind = SLIM_PROBE_OUTPUT, .whose = whose, .out_fd = o->out, .err_fd = o->err };
	event(sl, h, &ev);
}

static void note_tracers(struct slim *sl, const struct run_result *res)
{
	sl->used_fanotify |= res->used_fanotify;
	sl->used_ptrace |= res->used_ptrace;
	sl->rootless |= res->rootless;
}

/* What one call of slim_run_probes runs with. */
struct run_slot {
	struct trace *t;
	const char *step, *prefix;
	bool must_succeed;
};

/* One sandbox for exec probe I (or for the command). */
static int run_exec_probe(struct slim *sl, const struct slim_host *h, struct session *s, size_t i,
			  struct run_slot *slot, struct probe_result *pr)
{
	const struct probe *pb = &sl->probes.v[i];
	char **saved_argv = s->spec.proc.argv;
	char *argv[] = { "/bin/sh", "-c", (char *)pb->cmd, NULL };
	if (pb->kind == P_EXEC)
		s->spec.proc.argv = argv;
	struct run_output o;
	output_open(&o, s);
	struct slim_run run = { .step = slot->step, .mode = slot->t ? sl->o->mode : TRACER_OFF,
				.trace = slot->t };
	struct run_result res;
	int r = h->run(h->ctx, s, &run, &res) < 0 ? SLIM_FAILED : 0;
	s->spec.proc.argv = saved_argv;
	if (!r) {
		if (slot->t)
			note_tracers(sl, &res);
		pr->code = run_exit_code(&res);
		pr->timed_out = res.timed_out;
		pr->duration_ms = res.duration_ms;
		pr->ok = pr->code == 0 || (res.timed_out && pb->kind == P_COMMAND);
		if (o.out >= 0)
			digest_fd(o.out, pr);
		/* A one-shot probe must succeed; an entrypoint stopped by our
		 * --timeout is how a server's run ends. */
		if (slot->must_succeed && !pr->ok) {
			char why[64];
			snprintf(why, sizeof(why), "exited with %d%s", pr->code,
				 res.timed_out ? " (timed out)" : "");
			r = fail_probe(sl, h, slot->prefix, i, why);
			output_show(sl, h, &o, "its");
		}
	}
	output_close(&o, s);
	return r;
}

/* Why an HTTP probe failed, in the user's terms. */
static void http_why(const struct http_result *hr, const struct run_result *res, unsigned port,
		     char *why, size_t sz)
{
	if (hr->ok)
		snprintf(why, sz, "answered HTTP %d", hr->status);
	else if (hr->no_result && res->have_status && !res->timed_out && !res->interrupted)
		snprintf(why, sz, "got no answer: the entrypoint exited with %d before port %u answered",
			 run_exit_code(res), port);
	else
		snprintf(why, sz, "failed: %s", hr->error);
}

static void http_result_take(const struct probe *pb, const struct http_result *hr,
			     const struct run_result *res, struct probe_result *pr)
{
	pr->duration_ms = res->duration_ms;
	int want = pb->http.expect;
	pr->ok = hr->ok && (want ? hr->status == want : hr->status < 400);
	pr->code = hr->status;
	snprintf(pr->digest, sizeof(pr->digest), "%s", hr->body_digest);
	snprintf(pr->error, sizeof(pr->error), "%s", hr->error);
	pr->len = hr->body_len;
}

/* All NHTTP HTTP probes in one sandbox, against the running entrypoint. */
static int run_http_probes(struct slim *sl, const struct slim_host *h, struct session *s, size_t nhttp,
			   struct run_slot *slot, struct probe_result *out)
{
	cleanup_free struct http_probe *hp = xcalloc(nhttp, sizeof(*hp));
	cleanup_free struct http_result *hr = xcalloc(nhttp, sizeof(*hr));
	cleanup_free size_t *idx = xcalloc(nhttp, sizeof(*idx));
	size_t k = 0;
	for (size_t i = 0; i < sl->probes.n; i++)
		if (sl->probes.v[i].kind == P_HTTP) {
			idx[k] = i;
			hp[k++] = sl->probes.v[i].http;
		}
	struct run_output o;
	output_open(&o, s);
	struct slim_run run = { .step = slot->step, .mode = slot->t ? sl->o->mode : TRACER_OFF,
				.trace = slot->t, .http = hp, .n_http = nhttp, .http_results = hr };
	struct run_result res;
	int r = h->run(h->ctx, s, &run, &res) < 0 ? SLIM_FAILED : 0;
	if (!r && slot->t)
		note_tracers(sl, &res);
	for (size_t j = 0; !r && j < nhttp; j++) {
		struct probe_result *pr = &out[idx[j]];
		http_result_take(&sl->probes.v[idx[j]], &hr[j], &res, pr);
		if (slot->must_succeed && !pr->ok) {
			char why[300];
			http_why(&hr[j], &res, hp[j].port, why, sizeof(why));
			r = fail_probe(sl, h, slot->prefix, idx[j], why);
		}
	}
	if (r) /* once, after the failures: what the entrypoint said */
		output_show(sl, h, &o, "the entrypoint's");
	output_close(&o, s);
	return r;
}

int slim_run_probes(struct slim *sl, const struct slim_host *h, struct session *s, struct trace *t,
		    struct probe_result *out, const char *step, const char *prefix, bool must_succeed)
{
	struct run_slot slot = { .t = t, .step = step, .prefix = prefix, .must_succeed = must_succeed };
	size_t nhttp = 0;
	for (size_t i = 0; i < sl->probes.n; i++) {
		if (sl->probes.v[i].kind == P_HTTP) {
			nhttp++;
			continue;
		}
		int r = run_exec_probe(sl, h, s, i, &slot, &out[i]);
		if (r)
			return r;
	}
	return nhttp ? run_http_probes(sl, h, s, nhttp, &slot, out) : 0;
}

/* Noise: an output that differs between two runs of the original (Perl's
 * hash order, timestamps, PIDs) is compared by exit status only; an exit
 * status that differs makes the probe flaky, and the slim fails. */
int slim_check_noise(struct slim *sl, const struct slim_host *h)
{
	size_t n = sl->probes.n;
	struct probe_result *pr = sl->results, *again = xcalloc(n, sizeof(*again));
	uint64_t start = monotonic_ms();
	/* the second run starts from the image, not from what the first wrote */
	const char *shared_upper = sl->s->spec.upper_dir;
	sl->s->spec.upper_dir = NULL;
	static const char step[] = "verify (second run of the original)";
	int r = slim_run_probes(sl, h, sl->s, NULL, again, step, "verify (second run of the original): ", false);
	sl->s->spec.upper_dir = shared_upper;
	sl->noise_ms = monotonic_ms() - start;
	for (size_t i = 0; !r && i < n; i++) {
		pr[i].flaky = again[i].code != pr[i].code || again[i].ok != pr[i].ok;
		pr[i].noise = !pr[i].flaky && strcmp(again[i].digest, pr[i].digest);
		if (!pr[i].flaky)
			continue;
		struct slim_event ev = { .kind = SLIM_PROBE_FLAKY, .probe = i, .was = &pr[i], .now = &again[i] };
		event(sl, h, &ev);
		r = SLIM_FAILED;
	}
	probe_results_free(again, n);
	return r;
}

static bool same_result(const struct probe_result *was, const struct probe_result *now)
{
	bool same_out = was->noise || !strcmp(was->digest, now->digest);
	return was->code == now->code && same_out && was->ok == now->ok;
}

int slim_verify(struct slim *sl, const struct slim_host *h)
{
	size_t n = sl->probes.n;
	struct probe_result *now = xcalloc(n, sizeof(*now));
	struct session *vs = NULL;
	int r = h->open(h->ctx, sl->dst_text, &vs) < 0 ? SLIM_FAILED : 0;
	if (!r)
		r = slim_run_probes(sl, h, vs, NULL, now, "verify", "verify: ", false);
	for (size_t i = 0; !r && i < n; i++) {
		if (same_result(&sl->results[i], &now[i]))
			continue;
		struct slim_event ev = { .kind = SLIM_DIVERGED, .probe = i, .was = &sl->results[i], .now = &now[i] };
		event(sl, h, &ev);
		r = SLIM_FAILED;
	}
	struct slim_event done = { .kind = SLIM_VERIFIED, .ok = !r };
	event(sl, h, &done);
	sl->verdict = r ? "diverged" : "same";
	probe_results_free(now, n);
	if (vs)
		h->close(h->ctx, vs);
	return r;
}
