/* The steps that run beside the program (tracer.h): readiness waits, then
 * probes, one at a time, each started by an event of the loop (the
 * program exec'd, the previous step ended) and never by a sleep, so that
 * what runs and in which order is the same every run. HTTP steps and port
 * waits run in the HTTP helper (http.c), exec steps in pid 1's exec
 * processes (sandbox.c). */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* How long a failed --wait-cmd waits before it runs again. */
#define WAIT_EXEC_RETRY_MS 250
/* A helper past its own deadline by this much is killed. */
#define HELPER_GRACE_MS 5000

static const struct run_step *cur(const struct loop *l)
{
	return l->step < l->o->n_steps ? &l->o->steps[l->step] : NULL;
}

static bool is_wait(const struct run_step *st)
{
	return st->kind == STEP_WAIT_PORT || st->kind == STEP_WAIT_EXEC;
}

/* Readiness failed for a reason other than the program's exit: stop. */
static void not_ready(struct loop *l, const char *fmt, const char *detail)
{
	snprintf(l->res->not_ready, sizeof(l->res->not_ready), fmt, detail);
	l->step = l->o->n_steps;
	request_stop(l);
}

static void start_failed(struct loop *l)
{
	l->step_failed = true;
	l->step = l->o->n_steps;
	sandbox_signal(&l->sb, SIGKILL);
	l->kill_sent = true;
}

static void start_helper(struct loop *l, const struct http_probe *p, uint64_t timeout_ms)
{
	free(l->helper_buf);
	l->helper_buf = NULL;
	l->helper_len = 0;
	if (http_start(l->sb.init_pid, p, 1, timeout_ms ? timeout_ms : 1, &l->helper, &l->helper_fd,
		       &l->step_err) < 0)
		start_failed(l);
}

static uint64_t step_timeout(const struct loop *l)
{
	return l->o->step_timeout_ms ? l->o->step_timeout_ms : STEP_DEFAULT_TIMEOUT_MS;
}

static void step_start(struct loop *l)
{
	const struct run_step *st = cur(l);
	if (!st) {
		request_stop(l);
		return;
	}
	uint64_t now = monotonic_ms();
	bool wait = is_wait(st);
	if (!l->step_running)
		l->step_started = now;
	l->step_running = true;
	l->step_timed_out = false;
	l->step_deadline = wait ? l->ready_deadline : l->step_started + step_timeout(l);
	uint64_t left = l->step_deadline > now ? l->step_deadline - now : 0;
	if (st->kind == STEP_WAIT_PORT) {
		struct http_probe p = { .port = st->port, .connect_only = true };
		start_helper(l, &p, left);
	} else if (st->kind == STEP_HTTP) {
		start_helper(l, st->http, left);
	} else if (sandbox_exec(&l->sb, st->exec, &l->step_err) < 0) {
		start_failed(l);
	}
}

static void step_next(struct loop *l)
{
	struct step_result *r = &l->o->step_results[l->step];
	r->done = true;
	r->duration_ms = monotonic_ms() - l->step_started;
	l->step_running = false;
	l->step++;
	const struct run_step *st = cur(l);
	if (!st || !is_wait(st))
		l->res->ready = true;
	step_start(l);
}

void steps_begin(struct loop *l)
{
	if (l->steps_begun || !l->o->n_steps)
		return;
	l->steps_begun = true;
	uint64_t ready = l->o->timeout_ms ? l->o->timeout_ms : READY_DEFAULT_TIMEOUT_MS;
	l->ready_deadline = monotonic_ms() + ready;
	l->res->ready = !is_wait(&l->o->steps[0]);
	step_start(l);
}

void steps_helper_done(struct loop *l)
{
	const struct run_step *st = cur(l);
	if (!st || !l->step_running)
		return;
	struct step_result *r = &l->o->step_results[l->step];
	http_collect(l->helper_buf ? l->helper_buf : "", l->helper_len, &r->http, 1);
	if (st->kind == STEP_WAIT_PORT && !r->http.ok) {
		l->step_running = false;
		if (!r->http.no_result)
			not_ready(l, "%s", r->http.error);
		return;
	}
	step_next(l);
}

void steps_exec_exited(struct loop *l, size_t idx, int status)
{
	const struct run_step *st = cur(l);
	if (!st || !l->step_running || st->exec != idx ||
	    (st->kind != STEP_EXEC && st->kind != STEP_WAIT_EXEC))
		return;
	struct step_result *r = &l->o->step_results[l->step];
	r->status = status;
	r->timed_out = l->step_timed_out;
	if (st->kind == STEP_EXEC || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		step_next(l);
		return;
	}
	uint64_t now = monotonic_ms();
	if (l->step_timed_out || now + WAIT_EXEC_RETRY_MS >= l->ready_deadline) {
		char what[64];
		if (l->step_timed_out)
			snprintf(what, sizeof(what), "was still running");
		else if (WIFEXITED(status))
			snprintf(what, sizeof(what), "exited with %d", WEXITSTATUS(status));
		else
			snprintf(what, sizeof(what), "was killed by signal %d", WTERMSIG(status));
		l->step_running = false;
		not_ready(l, "--wait-cmd %s when the readiness timeout ran out", what);
		return;
	}
	l->retry_at = now + WAIT_EXEC_RETRY_MS; /* not ready yet: again, later */
}

void steps_timer(struct loop *l)
{
	const struct run_step *st = cur(l);
	uint64_t now = monotonic_ms();
	if (!st || !l->step_running)
		return;
	if (l->retry_at && now >= l->retry_at) {
		l->retry_at = 0;
		step_start(l);
		return;
	}
	bool helper = st->kind == STEP_WAIT_PORT || st->kind == STEP_HTTP;
	if (helper && l->helper > 0 && now >= l->step_deadline + HELPER_GRACE_MS)
		kill(l->helper, SIGKILL); /* its EOF ends the step */
	if (!helper && !l->step_timed_out && !l->retry_at && now >= l->step_deadline) {
		l->step_timed_out = true;
		sandbox_exec_kill(&l->sb, st->exec); /* its exit ends the step */
	}
}

uint64_t steps_wakeup(const struct loop *l)
{
	const struct run_step *st = cur(l);
	if (!st || !l->step_running)
		return 0;
	if (l->retry_at)
		return l->retry_at;
	if (st->kind == STEP_WAIT_PORT || st->kind == STEP_HTTP)
		return l->step_deadline + HELPER_GRACE_MS;
	return l->step_timed_out ? 0 : l->step_deadline;
}

/* The program is gone: a running helper's answer no longer counts. */
void steps_end(struct loop *l)
{
	if (l->helper > 0 && l->helper_fd >= 0) {
		kill(l->helper, SIGKILL);
		bool done = false;
		while (!done)
			helper_read(l, &done);
	}
	for (size_t i = l->step; i < l->o->n_steps; i++)
		if (!l->o->step_results[i].done) {
			l->o->step_results[i].http.no_result = true;
			snprintf(l->o->step_results[i].http.error, sizeof(l->o->step_results[i].http.error),
				 "no answer: the run ended first");
		}
}
