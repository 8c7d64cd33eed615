/* The event loop: strace's next_event()/dispatch shape over a signalfd,
 * the fanotify fd, pid 1's status socket and an optional terminal relay. */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ptrace.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "base/resolve.h"
#include "tracer/syscalls.h"

/* glibc's <sys/ptrace.h> clashes with <linux/ptrace.h>; declare the call. */
extern long ptrace(int request, ...);

int tracer_mode_parse(const char *s, enum tracer_mode *out)
{
	static const struct { const char *name; enum tracer_mode m; } modes[] = {
		{ "auto", TRACER_AUTO }, { "fanotify", TRACER_FANOTIFY },
		{ "notify", TRACER_NOTIFY }, { "ptrace", TRACER_PTRACE },
		{ "both", TRACER_BOTH }, { "ebpf", TRACER_EBPF },
	};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].m;
			return 0;
		}
	return -1;
}

struct proc *proc_find(struct loop *l, pid_t pid, bool create)
{
	if ((l->n_procs + 1) * 2 > l->cap_procs) {
		size_t cap = l->cap_procs ? l->cap_procs * 2 : 256;
		struct proc *np = xcalloc(cap, sizeof(*np));
		l->n_procs = 0;
		for (size_t i = 0; i < l->cap_procs; i++)
			if (l->procs[i].pid > 0) {
				l->n_procs++;
				size_t j = (size_t)l->procs[i].pid & (cap - 1);
				while (np[j].pid)
					j = (j + 1) & (cap - 1);
				np[j] = l->procs[i];
			}
		free(l->procs);
		l->procs = np;
		l->cap_procs = cap;
	}
	size_t mask = l->cap_procs - 1;
	for (size_t i = (size_t)pid & mask;; i = (i + 1) & mask) {
		if (l->procs[i].pid == pid)
			return &l->procs[i];
		if (l->procs[i].pid == 0) {
			if (!create)
				return NULL;
			l->procs[i] = (struct proc){ .pid = pid, .exe = -1 };
			l->n_procs++;
			return &l->procs[i];
		}
	}
}

/* It exec'd: its executable is looked up again. */
void proc_forget(struct loop *l, pid_t pid)
{
	struct proc *p = proc_find(l, pid, false);
	if (p)
		p->exe = -1;
}

/* It is gone. A tombstone (-1) keeps probe chains intact; rebuilding on
 * growth drops tombstones. */
void proc_gone(struct loop *l, pid_t pid)
{
	struct proc *p = proc_find(l, pid, false);
	if (p)
		p->pid = -1;
}

ssize_t read_link(const char *path, char *buf, size_t sz)
{
	ssize_t n = readlink(path, buf, sz - 1);
	if (n < 0 || (size_t)n >= sz - 1)
		return -1;
	buf[n] = 0;
	return n;
}

ssize_t fd_path(int fd, char *buf, size_t sz)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	return read_link(link, buf, sz);
}

uint32_t exe_of(struct loop *l, pid_t pid)
{
	struct proc *p = proc_find(l, pid, true);
	if (p->exe >= 0)
		return (uint32_t)p->exe;
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	if (read_link(link, path, sizeof(path)) < 0)
		return UINT32_MAX;
	/* Before its execve, the program is still a clone of us: no "by". */
	if (!strcmp(path, l->self_exe))
		return UINT32_MAX;
	p->exe = (int32_t)trace_exe(l->t, path);
	return (uint32_t)p->exe;
}

/* Paths below our own mounts are the sandbox's, never the image's. */
bool is_virtual(const char *p)
{
	static const char *const prefixes[] = { "/proc/", "/sys/", "/dev/", SANDBOX_PRIVATE_DIR "/" };
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (!strncmp(p, prefixes[i], strlen(prefixes[i])) ||
		    !strcmp(p, SANDBOX_PRIVATE_DIR))
			return true;
	return false;
}

/* ---- the loop ---- */

static void reap(struct loop *l)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		if (WIFSTOPPED(status)) {
			ptrace_on_stop(l, pid, status);
			continue;
		}
		/* Its opens may still sit in the fanotify queue: read them while
		 * we still know which executable it was. */
		if (l->use_fan)
			fan_drain(l);
		if (l->bpf)
			ebpf_drain(l->bpf);
		proc_gone(l, pid);
		if (pid == l->sb.init_pid) {
			l->init_gone = true;
			l->sb.exited = true;
			l->sb.init_status = status;
		}
	}
}

static void relay(int from, int to, bool *open)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			*open = false;
		return;
	}
	(void)write_all(to, buf, (size_t)n);
}

/* True when a SIGCHLD came: then reap() collects every child that
 * changed state (signals coalesce; one that comes after it looked comes
 * with a SIGCHLD of its own). */
static bool on_signal(struct loop *l)
{
	struct signalfd_siginfo si;
	bool child = false;
	while (read(l->sigfd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD) {
			child = true;
			continue;
		}
		if (sig == SIGWINCH) {
			struct winsize ws;
			if (l->o->tty_master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
				ioctl(l->o->tty_master, TIOCSWINSZ, &ws);
			continue;
		}
		l->res->interrupted = true;
		if (l->stop_sent) { /* a second interrupt: stop waiting */
			sandbox_signal(&l->sb, SIGKILL);
			l->kill_sent = true;
		} else {
			sandbox_signal(&l->sb, l->o->tty_master >= 0 ? sig : l->o->stop_signal);
			l->stop_sent = true;
			l->kill_at = monotonic_ms() + l->o->grace_ms;
		}
	}
	return child;
}

static void on_timer(struct loop *l)
{
	uint64_t now = monotonic_ms();
	if (l->deadline && now >= l->deadline && !l->stop_sent) {
		l->res->timed_out = true;
		sandbox_signal(&l->sb, l->o->stop_signal);
		l->stop_sent = true;
		l->kill_at = now + l->o->grace_ms;
	}
	if (l->stop_sent && !l->kill_sent && now >= l->kill_at) {
		sandbox_signal(&l->sb, SIGKILL);
		l->kill_sent = true;
	}
}

/* Stop the program as on a timeout, without calling it one. */
void request_stop(struct loop *l)
{
	if (l->stop_sent)
		return;
	sandbox_signal(&l->sb, l->o->stop_signal);
	l->stop_sent = true;
	l->kill_at = monotonic_ms() + l->o->grace_ms;
}

/* The helper's newest complete line says whether it waits for a port. */
static void helper_waiting(struct loop *l)
{
	const char *end = l->helper_buf + l->helper_len, *line = end - 1;
	unsigned port = 0;
	if (l->helper_len && *line == '\n') {
		while (line > l->helper_buf && line[-1] != '\n')
			line--;
		if (!strncmp(line, "WAIT ", 5))
			port = (unsigned)strtoul(line + 5, NULL, 10);
	}
	if (port != l->wait_port) {
		if (!port && l->o->on_wait)
			l->o->on_wait(l->o->wait_ctx, 0, 0);
		l->wait_port = port;
		l->wait_since = l->wait_told = monotonic_ms();
	}
}

static void wait_tell(struct loop *l)
{
	uint64_t now = monotonic_ms();
	if (!l->wait_port || !l->o->on_wait || now < l->wait_told + 1000)
		return;
	l->wait_told = now;
	l->o->on_wait(l->o->wait_ctx, l->wait_port, now - l->wait_since);
}

void helper_read(struct loop *l, bool *done)
{
	char buf[4096];
	ssize_t n = read(l->helper_fd, buf, sizeof(buf));
	*done = false;
	if (n > 0) {
		l->helper_buf = xrealloc(l->helper_buf, l->helper_len + (size_t)n);
		memcpy(l->helper_buf + l->helper_len, buf, (size_t)n);
		l->helper_len += (size_t)n;
		helper_waiting(l);
		return;
	}
	if (l->wait_port && l->o->on_wait)
		l->o->on_wait(l->o->wait_ctx, 0, 0);
	l->wait_port = 0;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	close(l->helper_fd); /* done: it answered or gave up */
	l->helper_fd = -1;
	l->helper = 0;
	*done = true;
}

static int poll_timeout(struct loop *l)
{
	uint64_t next = 0, now = monotonic_ms();
	if (l->deadline && !l->stop_sent)
		next = l->deadline;
	else if (l->stop_sent && !l->kill_sent)
		next = l->kill_at;
	if (l->wait_port && l->o->on_wait && (!next || next > l->wait_told + 1000))
		next = l->wait_told + 1000;
	uint64_t step = steps_wakeup(l);
	if (step && (!next || step < next))
		next = step;
	if (!next)
		return -1;
	return next > now ? (int)(next - now) : 0;
}

/* Notifications first: their callers wait for us. A listener whose
 * processes are all gone is removed (by swapping in the last one, which
 * this backward walk has already seen). */
static void on_notifications(struct loop *l, const struct pollfd *pf, int i_take)
{
	for (size_t k = l->n_listeners; k-- > 0;)
		if (pf[i_take + 1 + (int)k].revents)
			notify_handle(l, k, pf[i_take + 1 + (int)k].revents);
	if (pf[i_take].revents)
		notify_take(l);
}

static int run_loop(struct loop *l, struct perr *err)
{
	bool in_open = l->o->tty_master >= 0, out_open = in_open;
	int exec_state = 1;
	struct perr exec_err = { 0 };
	while (!l->init_gone) {
		if (l->cap_pf < 8 + l->n_listeners) {
			l->cap_pf = 8 + l->n_listeners * 2;
			l->pf = xrealloc(l->pf, l->cap_pf * sizeof(*l->pf));
		}
		struct pollfd *pf = l->pf;
		int n = 0;
		pf[n++] = (struct pollfd){ l->sigfd, POLLIN, 0 };
		/* The listeners come right after the handover socket. */
		int i_take = -1;
		if (l->sb.listener_fd >= 0 || l->n_listeners) {
			i_take = n++;
			pf[i_take] = (struct pollfd){ l->sb.listener_fd, POLLIN, 0 };
			for (size_t k = 0; k < l->n_listeners; k++)
				pf[n++] = (struct pollfd){ l->listeners[k], POLLIN, 0 };
		}
		int i_bpf = l->bpf ? n++ : -1;
		if (i_bpf >= 0)
			pf[i_bpf] = (struct pollfd){ ebpf_poll_fd(l->bpf), POLLIN, 0 };
		int i_fan = l->use_fan ? n++ : -1, i_exec = -1, i_ctl = -1, i_in = -1, i_out = -1;
		if (i_fan >= 0)
			pf[i_fan] = (struct pollfd){ l->fan, POLLIN, 0 };
		if (l->sb.exec_fd >= 0)
			pf[i_exec = n++] = (struct pollfd){ l->sb.exec_fd, POLLIN, 0 };
		if (l->sb.ctl_fd >= 0)
			pf[i_ctl = n++] = (struct pollfd){ l->sb.ctl_fd, POLLIN, 0 };
		if (in_open)
			pf[i_in = n++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		if (out_open)
			pf[i_out = n++] = (struct pollfd){ l->o->tty_master, POLLIN, 0 };
		int i_help = -1;
		if (l->helper_fd >= 0)
			pf[i_help = n++] = (struct pollfd){ l->helper_fd, POLLIN, 0 };
		if (poll(pf, n, poll_timeout(l)) < 0 && errno != EINTR)
			return perr_set(err, errno, "poll");
		if (i_take >= 0)
			on_notifications(l, pf, i_take);
		if (pf[0].revents && on_signal(l))
			reap(l);
		on_timer(l);
		steps_timer(l);
		wait_tell(l);
		if (i_fan >= 0 && pf[i_fan].revents)
			fan_drain(l);
		if (l->bpf) /* woken only when its ring fills: read it at every turn */
			ebpf_drain(l->bpf);
		if (i_exec >= 0 && pf[i_exec].revents) {
			exec_state = sandbox_exec_result(&l->sb, &exec_err);
			if (exec_state < 0)
				sandbox_signal(&l->sb, SIGKILL);
			else if (exec_state == 0)
				steps_begin(l);
		}
		size_t idx;
		int st;
		if (i_ctl >= 0 && pf[i_ctl].revents && sandbox_read_ctl(&l->sb, &idx, &st))
			steps_exec_exited(l, idx, st);
		if (i_in >= 0 && pf[i_in].revents)
			relay(STDIN_FILENO, l->o->tty_master, &in_open);
		if (i_out >= 0 && pf[i_out].revents)
			relay(l->o->tty_master, STDOUT_FILENO, &out_open);
		bool done = false;
		if (i_help >= 0 && pf[i_help].revents)
			helper_read(l, &done);
		if (done)
			steps_helper_done(l);
	}
	/* The program is gone: steps still waiting for it never will. */
	steps_end(l);
	/* Everything in the pid namespace is gone with pid 1; collect the
	 * remaining tracees' exits and the events they queued. */
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	if (out_open)
		relay(l->o->tty_master, STDOUT_FILENO, &out_open);
	size_t idx;
	int st;
	while (l->sb.ctl_fd >= 0)
		sandbox_read_ctl(&l->sb, &idx, &st); /* exec exits now count for nothing */
	if (l->sb.exec_fd >= 0) /* the program may fail and pid 1 exit between polls */
		exec_state = sandbox_exec_result(&l->sb, &exec_err);
	if (!l->sb.have_prog_status && l->kill_sent) {
		/* We SIGKILLed pid 1 before it could report: the program died
		 * of that SIGKILL with the rest of the pid namespace. */
		l->sb.prog_status = SIGKILL;
		l->sb.have_prog_status = true;
	}
	if (l->use_fan)
		fan_drain(l);
	if (l->bpf)
		ebpf_drain(l->bpf);
	if (exec_state < 0) {
		*err = exec_err;
		return -1;
	}
	if (l->step_failed) {
		*err = l->step_err;
		return -1;
	}
	return 0;
}

static void loop_free(struct loop *l)
{
	if (l->helper > 0 && l->helper_fd >= 0) {
		kill(l->helper, SIGKILL);
		close(l->helper_fd);
	}
	free(l->helper_buf);
	if (l->sb.init_pid > 0 && !l->sb.exited) {
		kill(l->sb.init_pid, SIGKILL);
		while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
			;
	}
	sandbox_release(&l->sb);
	if (l->sigfd >= 0)
		close(l->sigfd);
	if (l->fan >= 0)
		close(l->fan);
	ebpf_close(l->bpf);
	if (l->root_fd >= 0)
		close(l->root_fd);
	for (size_t i = 0; i < l->n_listeners; i++)
		close(l->listeners[i]);
	free(l->listeners);
	free(l->pf);
	free(l->procs);
}

static int choose_recorders(struct loop *l, struct perr *err)
{
	enum tracer_mode m = l->o->mode;
	if (m == TRACER_OFF)
		return 0;
	bool root = !sandbox_userns_reason(), notify = notify_available();
	if (m == TRACER_NOTIFY && !notify)
		return perr_set(err, errno, "this kernel has no seccomp user notification "
				 "(Hint: --tracer ptrace)");
	if (m == TRACER_EBPF && !notify)
		return perr_set(err, errno, "the eBPF recorder needs seccomp user notification "
				 "beside it, which this kernel lacks (Hint: --tracer ptrace)");
	if (m == TRACER_EBPF && l->o->syscalls)
		return perr_set(err, EINVAL, "--syscalls records every call through seccomp "
				 "notification; the eBPF recorder adds nothing to it (Hint: --tracer notify)");
	/* Where it cannot load (rootless, in a container, a kernel that
	 * refuses it), auto goes on without it, as stop 28 did. */
	if (m == TRACER_EBPF || (m == TRACER_AUTO && notify && root && !l->o->syscalls)) {
		struct perr be;
		if (ebpf_open(l, m == TRACER_AUTO ? &be : err) < 0 && m == TRACER_EBPF)
			return -1;
	}
	l->use_notify = m == TRACER_NOTIFY || m == TRACER_EBPF || (m == TRACER_AUTO && notify);
	l->use_ptrace = m == TRACER_PTRACE || m == TRACER_BOTH || (m == TRACER_AUTO && !notify);
	l->use_fan = m == TRACER_FANOTIFY || m == TRACER_BOTH || (m == TRACER_AUTO && root) ||
		     m == TRACER_EBPF;
	l->fan_execs_only = l->use_fan && l->use_notify;
	if (l->use_fan) {
		struct perr fe;
		l->fan = fan_open(m == TRACER_AUTO ? &fe : err);
		if (l->fan < 0) {
			if (m != TRACER_AUTO)
				return -1;
			l->use_fan = false; /* rootless: notify (or ptrace) alone */
		}
	}
	return 0;
}

int tracer_run(struct sandbox_spec *spec, const struct tracer_opts *o, struct trace *t,
	       struct run_result *res, struct perr *err)
{
	struct trace scratch;
	trace_init(&scratch);
	struct loop l = { .t = t ? t : &scratch, .o = o, .sigfd = -1, .fan = -1, .root_fd = -1,
			  .res = res, .helper_fd = -1 };
	l.sb.init_pid = -1;
	l.sb.ctl_fd = l.sb.exec_fd = -1;
	memset(res, 0, sizeof(*res));
	if (read_link("/proc/self/exe", l.self_exe, sizeof(l.self_exe)) < 0)
		l.self_exe[0] = 0;
	struct sock_fprog prog = { 0 };
	sigset_t mask, old;
	sigemptyset(&mask);
	int sigs[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH };
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int rc = -1;
	l.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l.sigfd < 0) {
		perr_set(err, errno, "signalfd");
		goto out;
	}
	if (choose_recorders(&l, err) < 0)
		goto out;
	if (l.use_ptrace || l.use_notify) {
		struct filter_opts fo = { .fanotify = l.use_fan && !l.fan_execs_only,
					  .ebpf = l.bpf != NULL,
					  .all_syscalls = o->syscalls,
					  .notify = l.use_notify };
		if (sc_build_filter(&fo, &prog, err) < 0)
			goto out;
		spec->filter = &prog;
		spec->notify = l.use_notify;
	}
	if (l.use_ptrace) {
		spec->seize = true;
		spec->ptrace_options = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK |
				       PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
				       PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
	}
	if (sandbox_start(spec, &l.sb, err) < 0)
		goto out;
	res->rootless = l.sb.rootless;
	res->used_fanotify = l.use_fan;
	res->used_ptrace = l.use_ptrace;
	res->used_notify = l.use_notify;
	res->used_ebpf = l.bpf != NULL;
	proc_find(&l, l.sb.init_pid, true)->started = true; /* seized running: no startup stop */
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)l.sb.init_pid);
	l.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (l.use_fan && fan_mark(l.fan, l.sb.init_pid, l.fan_execs_only, err) < 0)
		goto out;
	uint64_t start = monotonic_ms();
	/* With steps, the timeout bounds readiness and each step has its own. */
	if (o->timeout_ms && !o->n_steps)
		l.deadline = start + o->timeout_ms;
	for (size_t i = 0; i < o->n_steps; i++)
		memset(&o->step_results[i], 0, sizeof(o->step_results[i]));
	if (sandbox_go(&l.sb, err) < 0)
		goto out;
	if (run_loop(&l, err) < 0)
		goto out;
	res->duration_ms = monotonic_ms() - start;
	res->have_status = l.sb.have_prog_status;
	res->status = l.sb.prog_status;
	rc = 0;
out:
	loop_free(&l);
	free(prog.filter);
	spec->filter = NULL;
	spec->notify = spec->seize = false;
	trace_free(&scratch);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int pty_open(int *master, int *slave, struct perr *err)
{
	/* Non-blocking master: the final drain must not wait on a terminal
	 * whose slave we still hold. */
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
		int e = errno;
		if (m >= 0)
			close(m);
		return perr_set(err, e, "cannot allocate a pseudo-terminal");
	}
	int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		close(m);
		return perr_set(err, errno, "cannot open the pseudo-terminal");
	}
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(s, TIOCSWINSZ, &ws);
	*master = m;
	*slave = s;
	return 0;
}

void run_tracers(const struct run_result *res, const char *out[TRACE_TRACERS_MAX])
{
	int n = 0;
	for (int i = 0; i < TRACE_TRACERS_MAX; i++)
		out[i] = NULL;
	if (res->used_ebpf)
		out[n++] = "ebpf";
	if (res->used_fanotify)
		out[n++] = "fanotify";
	if (res->used_notify)
		out[n++] = "notify";
	else if (res->used_ptrace)
		out[n++] = "ptrace";
}

int run_exit_code(const struct run_result *res)
{
	if (!res->have_status)
		return 1; /* no status: as a failed command */
	if (WIFEXITED(res->status))
		return WEXITSTATUS(res->status);
	return 128 + (WIFSIGNALED(res->status) ? WTERMSIG(res->status) : 0);
}
