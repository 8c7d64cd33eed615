/* Options and steps shared by `pare run` and `pare probe`. */
#ifndef PARE_RUNOPTS_H
#define PARE_RUNOPTS_H

#include <jansson.h>
#include <sys/wait.h>
#include <termios.h>

#include "image/rootfs.h"
#include "tracer/run_plan.h"
#include "tracer/seccomp_record.h"
#include "tracer/tracer.h"
#include "tracer/session.h"
#include "cmd/cmd.h"

enum {
	OPT_ENTRYPOINT = 1100,
	OPT_HOSTNAME,
	OPT_NETWORK,
	OPT_TIMEOUT,
	OPT_STOP_TIMEOUT,
	OPT_NO_CACHE,
	OPT_SHELL,
	OPT_TRACER,
	OPT_SYSCALLS,
	OPT_JSON_SUMMARY,
	OPT_SECCOMP_PROFILE,
	OPT_CACHE_MAX,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_SECURITY_OPT,
	OPT_PIDS_LIMIT,
	OPT_TMPFS,
	OPT_ENV_FILE,
};

#define RUN_LONGOPTS                                                      \
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },        \
	{ "env", required_argument, NULL, 'e' },                          \
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },            \
	{ "volume", required_argument, NULL, 'v' },                       \
	{ "tmpfs", required_argument, NULL, OPT_TMPFS },                  \
	{ "workdir", required_argument, NULL, 'w' },                      \
	{ "user", required_argument, NULL, 'u' },                         \
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },            \
	{ "network", required_argument, NULL, OPT_NETWORK },              \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },              \
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },    \
	{ "interactive", no_argument, NULL, 'i' },                        \
	{ "tty", no_argument, NULL, 't' },                                \
	{ "no-cache", no_argument, NULL, OPT_NO_CACHE },                  \
	{ "cache-max", required_argument, NULL, OPT_CACHE_MAX },          \
	{ "cap-add", required_argument, NULL, OPT_CAP_ADD },              \
	{ "cap-drop", required_argument, NULL, OPT_CAP_DROP },            \
	{ "security-opt", required_argument, NULL, OPT_SECURITY_OPT },    \
	{ "pids-limit", required_argument, NULL, OPT_PIDS_LIMIT },        \
	{ "memory", required_argument, NULL, 'm' }

#define RUN_HELP                                                                          \
	"      --entrypoint CMD    replace the image's entrypoint (\"\" clears it)\n"           \
	"  -e, --env KEY=VALUE     set an environment variable (KEY alone: take ours)\n"      \
	"  -w, --workdir DIR       working directory inside the image\n"                       \
	"  -u, --user USER[:GROUP] name or uid, looked up in the image's /etc/passwd\n"        \
	"      --env-file FILE     -e for each line (KEY=VALUE or KEY; '#' comments), as docker\n" \
	"  -v, --volume HOST:PATH[:ro|rw]  mount the host directory or file HOST (absolute or\n" \
	"                          ./relative) at PATH. Writable directories get a fresh layer\n" \
	"                          of their own each run: every run starts from HOST's content\n" \
	"                          and HOST is never written. Files are read-only. What a\n"   \
	"                          volume holds is never kept in a slim image\n"             \
	"      --tmpfs PATH        an empty tmpfs at PATH (1777, nosuid, nodev, noexec)\n"    \
	"      --hostname NAME     hostname inside the sandbox (default pare)\n"               \
	"      --network none|host a private network with loopback only (default), or the\n" \
	"                          host's\n"                                                 \
	"      --timeout SECS      send the image's stop signal after SECS\n"                  \
	"      --stop-timeout SECS then SIGKILL after SECS more (default 10)\n"                 \
	"  -i, --interactive       pass our standard input to the program\n"                   \
	"  -t, --tty               give the program a terminal\n"                              \
	"      --no-cache          unpack to a temporary directory instead of the cache\n"     \
	"                          ($PARE_CACHE_DIR, /var/cache/pare as root, ~/.cache/pare)\n" \
	"      --cache-max SIZE    after unpacking a new image, remove the least recently\n"     \
	"                          used trees until the cache holds at most SIZE (default\n"    \
	"                          $PARE_CACHE_MAX, else 10G; 0 = no limit). Trees in use\n"   \
	"                          are never removed; see 'pare cache'\n"                     \
	"  The sandbox confines the program as docker does (see 'Sandbox' in README.md):\n"    \
	"      --cap-add CAP       add a capability to docker's default set (ALL: every one)\n" \
	"      --cap-drop CAP      drop one (ALL: every one); names as NET_ADMIN or\n"         \
	"                          CAP_NET_ADMIN\n"                                           \
	"      --security-opt seccomp=unconfined|FILE\n"                                      \
	"                          the seccomp policy: docker's default profile unless\n"      \
	"                          FILE (docker's format) or none; no-new-privileges is\n"    \
	"                          always on\n"                                                \
	"      --pids-limit N      at most N processes and threads (default 4096; -1: none)\n" \
	"  -m, --memory SIZE       at most SIZE of memory, e.g. 512m (default half of RAM;\n" \
	"                          0: none); a cgroup where one can be made, else rlimits\n"

struct run_cmd {
	struct common_opts co;
	struct run_overrides ov;
	struct strv env;
	struct volume_list volumes;  /* -v, --tmpfs: host sides opened as they are read */
	bool net_host, interactive, tty, no_cache, shell, syscalls;
	uint64_t timeout_ms, grace_ms, cache_max;
	enum tracer_mode mode;
	const char *output;
	const char *seccomp_profile; /* write a Docker seccomp profile here */
	struct strv cap_add, cap_drop;
	struct confine_opts confine;
	bool notice_told;            /* the limits' fallback was reported */
	const char *ref;
	char **cmd;
	size_t ncmd;
};

/* A command's session (tracer/session.h) and what only the command
 * needs: the confinement it prepared once and our terminal's mode. */
struct prepared {
	struct session s;
	struct confinement confine;
	bool have_confine;
	struct termios saved;
	bool raw;
};

/* The options run, probe and slim share; CTX is the struct run_cmd. */
int run_cmd_opt(void *ctx, int c, const char *arg);
void run_cmd_init(struct run_cmd *rc);
/* Parse SPEC's options (SPEC->on_opt gets CTX; it falls back to
 * run_cmd_opt) and "REF [CMD...]" into RC. Returns -1 to go on, else an
 * exit code. */
int run_cmd_parse(const struct cmd_spec *spec, int argc, char **argv, void *ctx,
		  struct run_cmd *rc);
void run_cmd_free(struct run_cmd *rc);
/* Open the image, get its rootfs, build the process. 0 or an exit code. */
int run_prepare(struct run_cmd *rc, struct prepared *p);
int run_execute(struct run_cmd *rc, struct prepared *p, enum tracer_mode mode, struct trace *t,
		struct run_result *res);
/* The same with O's mode, HTTP probes and wait_ctx (the step's name for
 * the waiting line) from the caller; the rest of O comes from RC and P. */
int run_execute_with(struct run_cmd *rc, struct prepared *p, struct tracer_opts *o, struct trace *t,
		     struct run_result *res);
void run_cleanup(struct prepared *p);

#endif
