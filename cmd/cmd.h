/* The command layer: one file per subcommand, the only code that prints. */
#ifndef PARE_CMD_H
#define PARE_CMD_H

#include <getopt.h>

#include "image/image.h"
#include "image/rootfs.h"
#include "image/source.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Options every image-reading command takes. */
struct common_opts {
	struct open_opts open;     /* open.reg: the source side's registry options */
	struct registry_opts dest; /* the destination's (copy, slim) */
	struct registry_opts all, src_only, dest_only; /* as given, merged by parse_args */
	bool json;
};

enum {
	OPT_MAX_BYTES = 1000,
	OPT_MAX_ENTRIES,
	OPT_MAX_PATH,
	OPT_MAX_JSON,
	OPT_MAX_DEPTH,
	OPT_PLATFORM,
	OPT_MAX_EXPANSION,
	OPT_CREDS, OPT_AUTHFILE, OPT_CERT_DIR, OPT_TLS_VERIFY,
	OPT_SRC_CREDS, OPT_SRC_AUTHFILE, OPT_SRC_CERT_DIR, OPT_SRC_TLS_VERIFY,
	OPT_DEST_CREDS, OPT_DEST_AUTHFILE, OPT_DEST_CERT_DIR, OPT_DEST_TLS_VERIFY,
	OPT_COMPRESS = 1500, /* copy, slim */
	OPT_JOBS = 'j',      /* copy, slim */
};

#define COMMON_LONGOPTS                                              \
	{ "help", no_argument, NULL, 'h' },                          \
	{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },     \
	{ "max-entries", required_argument, NULL, OPT_MAX_ENTRIES }, \
	{ "max-path", required_argument, NULL, OPT_MAX_PATH },       \
	{ "max-json", required_argument, NULL, OPT_MAX_JSON },       \
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },     \
	{ "max-expansion", required_argument, NULL, OPT_MAX_EXPANSION }, \
	{ "platform", required_argument, NULL, OPT_PLATFORM },      \
	{ "creds", required_argument, NULL, OPT_CREDS },             \
	{ "authfile", required_argument, NULL, OPT_AUTHFILE },       \
	{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },       \
	{ "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY }

/* skopeo copy's one-side overrides: copy and slim (cmd_spec.two_sides). */
#define SIDE_LONGOPTS                                                  \
	{ "src-creds", required_argument, NULL, OPT_SRC_CREDS },         \
	{ "src-authfile", required_argument, NULL, OPT_SRC_AUTHFILE },   \
	{ "src-cert-dir", required_argument, NULL, OPT_SRC_CERT_DIR },   \
	{ "src-tls-verify", optional_argument, NULL, OPT_SRC_TLS_VERIFY }, \
	{ "dest-creds", required_argument, NULL, OPT_DEST_CREDS },       \
	{ "dest-authfile", required_argument, NULL, OPT_DEST_AUTHFILE }, \
	{ "dest-cert-dir", required_argument, NULL, OPT_DEST_CERT_DIR }, \
	{ "dest-tls-verify", optional_argument, NULL, OPT_DEST_TLS_VERIFY }

#define SIDE_HELP                                                                              \
	"      --src-creds, --src-authfile, --src-cert-dir, --src-tls-verify[=BOOL]\n"            \
	"      --dest-creds, --dest-authfile, --dest-cert-dir, --dest-tls-verify[=BOOL]\n"        \
	"                          the same for one side only (they win over the above)\n"

#define REGISTRY_HELP                                                                            \
	"registries (docker://HOST[:PORT]/REPO[:TAG|@DIGEST]):\n"                                 \
	"      --creds USER[:PASS]  credentials (else --authfile, $REGISTRY_AUTH_FILE,\n"        \
	"                          $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)\n" \
	"      --authfile FILE     an auth.json / docker config.json (its \"auths\")\n"           \
	"      --cert-dir DIR      *.crt: CAs added to the system's; *.cert + *.key: a client\n"  \
	"                          certificate (default /etc/containers/certs.d/HOST if present)\n" \
	"      --tls-verify[=false]  verify TLS (default true); false also allows plain http\n"
#define COMMON_HELP                                                                    \
	"      --platform OS/ARCH[/VARIANT]  image of an index to use (default linux/amd64)\n" \
	"      --max-bytes SIZE    total uncompressed layer bytes (default 64G)\n"          \
	"      --max-expansion N   a compressed layer may expand to N times its size, or 1G,\n" \
	"                          whichever is more (default 200; 0 = no limit)\n"        \
	"      --max-entries N     total tar entries (default 10000000)\n"                  \
	"      --max-path N        bytes in one path (default 4096)\n"                      \
	"      --max-json SIZE     bytes in one JSON document (default 16M)\n"              \
	"      --max-depth N       JSON nesting (default 64)\n"                             \
	REGISTRY_HELP                                                                  \
	"  -h, --help              show this help\n"

void common_init(struct common_opts *co);
/* Handle a shared option; returns 0 when handled, 1 when not ours, -1 on
 * a bad value (already reported). */
int common_opt(struct common_opts *co, int c, const char *arg);

/* How a command's words after its options are read. */
enum args_style {
	/* GNU: options before or after the arguments; "--" ends them. */
	ARGS_PERMUTE,
	/* docker run: options, then REF, then the command (a "--" right after
	 * REF is skipped): `pare probe -o t.json IMG -- perl -e 1`. */
	ARGS_IMAGE_COMMAND,
	/* pare slim: options anywhere around REF; a command goes after "--". */
	ARGS_PERMUTE_COMMAND,
};

/* A command's option grammar: shared options, --help (prints HELP), and
 * those in OPTS, handled by ON_OPT(CTX, c, value): 0 handled, 1 not ours,
 * -1 a bad value (already reported). A printable `val` is also the short
 * form. NARGS positional arguments must remain (at least -NARGS when
 * negative). */
struct cmd_spec {
	const char *name; /* "slim", "profile check": for messages */
	const char *help;
	const struct option *opts;
	int (*on_opt)(void *ctx, int c, const char *arg);
	enum args_style style;
	int nargs;
	const char *args_desc; /* "REF and DIR" */
	bool two_sides;        /* a source and a destination: --src-*, --dest-* */
};

/* The words left: positional arguments and, for the *_COMMAND styles, the
 * command (pointers into argv). */
struct args {
	char **v;
	size_t n;
	char **cmd;
	size_t ncmd;
};
void args_free(struct args *a);
#define cleanup_args __attribute__((cleanup(args_free)))

/* Returns -1 to go on, or the exit code to return (0 after --help). */
int parse_args(const struct cmd_spec *spec, int argc, char **argv, struct common_opts *co,
	       void *ctx, struct args *out);
/* Parse reference TEXT and open the image; reports its own errors.
 * Returns 0, or EXIT_FAIL. */
int open_image(const char *text, const struct common_opts *co, struct image **img);

/* IMG's tree from the cache (or a temporary one with NO_CACHE), evicting
 * past CACHE_MAX (CACHE_MAX_UNSET: $PARE_CACHE_MAX or the default), and
 * *ROOTFD on it (O_PATH); reports its own errors. 0, or EXIT_FAIL. */
int open_rootfs(struct image *img, const struct common_opts *co, bool no_cache, uint64_t cache_max,
		struct rootfs *rfs, int *rootfd);

#define COMPRESS_HELP                                                                       \
	"      --compress KIND[:LEVEL]  layer compression for oci: outputs: gzip (default),\n" \
	"                          zstd or none; LEVEL is 1-9 for gzip, 1-19 for zstd.\n"        \
	"                          docker-archive and docker-daemon layers are always\n"       \
	"                          uncompressed, as docker writes them. Docker 20.10 and\n"    \
	"                          umoci 0.4 cannot read zstd layers; skopeo, podman and pare can\n"
#define JOBS_HELP                                                                           \
	"  -j, --jobs N            threads that deflate a gzip layer (default: one per core,\n"   \
	"                          at most 16); the layer's bytes, and so its digest, are the\n" \
	"                          same for any N\n"
/* --jobs's value into *OUT; -1 after reporting. */
int jobs_opt(const char *arg, int *out);
/* --compress's value into *OUT; -1 after reporting. */
int compress_opt(const char *arg, struct compress_spec *out);
/* A compression DST can hold (docker's formats hold none); EXIT_USAGE
 * after reporting, else 0. */
int compress_fits(const char *cmd, const struct compress_spec *c, const struct imgref *dst);

/* Report an error: "pare: <msg>" on stderr. Returns EXIT_FAIL. */
int report(const struct perr *err);
/* Report a usage error with a hint. Returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress on a terminal: "CMD: layer I/N" rewritten in place. */
void progress_layer(void *ctx, size_t idx, size_t n);
/* On a terminal: "pull 0123456789ab: 12.0 MB / 40.1 MB (29%)", ten times a
 * second at most, cleared when the blob is done (registry_opts.on_bytes). */
void progress_bytes(void *ctx, const char *verb, const char *digest, uint64_t done, uint64_t total);
void warn_print(void *ctx, const char *msg);
/* On a terminal: "CTX: waiting for port N to accept (S s)", cleared at 0. */
void progress_wait(void *ctx, unsigned port, uint64_t waited_ms);


/* A command with subcommands (pare profile list, pare cache prune): run
 * the one argv[1] names, or print HELP. */
struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
};
int run_subcommand(const char *group, const char *help, const struct subcommand *v, size_t n, int argc,
		   char **argv);

int cmd_inspect(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_slim(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/* pare slim's pieces, for pare fleet (cmd/fleet.c), which reads each
 * image's "slim" list with the same parser. */
struct slim_cmd;
struct slim;
struct slim_opts;
struct probe_result;
struct slim_cmd *slim_cmd_parse(int argc, char **argv, int *rc);
void slim_cmd_free(struct slim_cmd *c);
const char *slim_cmd_ref(const struct slim_cmd *c);
const struct slim_opts *slim_cmd_opts(const struct slim_cmd *c);
const struct common_opts *slim_cmd_common(const struct slim_cmd *c);
bool slim_cmd_no_cache(const struct slim_cmd *c);
bool slim_cmd_names_output(const struct slim_cmd *c); /* -o given: IMG may be NULL below */
/* Its -o, else the default next to IMG. 0 or an exit code. */
int slim_cmd_output(const struct slim_cmd *c, const struct image *img, struct imgref *dst, char **text);
/* The slim; with CLOSED, it stops at the closed keep-set and hands it
 * there (slim_host.closed). An exit code. */
int slim_cmd_run(struct slim_cmd *c, int (*closed)(void *ctx, struct slim *sl, struct perr *err), void *ctx);
/* Its probes against DST_TEXT, compared with WAS (N of them, as the map
 * step found them on the original). An exit code. */
int slim_cmd_verify(struct slim_cmd *c, const struct probe_result *was, size_t n, const char *dst_text);

#endif
