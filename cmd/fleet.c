/* pare fleet slim|probe|build|verify: many images slimmed so that they
 * share layers. The map steps are pare slim's pipeline stopped at the
 * keep-set (slimmer/keeprec.h), the reduce step slimmer/fleet_build.c. */
#define _GNU_SOURCE
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slimmer/fleet.h"
#include "slimmer/slim.h"

static const char help[] =
	"usage: pare fleet COMMAND FLEET.json [OPTIONS]\n\n"
	"Slim many images so that they share layers: a file kept alike by several\n"
	"images (same path, bytes and metadata) goes into a layer shared by exactly\n"
	"those images, stored once by a registry and by each node. FLEET.json:\n"
	"  {\"max_layers\": 16,\n"
	"   \"images\": [{\"name\": \"api\", \"slim\": [\"docker-archive:api.tar\", \"-o\", \"oci:out:api\",\n"
	"                                   \"--http\", \"GET:/\", \"--verify\"]}, ...]}\n"
	"Each \"slim\" is a pare slim argument list (see 'pare slim --help'); with\n"
	"--verify there, the image is verified after the build, against its layers.\n"
	"max_layers (default 16, at most 125) bounds every image's layer count.\n\n"
	"commands:\n"
	"  slim FLEET.json [-j N]        everything: probe each image (N at a time),\n"
	"                                build, verify\n"
	"  probe FLEET.json --only NAME --state DIR\n"
	"                                the map step: one image's probes and keep\n"
	"                                record (DIR/NAME.keep.json)\n"
	"  build FLEET.json --state DIR  the reduce step: every keep record into\n"
	"                                layered images, written to their -o\n"
	"  verify FLEET.json --only NAME --state DIR\n"
	"                                one image's probes against its built image\n\n"
	"options:\n"
	"      --state DIR         the keep records and built layers (slim: a temporary\n"
	"                          directory unless given)\n"
	"      --only NAME         the image to probe or verify\n"
	"      --index N           the same by its place in \"images\", from 0 (a Kubernetes\n"
	"                          Indexed Job's $JOB_COMPLETION_INDEX)\n"
	"  -j, --jobs N            slim: images probed and verified at once (default 1)\n"
	"      --report FILE       slim, build: the fleet's report (JSON): layers, who\n"
	"                          shares them, bytes against one-by-one slims\n"
	"      --json              slim, build: the report on standard output\n"
	"  -h, --help              show this help\n";

enum { OPT_STATE = 1700, OPT_ONLY, OPT_INDEX, OPT_REPORT, OPT_JSON };

struct fleet_cmd {
	struct common_opts co;
	const char *state, *only, *report;
	long index;
	int jobs;
	bool json;
	struct args a;
	struct fleet f;
	const char *file;
};

static int fleet_opt(void *ctx, int c, const char *arg)
{
	struct fleet_cmd *fc = ctx;
	uint64_t v;
	switch (c) {
	case OPT_STATE: fc->state = arg; return 0;
	case OPT_ONLY: fc->only = arg; return 0;
	case OPT_REPORT: fc->report = arg; return 0;
	case OPT_JSON: fc->json = true; return 0;
	case OPT_INDEX:
		if (parse_u64(arg, &v) < 0 || v >= FLEET_MAX_IMAGES) {
			fprintf(stderr, "pare: invalid --index '%s': a place in \"images\", from 0\n", arg);
			return -1;
		}
		fc->index = (long)v;
		return 0;
	case OPT_JOBS: return jobs_opt(arg, &fc->jobs);
	}
	return 1;
}

static const struct option opts[] = {
	{ "state", required_argument, NULL, OPT_STATE }, { "only", required_argument, NULL, OPT_ONLY },
	{ "index", required_argument, NULL, OPT_INDEX }, { "jobs", required_argument, NULL, OPT_JOBS },
	{ "report", required_argument, NULL, OPT_REPORT }, { "json", no_argument, NULL, OPT_JSON },
	{ 0 },
};

/* Options and FLEET.json: -1 to go on, else the exit code. */
static int fleet_parse(const char *name, int argc, char **argv, struct fleet_cmd *fc)
{
	const struct cmd_spec spec = { name, help, opts, fleet_opt, ARGS_PERMUTE, 1, "FLEET.json", false };
	fc->index = -1;
	fc->jobs = 1;
	int r = parse_args(&spec, argc, argv, &fc->co, fc, &fc->a);
	if (r >= 0)
		return r;
	fc->file = fc->a.v[0];
	struct perr err = { 0 };
	if (fleet_read(fc->file, &fc->f, &err) < 0)
		return report(&err);
	return -1;
}

static void fleet_cmd_free(struct fleet_cmd *fc)
{
	fleet_free(&fc->f);
	args_free(&fc->a);
}

/* The one image --only or --index names. */
static int pick_image(const char *cmd, const struct fleet_cmd *fc, size_t *out)
{
	if (!fc->only == (fc->index < 0))
		return usage_error(cmd, "name one image: --only NAME or --index N");
	size_t i = fc->only ? fleet_find(&fc->f, fc->only) : (size_t)fc->index;
	if (i == SIZE_MAX && fc->only)
		return usage_error(cmd, "%s has no image named '%s'", fc->file, fc->only);
	if (i >= fc->f.n)
		return usage_error(cmd, "%s has %zu images: --index %ld is past them", fc->file, fc->f.n, fc->index);
	*out = i;
	return 0;
}

static int need_state(const char *cmd, const struct fleet_cmd *fc)
{
	return fc->state ? 0 : usage_error(cmd, "--state DIR is needed: where the keep records are");
}

/* Image I's slim arguments, parsed as pare slim parses them. */
static struct slim_cmd *parse_image(const struct fleet_cmd *fc, size_t i, int *rc)
{
	const struct fleet_image *im = &fc->f.v[i];
	cleanup_free char **argv = xcalloc(im->args.n + 2, sizeof(char *));
	argv[0] = "slim";
	memcpy(argv + 1, im->args.v, im->args.n * sizeof(char *));
	struct slim_cmd *c = slim_cmd_parse((int)im->args.n + 1, argv, rc);
	if (!c && *rc) {
		fprintf(stderr, "pare: fleet: %s: image %s: its \"slim\" arguments are wrong (above)\n", fc->file,
			im->name);
		return NULL;
	}
	const struct slim_opts *o = c ? slim_cmd_opts(c) : NULL;
	const char *no = o && o->keep_written ? "--keep-written (what the probes wrote is not in the source image)"
			 : o && o->report    ? "--report (the fleet's own --report covers every image)"
					     : NULL;
	if (no) {
		fprintf(stderr, "pare: fleet: %s: image %s: \"slim\" has %s, which a fleet cannot take\n", fc->file,
			im->name, no);
		slim_cmd_free(c);
		*rc = EXIT_USAGE;
		return NULL;
	}
	if (!c) /* --help */
		*rc = EXIT_USAGE;
	return c;
}

/* ---- probe: the map step ---- */

struct probe_ctx {
	const struct fleet_cmd *fc;
	size_t i;
	char *path;
};

static int write_record(void *ctx, struct slim *sl, struct perr *err)
{
	struct probe_ctx *pc = ctx;
	const struct fleet_image *im = &pc->fc->f.v[pc->i];
	const struct image *img = sl->s->img;
	struct keep_record kr = { .name = im->name, .source_ref = img->ref.text,
				  .source_files = sl->w.before_files, .source_bytes = sl->w.before_bytes };
	keep_record_args_digest(im->args.v, im->args.n, kr.args_digest);
	snprintf(kr.source_config, sizeof(kr.source_config), "%.71s", img->config_digest);
	kr.n_layers = img->manifest.n_layers;
	kr.layers = xcalloc(kr.n_layers + 1, sizeof(*kr.layers));
	for (size_t k = 0; k < kr.n_layers; k++) {
		snprintf(kr.layers[k].digest, sizeof(kr.layers[k].digest), "%s", img->manifest.layers[k].digest);
		kr.layers[k].size = img->manifest.layers[k].size;
	}
	int r = keep_record_entries(sl->s->rootfd, &sl->paths, &kr, err);
	keep_record_probes(&kr, sl->results, sl->probes.n);
	if (!r)
		r = keep_record_write(&kr, pc->path, err);
	if (!r)
		fprintf(stderr, "fleet: %s: kept %zu entries, %.1f MB of files: %s\n", im->name, kr.n,
			(double)sl->w.after_bytes / 1e6, pc->path);
	kr.name = kr.source_ref = NULL; /* not ours */
	keep_record_free(&kr);
	return r;
}

static int probe_one(const struct fleet_cmd *fc, size_t i)
{
	struct perr err = { 0 };
	if (mkdir_p(fc->state, 0755, &err) < 0)
		return report(&err);
	int rc = 0;
	struct slim_cmd *c = parse_image(fc, i, &rc);
	if (!c)
		return rc;
	struct probe_ctx pc = { fc, i, fleet_record_path(fc->state, fc->f.v[i].name) };
	rc = slim_cmd_run(c, write_record, &pc);
	free(pc.path);
	slim_cmd_free(c);
	return rc;
}

/* A map step (probe, verify): one image of FLEET.json, with a state. */
static int one_image_step(const char *name, int argc, char **argv, int (*step)(const struct fleet_cmd *, size_t))
{
	struct fleet_cmd fc = { 0 };
	int r = fleet_parse(name, argc, argv, &fc);
	size_t i = 0;
	if (r < 0 && !(r = need_state(name, &fc)) && !(r = pick_image(name, &fc, &i)))
		r = step(&fc, i);
	fleet_cmd_free(&fc);
	return r < 0 ? 0 : r;
}

static int cmd_probe_(int argc, char **argv)
{
	return one_image_step("fleet probe", argc, argv, probe_one);
}

/* ---- build: the reduce step ---- */

struct build_image {
	struct keep_record rec;
	struct slim_cmd *c;
	struct image *img;
	struct rootfs rfs;
	int rootfd;
	struct imgref dst;
	char *dst_text;
};

static int open_record(const struct fleet_cmd *fc, size_t i, struct keep_record *kr)
{
	struct perr err = { 0 };
	cleanup_free char *path = fleet_record_path(fc->state, fc->f.v[i].name);
	if (keep_record_read(path, kr, &err) < 0) {
		report(&err);
		fprintf(stderr, "(Hint: run 'pare fleet probe %s --only %s --state %s' first)\n", fc->file,
			fc->f.v[i].name, fc->state);
		return EXIT_FAIL;
	}
	char want[DIGEST_STR_LEN + 1];
	keep_record_args_digest(fc->f.v[i].args.v, fc->f.v[i].args.n, want);
	if (strcmp(kr->name, fc->f.v[i].name) || strcmp(kr->args_digest, want)) {
		fprintf(stderr, "pare: fleet: %s was made for other \"slim\" arguments than %s has for %s\n"
				"(Hint: run 'pare fleet probe %s --only %s --state %s' again)\n",
			path, fc->file, fc->f.v[i].name, fc->file, fc->f.v[i].name, fc->state);
		return EXIT_FAIL;
	}
	return 0;
}

/* Image I's record, source (the same one it was probed on) and output. */
static int open_build_image(const struct fleet_cmd *fc, size_t i, struct build_image *b)
{
	int rc = open_record(fc, i, &b->rec);
	if (rc || !(b->c = parse_image(fc, i, &rc)))
		return rc ? rc : EXIT_USAGE;
	const struct common_opts *co = slim_cmd_common(b->c);
	if ((rc = open_image(slim_cmd_ref(b->c), co, &b->img)))
		return rc;
	if (strcmp(b->img->config_digest, b->rec.source_config)) {
		fprintf(stderr, "pare: fleet: %s: %s is not the image it was probed on (config %.19s, probed %.19s)\n"
				"(Hint: run 'pare fleet probe %s --only %s --state %s' again)\n",
			fc->f.v[i].name, slim_cmd_ref(b->c), b->img->config_digest, b->rec.source_config, fc->file,
			fc->f.v[i].name, fc->state);
		return EXIT_FAIL;
	}
	if ((rc = open_rootfs(b->img, co, slim_cmd_no_cache(b->c), CACHE_MAX_UNSET, &b->rfs, &b->rootfd)))
		return rc;
	return slim_cmd_output(b->c, b->img, &b->dst, &b->dst_text);
}

static void close_build_image(struct build_image *b)
{
	keep_record_free(&b->rec);
	if (b->rootfd >= 0)
		close(b->rootfd);
	if (b->rfs.path)
		rootfs_release(&b->rfs);
	if (b->img)
		image_close(b->img);
	imgref_free(&b->dst);
	free(b->dst_text);
	if (b->c)
		slim_cmd_free(b->c);
}

static void build_progress(void *ctx, size_t l, size_t n)
{
	(void)ctx;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\rfleet: building layer %zu of %zu...\033[K", l + 1, n);
}

static double mb(json_t *o, const char *path)
{
	json_t *v = o;
	cleanup_free char *copy = xstrdup(path);
	char *save = NULL;
	for (char *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	return (double)json_integer_value(v) / 1e6;
}

static void print_summary(const struct fleet_cmd *fc, const char *text)
{
	json_t *j = json_loads(text, 0, NULL), *v;
	size_t i;
	json_array_foreach(json_object_get(j, "images"), i, v) {
		json_t *layers = json_object_get(v, "layers");
		fprintf(stderr, "fleet: %s: %zu layers, %.1f MB of files (alone, one %.1f MB layer)\n",
			fc->f.v[i].name, json_array_size(layers), mb(v, "kept_file_bytes"),
			mb(v, "one_by_one.uncompressed"));
	}
	json_t *f = json_object_get(j, "fleet");
	fprintf(stderr,
		"fleet: %zu layers for %zu images; a registry stores %.1f MB (%.1f MB compressed), "
		"%.2fx the %.1f MB of distinct kept files; one by one: %.1f MB (%.1f MB compressed), %.2fx; "
		"the originals: %.1f MB compressed\n",
		json_array_size(json_object_get(j, "layers")), fc->f.n, mb(f, "registry.uncompressed"),
		mb(f, "registry.compressed"), json_real_value(json_object_get(json_object_get(f, "ratios"),
									    "registry_uncompressed_to_union")),
		mb(f, "union_of_kept_files"), mb(f, "one_by_one.registry.uncompressed"),
		mb(f, "one_by_one.registry.compressed"),
		json_real_value(json_object_get(json_object_get(f, "ratios"), "one_by_one_to_union")),
		mb(f, "originals.registry.compressed"));
	json_decref(j);
}

static int build_all(const struct fleet_cmd *fc)
{
	size_t n = fc->f.n;
	struct build_image *b = xcalloc(n, sizeof(*b));
	const struct keep_record **recs = xcalloc(n, sizeof(*recs));
	struct fleet_target *t = xcalloc(n, sizeof(*t));
	struct fleet_plan plan = { 0 };
	struct fleet_result res = { 0 };
	struct perr err = { 0 };
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		b[i].rootfd = -1;
	for (size_t i = 0; !rc && i < n; i++) {
		rc = open_build_image(fc, i, &b[i]);
		recs[i] = &b[i].rec;
		t[i] = (struct fleet_target){ fc->f.v[i].name, b[i].img, b[i].rootfd, b[i].dst_text, &b[i].dst,
					      b[i].c ? slim_cmd_opts(b[i].c)->compress : NULL };
	}
	if (!rc && fleet_plan_make(recs, n, fc->f.max_layers, &plan, &err) < 0)
		rc = report(&err);
	if (!rc && fleet_build(&plan, t, fc->state, build_progress, NULL, &res, &err) < 0)
		rc = report(&err);
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	cleanup_free char *text = rc ? NULL : fleet_report_json(&fc->f, &plan, &res);
	cleanup_free char *saved = text ? xasprintf("%s/build.json", fc->state) : NULL;
	if (text && (write_file_atomic(saved, text, &err) < 0 || (fc->report && write_file_atomic(fc->report, text, &err) < 0)))
		rc = report(&err);
	if (text && !rc) {
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "fleet: %s: written to %s\n", fc->f.v[i].name, b[i].dst_text);
		print_summary(fc, text);
		if (fc->json)
			printf("%s\n", text);
	}
	fleet_result_free(&res);
	fleet_plan_free(&plan);
	for (size_t i = 0; i < n; i++)
		close_build_image(&b[i]);
	free(b);
	free(recs);
	free(t);
	return rc;
}

static int cmd_build(int argc, char **argv)
{
	struct fleet_cmd fc = { 0 };
	int r = fleet_parse("fleet build", argc, argv, &fc);
	if (r < 0 && !(r = need_state("fleet build", &fc)))
		r = build_all(&fc);
	fleet_cmd_free(&fc);
	return r < 0 ? 0 : r;
}

/* ---- verify ---- */

static int verify_one(const struct fleet_cmd *fc, size_t i)
{
	struct keep_record kr = { 0 };
	int rc = open_record(fc, i, &kr);
	struct slim_cmd *c = rc ? NULL : parse_image(fc, i, &rc);
	struct image *img = NULL;
	struct imgref dst = { 0 };
	char *dst_text = NULL;
	/* The source only names a default output: a verify job with -o
	 * needs the built image, not the original. */
	if (c && (slim_cmd_names_output(c) || !(rc = open_image(slim_cmd_ref(c), slim_cmd_common(c), &img))))
		rc = slim_cmd_output(c, img, &dst, &dst_text);
	if (c && !rc) {
		struct probe_result *was = xcalloc(kr.n_probes + 1, sizeof(*was));
		for (size_t k = 0; k < kr.n_probes; k++) {
			was[k] = (struct probe_result){ .code = kr.probes[k].code, .ok = kr.probes[k].ok,
							.noise = kr.probes[k].noise };
			memcpy(was[k].digest, kr.probes[k].digest, sizeof(was[k].digest));
		}
		fprintf(stderr, "fleet: %s: verifying %s\n", fc->f.v[i].name, dst_text);
		rc = slim_cmd_verify(c, was, kr.n_probes, dst_text);
		free(was);
	}
	if (img)
		image_close(img);
	imgref_free(&dst);
	free(dst_text);
	if (c)
		slim_cmd_free(c);
	keep_record_free(&kr);
	return rc;
}

static int cmd_verify(int argc, char **argv)
{
	return one_image_step("fleet verify", argc, argv, verify_one);
}

/* ---- slim: all of it ---- */

/* `pare fleet STEP FLEET --index I --state DIR` as a child: each map step
 * in a process of its own, N at a time. */
static pid_t spawn_step(const struct fleet_cmd *fc, const char *step, size_t i)
{
	char index[24];
	snprintf(index, sizeof(index), "%zu", i);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { "pare", "fleet", (char *)step, (char *)fc->file, "--index", index,
				 "--state", (char *)fc->state, NULL };
		execv("/proc/self/exe", argv);
		fprintf(stderr, "pare: fleet: cannot run /proc/self/exe: %s\n", strerror(errno));
		_exit(EXIT_FAIL);
	}
	return pid;
}

/* STEP for every image WANTED says, JOBS at a time; the names of those
 * that failed are told. 0 or EXIT_FAIL. */
static int run_steps(const struct fleet_cmd *fc, const char *step, const bool *wanted)
{
	size_t n = fc->f.n, next = 0, running = 0;
	pid_t *pids = xcalloc(n, sizeof(*pids));
	bool *failed = xcalloc(n, sizeof(*failed));
	int rc = 0;
	for (;;) {
		while (next < n && running < (size_t)(fc->jobs > 0 ? fc->jobs : 1)) {
			if (!wanted || wanted[next]) {
				pids[next] = spawn_step(fc, step, next);
				if (pids[next] < 0)
					failed[next] = true;
				else
					running++;
			}
			next++;
		}
		if (!running)
			break;
		int status;
		pid_t pid = wait(&status);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (pids[i] == pid) {
				pids[i] = 0;
				failed[i] = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
				running--;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (failed[i]) {
			fprintf(stderr, "pare: fleet: %s: %s failed (above)\n", fc->f.v[i].name, step);
			rc = EXIT_FAIL;
		}
	free(pids);
	free(failed);
	return rc;
}

static int slim_all(struct fleet_cmd *fc)
{
	struct perr err = { 0 };
	cleanup_free char *tmp = NULL;
	if (!fc->state) {
		if (!(tmp = make_tempdir("pare-fleet", &err)))
			return report(&err);
		fc->state = tmp;
	}
	int rc = run_steps(fc, "probe", NULL);
	if (!rc)
		rc = build_all(fc);
	bool *verify = xcalloc(fc->f.n, sizeof(*verify));
	bool any = false;
	for (size_t i = 0; !rc && i < fc->f.n; i++) {
		int prc = 0;
		struct slim_cmd *c = parse_image(fc, i, &prc);
		any |= verify[i] = c && slim_cmd_opts(c)->verify;
		if (c)
			slim_cmd_free(c);
	}
	if (!rc && any)
		rc = run_steps(fc, "verify", verify);
	free(verify);
	if (tmp)
		remove_tree_at(AT_FDCWD, tmp, &err);
	return rc;
}

static int cmd_slim_(int argc, char **argv)
{
	struct fleet_cmd fc = { 0 };
	int r = fleet_parse("fleet slim", argc, argv, &fc);
	if (r < 0)
		r = slim_all(&fc);
	fleet_cmd_free(&fc);
	return r;
}

int cmd_fleet(int argc, char **argv)
{
	static const struct subcommand subcommands[] = {
		{ "slim", cmd_slim_ }, { "probe", cmd_probe_ }, { "build", cmd_build }, { "verify", cmd_verify },
	};
	return run_subcommand("fleet", help, subcommands, ARRAY_SIZE(subcommands), argc, argv);
}
