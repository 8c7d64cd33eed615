/* Running pare slim's probes and comparing their results. Each run's
 * stdout and stderr go to memfds: stdout for the digest that --verify
 * compares, both for the last lines shown after a failure. */
#define _GNU_SOURCE
#include "slimmer/slim_runs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
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
	sl->used_ebpf |= res->used_ebpf;
	sl->used_fanotify |= res->used_fanotify;
	sl->used_ptrace |= res->used_ptrace;
	sl->used_notify |= res->used_notify;
	sl->rootless |= res->rootless;
}

/* What one call of slim_run_probes runs with. */
struct run_slot {
	struct trace *t;
	const char *step, *prefix;
	bool must_succeed;
};

/* One sandbox for one-shot probe I (--run, or the image's command). */
static int run_exec_probe(struct slim *sl, const struct slim_host *h, struct session *s, size_t i,
			  struct run_slot *slot, struct probe_result *pr)
{
	const struct probe *pb = &sl->probes.v[i];
	char **saved_argv = s->spec.proc.argv;
	char *argv[] = { "/bin/sh", "-c", (char *)pb->cmd, NULL };
	if (pb->kind == P_RUN)
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

static void http_result_take(const struct probe *pb, const struct step_result *sr,
			     struct probe_result *pr)
{
	const struct http_result *hr = &sr->http;
	pr->duration_ms = sr->duration_ms;
	int want = pb->http.expect;
	pr->not_http = hr->not_http;
	pr->ok = hr->ok && (hr->not_http || (want ? hr->status == want : hr->status < 400));
	pr->code = hr->status;
	snprintf(pr->digest, sizeof(pr->digest), "%s", hr->body_digest);
	snprintf(pr->error, sizeof(pr->error), "%s", hr->error);
	pr->len = hr->body_len;
}

/* docker's exit code of a wait status. */
static int status_code(int status)
{
	struct run_result r = { .status = status, .have_status = true };
	return run_exit_code(&r);
}

static void exec_why(const struct step_result *sr, const struct run_result *res, uint64_t timeout_ms,
		     char *why, size_t sz)
{
	if (sr->timed_out)
		snprintf(why, sz, "timed out after %llu s (--probe-timeout)",
			 (unsigned long long)(timeout_ms / 1000));
	else if (sr->done)
		snprintf(why, sz, "exited with %d", status_code(sr->status));
	else if (res->have_status && !res->timed_out && !res->interrupted)
		snprintf(why, sz, "did not finish: the entrypoint exited with %d first", run_exit_code(res));
	else
		snprintf(why, sz, "did not finish: the run ended first");
}

/* What runs beside the entrypoint in one sandbox: the readiness waits,
 * then the P_EXEC and P_HTTP probes in order. Exec processes 0.. are the
 * probes', then the --wait-cmd ones. */
struct beside {
	struct run_step *steps;
	struct step_result *results;
	size_t n_steps;
	size_t *step_of;          /* probe index -> its step */
	struct proc_spec *execs;
	struct run_output *out;   /* each exec's */
	char *(*argv)[4];
	size_t n_execs;
};

static size_t add_exec(struct beside *b, const struct session *s, const char *cmd)
{
	size_t i = b->n_execs++;
	char **argv = b->argv[i];
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	struct run_output *o = &b->out[i];
	o->out = memfd_create("pare-exec-stdout", MFD_CLOEXEC);
	o->err = memfd_create("pare-exec-stderr", MFD_CLOEXEC);
	struct proc_spec *p = &b->execs[i];
	*p = s->spec.proc; /* the entrypoint's user, env and workdir */
	p->argv = argv;
	p->tty = false;
	p->fds[0] = s->null_fd >= 0 ? s->null_fd : STDIN_FILENO;
	p->fds[1] = o->out >= 0 ? o->out : STDOUT_FILENO;
	p->fds[2] = o->err >= 0 ? o->err : STDERR_FILENO;
	return i;
}

static void beside_plan(struct beside *b, const struct probe_list *l, const struct session *s)
{
	size_t max = l->n + l->n_wait_ports + l->n_wait_cmds;
	b->steps = xcalloc(max, sizeof(*b->steps));
	b->results = xcalloc(max, sizeof(*b->results));
	b->step_of = xcalloc(l->n, sizeof(*b->step_of));
	b->execs = xcalloc(l->n + l->n_wait_cmds, sizeof(*b->execs));
	b->out = xcalloc(l->n + l->n_wait_cmds, sizeof(*b->out));
	b->argv = xcalloc(l->n + l->n_wait_cmds, sizeof(*b->argv));
	for (size_t i = 0; i < l->n_wait_ports; i++)
		b->steps[b->n_steps++] = (struct run_step){ .kind = STEP_WAIT_PORT, .port = l->wait_ports[i] };
	for (size_t i = 0; i < l->n_wait_cmds; i++)
		b->steps[b->n_steps++] = (struct run_step){ .kind = STEP_WAIT_EXEC,
							   .exec = add_exec(b, s, l->wait_cmds[i]) };
	for (size_t i = 0; i < l->n; i++) {
		const struct probe *pb = &l->v[i];
		if (pb->kind == P_HTTP)
			b->steps[b->n_steps] = (struct run_step){ .kind = STEP_HTTP, .http = &pb->http };
		else if (pb->kind == P_EXEC)
			b->steps[b->n_steps] = (struct run_step){ .kind = STEP_EXEC, .exec = add_exec(b, s, pb->cmd) };
		else
			continue;
		b->step_of[i] = b->n_steps++;
	}
}

static void beside_free(struct beside *b)
{
	for (size_t i = 0; i < b->n_execs; i++) {
		closep(&b->out[i].out);
		closep(&b->out[i].err);
	}
	free(b->steps);
	free(b->results);
	free(b->step_of);
	free(b->execs);
	free(b->out);
	free(b->argv);
}

/* The readiness wait still pending: "port 80 accepted a connection";
 * true when it is a --wait-cmd (the tracer's message does not name it). */
static bool pending_wait(const struct beside *b, const struct probe_list *l, char *out, size_t sz)
{
	snprintf(out, sz, "it was ready");
	for (size_t i = 0; i < b->n_steps; i++) {
		const struct run_step *st = &b->steps[i];
		if (b->results[i].done)
			continue;
		if (st->kind == STEP_WAIT_PORT)
			snprintf(out, sz, "port %u accepted a connection", st->port);
		else if (st->kind == STEP_WAIT_EXEC)
			snprintf(out, sz, "--wait-cmd '%.120s' succeeded", l->wait_cmds[i - l->n_wait_ports]);
		return st->kind == STEP_WAIT_EXEC;
	}
	return false;
}

static void not_ready(const struct slim *sl, const struct slim_host *h, const char *prefix,
		      const struct beside *b, const struct run_result *res)
{
	char why[600], what[200];
	bool cmd = pending_wait(b, &sl->probes, what, sizeof(what));
	if (res->not_ready[0] && cmd)
		snprintf(why, sizeof(why), "%s (waiting until %s)", res->not_ready, what);
	else if (res->not_ready[0])
		snprintf(why, sizeof(why), "%s", res->not_ready);
	else if (res->have_status && !res->interrupted)
		snprintf(why, sizeof(why), "the entrypoint exited with %d before %s", run_exit_code(res), what);
	else
		snprintf(why, sizeof(why), "the run ended before %s", what);
	struct slim_event ev = { .kind = SLIM_NOT_READY, .prefix = prefix, .why = why };
	event(sl, h, &ev);
}

/* One probe's result from its step; with MUST_SUCCEED a failure is told. */
static int beside_take(struct slim *sl, const struct slim_host *h, struct beside *b, size_t i,
		       const struct run_result *res, struct run_slot *slot, struct probe_result *pr)
{
	const struct probe *pb = &sl->probes.v[i];
	const struct run_step *st = &b->steps[b->step_of[i]];
	const struct step_result *sr = &b->results[b->step_of[i]];
	char why[300];
	if (pb->kind == P_HTTP) {
		http_result_take(pb, sr, pr);
		http_why(&sr->http, res, pb->http.port, why, sizeof(why));
	} else {
		pr->duration_ms = sr->duration_ms;
		pr->code = sr->done ? status_code(sr->status) : -1;
		pr->timed_out = sr->timed_out;
		pr->ok = sr->done && !sr->timed_out && pr->code == 0;
		if (b->out[st->exec].out >= 0)
			digest_fd(b->out[st->exec].out, pr);
		exec_why(sr, res, sl->o->probe_timeout_ms ? sl->o->probe_timeout_ms : STEP_DEFAULT_TIMEOUT_MS,
			 why, sizeof(why));
	}
	if (!slot->must_succeed || pr->ok)
		return 0;
	int r = fail_probe(sl, h, slot->prefix, i, why);
	if (pb->kind == P_EXEC)
		output_show(sl, h, &b->out[st->exec], "its");
	return r;
}

/* The entrypoint with everything beside it, in one sandbox. */
static int run_beside(struct slim *sl, const struct slim_host *h, struct session *s, struct run_slot *slot,
		      struct probe_result *out)
{
	struct beside b = { 0 };
	beside_plan(&b, &sl->probes, s);
	s->spec.execs = b.execs;
	s->spec.n_execs = b.n_execs;
	struct run_output o;
	output_open(&o, s);
	struct slim_run run = { .step = slot->step, .mode = slot->t ? sl->o->mode : TRACER_OFF,
				.trace = slot->t, .steps = b.steps, .n_steps = b.n_steps,
				.step_results = b.results, .step_timeout_ms = sl->o->probe_timeout_ms };
	struct run_result res;
	int r = h->run(h->ctx, s, &run, &res) < 0 ? SLIM_FAILED : 0;
	s->spec.execs = NULL;
	s->spec.n_execs = 0;
	if (!r && slot->t)
		note_tracers(sl, &res);
	bool failed = false;
	if (!r && !res.ready) {
		not_ready(sl, h, slot->prefix, &b, &res);
		failed = true;
		if (slot->must_succeed)
			r = SLIM_FAILED;
	}
	for (size_t i = 0; !r && i < sl->probes.n; i++) {
		const struct probe *pb = &sl->probes.v[i];
		if (pb->kind != P_HTTP && pb->kind != P_EXEC)
			continue;
		r = beside_take(sl, h, &b, i, &res, slot, &out[i]);
		failed |= r != 0;
	}
	if (failed) /* once, after the failures: what the entrypoint said */
		output_show(sl, h, &o, "the entrypoint's");
	output_close(&o, s);
	beside_free(&b);
	return r;
}

int slim_run_probes(struct slim *sl, const struct slim_host *h, struct session *s, struct trace *t,
		    struct probe_result *out, const char *step, const char *prefix, bool must_succeed)
{
	struct run_slot slot = { .t = t, .step = step, .prefix = prefix, .must_succeed = must_succeed };
	for (size_t i = 0; i < sl->probes.n; i++) {
		enum probe_kind k = sl->probes.v[i].kind;
		if (k != P_COMMAND && k != P_RUN)
			continue;
		int r = run_exec_probe(sl, h, s, i, &slot, &out[i]);
		if (r)
			return r;
	}
	return sl->probes.beside ? run_beside(sl, h, s, &slot, out) : 0;
}

/* Noise: an output that differs between two runs of the original (Perl's
 * hash order, timestamps, PIDs) is compared by exit status only; an exit
 * status that differs makes the probe flaky, and the slim fails. */
/* The second run's results against the first's. */
static int judge_noise(struct slim *sl, const struct slim_host *h, struct probe_result *again)
{
	struct probe_result *pr = sl->results;
	int r = 0;
	for (size_t i = 0; i < sl->probes.n; i++) {
		pr[i].flaky = again[i].code != pr[i].code || again[i].ok != pr[i].ok;
		pr[i].noise = !pr[i].flaky && strcmp(again[i].digest, pr[i].digest);
		if (!pr[i].flaky)
			continue;
		struct slim_event ev = { .kind = SLIM_PROBE_FLAKY, .probe = i, .was = &pr[i], .now = &again[i] };
		event(sl, h, &ev);
		r = SLIM_FAILED;
	}
	return r;
}

/* The second run itself, into AGAIN: 0, or SLIM_FAILED when a run could
 * not be made (told through the events). */
static int run_noise(struct slim *sl, const struct slim_host *h, struct probe_result *again)
{
	uint64_t start = monotonic_ms();
	/* the second run starts from the image, not from what the first wrote */
	const char *shared_upper = sl->s->spec.upper_dir;
	sl->s->spec.upper_dir = NULL;
	static const char step[] = "verify (second run of the original)";
	int r = slim_run_probes(sl, h, sl->s, NULL, again, step, "verify (second run of the original): ", false);
	sl->s->spec.upper_dir = shared_upper;
	sl->noise_ms = monotonic_ms() - start;
	return r;
}

int slim_check_noise(struct slim *sl, const struct slim_host *h)
{
	struct probe_result *again = xcalloc(sl->probes.n, sizeof(*again));
	int r = run_noise(sl, h, again);
	if (!r)
		r = judge_noise(sl, h, again);
	probe_results_free(again, sl->probes.n);
	return r;
}

/* What the helper sends back: its verdict and time, then per probe the
 * result (the same binary wrote it: the struct as it is, head after it). */
struct noise_header {
	int r;
	uint64_t noise_ms;
};

static void noise_helper(struct slim *sl, const struct slim_host *h, int fd)
{
	/* A stop asked for by slim_noise_finish (the closure failed) is
	 * taken by the run in progress, which ends its sandbox cleanly. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	size_t n = sl->probes.n;
	struct probe_result *again = xcalloc(n, sizeof(*again));
	struct noise_header hd = { .r = run_noise(sl, h, again), .noise_ms = sl->noise_ms };
	bool ok = write_all(fd, &hd, sizeof(hd)) == 0;
	for (size_t i = 0; ok && i < n; i++) {
		struct probe_result one = again[i];
		one.head = NULL;
		ok = write_all(fd, &one, sizeof(one)) == 0 &&
		     (!again[i].head_len || write_all(fd, again[i].head, again[i].head_len) == 0);
	}
	_exit(ok ? 0 : 1); /* nothing of the parent's is cleaned up here */
}

void slim_noise_start(struct slim *sl, const struct slim_host *h, struct noise_job *j)
{
	int p[2];
	j->pid = -1;
	j->fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	fflush(NULL); /* nothing buffered is written twice */
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		noise_helper(sl, h, p[1]);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return;
	}
	j->pid = pid;
	j->fd = p[0];
}

static bool noise_read(struct slim *sl, int fd, struct noise_header *hd, struct probe_result *again)
{
	if (read_full(fd, hd, sizeof(*hd)) != (ssize_t)sizeof(*hd))
		return false;
	for (size_t i = 0; i < sl->probes.n; i++) {
		if (read_full(fd, &again[i], sizeof(again[i])) != (ssize_t)sizeof(again[i]))
			return false;
		size_t len = again[i].head_len;
		again[i].head = NULL;
		if (len > STDOUT_HEAD)
			return false;
		again[i].head = xmalloc(len + 1);
		if (len && read_full(fd, again[i].head, len) != (ssize_t)len)
			return false;
	}
	return true;
}

int slim_noise_finish(struct slim *sl, const struct slim_host *h, struct noise_job *j, bool wanted)
{
	if (j->pid < 0) /* no helper: the check runs here, now */
		return wanted ? slim_check_noise(sl, h) : 0;
	if (!wanted)
		kill(j->pid, SIGTERM);
	size_t n = sl->probes.n;
	struct probe_result *again = xcalloc(n, sizeof(*again));
	struct noise_header hd;
	bool got = noise_read(sl, j->fd, &hd, again);
	closep(&j->fd);
	int status;
	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	j->pid = -1;
	got = got && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	int r = 0;
	if (wanted && got) {
		sl->noise_ms = hd.noise_ms;
		r = hd.r ? hd.r : judge_noise(sl, h, again);
	} else if (wanted) { /* the helper died: the check runs here instead */
		r = slim_check_noise(sl, h);
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
