#include "cmd/runopts.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>

static const char help[] =
	"usage: pare probe [OPTIONS] REF [--] [CMD [ARG...]]\n\n"
	"Run an image's program in the sandbox (see 'pare run --help') and record\n"
	"every file it touches into a trace (JSON, schema in doc/trace.md).\n"
	"With a terminal and no CMD, or with --shell, it is an interactive session:\n"
	"you get a shell inside the image (a static busybox of ours, not recorded,\n"
	"when the image has none); everything you run is traced until you exit.\n"
	"Without a terminal it runs the entrypoint/cmd to completion or --timeout.\n\n"
	"options:\n"
	"  -o, --output FILE       write the trace to FILE (default trace.json; - = stdout)\n"
	"      --tracer MODE       auto (default): as root, the eBPF recorder for the\n"
	"                          one-path calls (stat, open, access, ...; the program\n"
	"                          never waits for it), seccomp user notification for\n"
	"                          execs, renames and 32-bit calls, fanotify for the\n"
	"                          kernel's exec opens; fanotify + notification where\n"
	"                          eBPF cannot load; notification alone rootless;\n"
	"                          ptrace where the kernel lacks notification.\n"
	"                          ebpf: as auto as root, or fail; fanotify | notify |\n"
	"                          ptrace: that one alone; both: fanotify + ptrace\n"
	"      --syscalls          also record every syscall number used (the program\n"
	"                          waits for pare on every syscall: slower)\n"
	"      --seccomp-profile FILE  write a Docker seccomp profile (JSON) allowing the\n"
	"                          syscalls the program made, plus the runtime's; implies\n"
	"                          --syscalls\n"
	"      --shell             interactive shell session instead of the entrypoint\n"
	"      --json              print the run summary as JSON on stdout\n" RUN_HELP
	COMMON_HELP;

static int write_trace(const char *out, const char *json, struct perr *err)
{
	if (!strcmp(out, "-"))
		return fputs(json, stdout) < 0 || fputc('\n', stdout) < 0
			       ? perr_set(err, errno, "cannot write the trace to stdout")
			       : 0;
	return write_file_atomic(out, json, err);
}

static void summary(const struct run_cmd *rc, const struct trace *t, const struct run_result *res,
		    const struct confinement *cf, const char *out)
{
	size_t in_image = 0;
	for (size_t i = 0; i < t->n; i++)
		in_image += t->e[i].exists;
	const char *used[TRACE_TRACERS_MAX];
	run_tracers(res, used);
	char mode[64] = "";
	for (int i = 0; i < TRACE_TRACERS_MAX && used[i]; i++)
		snprintf(mode + strlen(mode), sizeof(mode) - strlen(mode), "%s%s", i ? "+" : "", used[i]);
	if (rc->co.json) {
		json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:s,s:b,s:b,s:b}", "trace", out, "paths",
				      (json_int_t)t->n, "in_image", (json_int_t)in_image, "execs",
				      (json_int_t)t->n_execs, "tracers", mode, "rootless",
				      res->rootless, "timed_out", res->timed_out, "lost", t->lost);
		json_object_set_new(j, "exit_code", json_integer(run_exit_code(res)));
		json_object_set_new(j, "sandbox", confine_json(cf));
		json_dumpf(j, stdout, JSON_INDENT(1));
		fputc('\n', stdout);
		json_decref(j);
		return;
	}
	fprintf(stderr, "pare: probe: %zu paths (%zu in the image), %zu execs, %s%s, %llu ms, "
			"exit %d%s -> %s\n",
		t->n, in_image, t->n_execs, mode, res->rootless ? " (rootless)" : "",
		(unsigned long long)res->duration_ms, run_exit_code(res),
		res->timed_out ? " (timed out)" : "", out);
}

int cmd_probe(int argc, char **argv)
{
	static const struct option extra[] = {
		RUN_LONGOPTS,
		{ "output", required_argument, NULL, 'o' },
		{ "tracer", required_argument, NULL, OPT_TRACER },
		{ "syscalls", no_argument, NULL, OPT_SYSCALLS },
		{ "seccomp-profile", required_argument, NULL, OPT_SECCOMP_PROFILE },
		{ "shell", no_argument, NULL, OPT_SHELL },
		{ "json", no_argument, NULL, OPT_JSON_SUMMARY },
		{ 0 },
	};
	struct run_cmd rc;
	struct prepared p;
	struct run_result res;
	struct trace t;
	struct perr err = { 0 };
	static const struct cmd_spec spec = { "probe", help, extra, run_cmd_opt, ARGS_IMAGE_COMMAND, 1,
					      "an image", false };
	run_cmd_init(&rc);
	int r = run_cmd_parse(&spec, argc, argv, &rc, &rc);
	if (r >= 0)
		return r;
	if (!rc.output)
		rc.output = "trace.json";
	if (!rc.ncmd && !rc.shell && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
		rc.shell = true;
	trace_init(&t);
	r = run_prepare(&rc, &p);
	if (!r)
		r = run_execute(&rc, &p, rc.mode, &t, &res);
	if (!r) {
		trace_check_image(&t, p.s.rootfd);
		struct trace_meta m = {
			.image = p.s.img->ref.text, .argv = (const char *const *)p.s.plan.argv.v,
			.rootless = res.rootless, .timed_out = res.timed_out, .status = res.status,
			.have_status = res.have_status, .duration_ms = res.duration_ms,
			.syscalls = rc.syscalls,
		};
		run_tracers(&res, m.tracers);
		cleanup_free char *json = trace_to_json(&t, &m);
		if (write_trace(rc.output, json, &err) < 0 ||
		    (rc.seccomp_profile && seccomp_profile_write(&t, rc.seccomp_profile, &err) < 0)) {
			r = report(&err);
		} else {
			summary(&rc, &t, &res, &p.confine, rc.output);
			if (t.lost) {
				fprintf(stderr, "pare: probe: the trace is incomplete: %s\n", t.lost_why);
				r = EXIT_FAIL;
			}
		}
	}
	trace_free(&t);
	run_cleanup(&p);
	run_cmd_free(&rc);
	return r;
}
