/* pare cache list|prune: the unpacked trees run, probe and slim keep. */
#include "cmd/cmd.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

static const char help[] =
	"usage: pare cache COMMAND [OPTIONS]\n\n"
	"run, probe and slim unpack each image once into a cache ($PARE_CACHE_DIR,\n"
	"else /var/cache/pare as root, else ~/.cache/pare) and reuse the tree. After\n"
	"each new unpack the least recently used trees are removed until the cache\n"
	"holds at most --cache-max (default $PARE_CACHE_MAX, else 10G). A tree in use\n"
	"by a running pare is never removed.\n\n"
	"commands:\n"
	"  list [--json]                  the trees, least recently used first\n"
	"  prune [--all | --older-than DURATION | --max-size SIZE] [--json]\n"
	"                                 remove trees not in use: all of them, those\n"
	"                                 unused for DURATION (90s, 30m, 12h, 7d, 2w),\n"
	"                                 or the oldest until the rest fit in SIZE\n";

enum { OPT_ALL = 1400, OPT_OLDER_THAN, OPT_MAX_SIZE, OPT_JSON };

struct cache_cmd {
	struct common_opts co;
	struct prune_opts prune;
	bool rule_given;
	struct args a;
};

/* "90s", "30m", "12h", "7d", "2w" (docker's prune filters use such). */
static int parse_duration(const char *s, int64_t *secs)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
	size_t n = strlen(s);
	if (n < 2)
		return -1;
	cleanup_free char *num = strndup(s, n - 1);
	uint64_t v;
	if (parse_u64(num, &v) < 0 || v > (uint64_t)INT32_MAX)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (s[n - 1] == units[i].unit) {
			*secs = (int64_t)v * units[i].secs;
			return 0;
		}
	return -1;
}

static int cache_opt(void *ctx, int c, const char *arg)
{
	struct cache_cmd *cc = ctx;
	switch (c) {
	case OPT_JSON:
		cc->co.json = true;
		return 0;
	case OPT_ALL:
		cc->prune.all = cc->rule_given = true;
		return 0;
	case OPT_OLDER_THAN:
		cc->rule_given = true;
		if (parse_duration(arg, &cc->prune.older_than) < 0 || !cc->prune.older_than) {
			fprintf(stderr, "pare: invalid --older-than '%s': a duration such as 90s, 30m, 12h, 7d, 2w\n", arg);
			return -1;
		}
		return 0;
	case OPT_MAX_SIZE:
		cc->rule_given = true;
		if (parse_size(arg, &cc->prune.max_bytes) < 0) {
			fprintf(stderr, "pare: invalid --max-size '%s': a size such as 500M or 20G\n", arg);
			return -1;
		}
		return 0;
	default:
		return 1;
	}
}

static const struct option opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "older-than", required_argument, NULL, OPT_OLDER_THAN },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ 0 },
};

static const char *ago(int64_t t, char *buf, size_t sz)
{
	int64_t d = (int64_t)time(NULL) - t;
	if (d < 120)
		snprintf(buf, sz, "%llds ago", (long long)(d < 0 ? 0 : d));
	else if (d < 7200)
		snprintf(buf, sz, "%lldm ago", (long long)d / 60);
	else if (d < 172800)
		snprintf(buf, sz, "%lldh ago", (long long)d / 3600);
	else
		snprintf(buf, sz, "%lldd ago", (long long)d / 86400);
	return buf;
}

static int cache_dir_or_fail(char **dir)
{
	*dir = rootfs_default_cache();
	if (!*dir)
		fprintf(stderr, "pare: no cache directory: set PARE_CACHE_DIR or HOME\n");
	return *dir ? 0 : EXIT_FAIL;
}

static int cmd_list(int argc, char **argv)
{
	struct cache_cmd cc = { 0 };
	static const struct cmd_spec spec = { "cache list", help, opts, cache_opt, ARGS_PERMUTE, 0,
					      "no arguments", false };
	int r = parse_args(&spec, argc, argv, &cc.co, &cc, &cc.a);
	args_free(&cc.a); /* no arguments to keep */
	if (r >= 0)
		return r;
	cleanup_free char *dir = NULL;
	if ((r = cache_dir_or_fail(&dir)))
		return r;
	struct perr err;
	struct cache_entry *v;
	size_t n;
	if (cache_list(dir, &v, &n, &err) < 0)
		return report(&err);
	uint64_t total = 0;
	json_t *ja = cc.co.json ? json_array() : NULL;
	if (!ja)
		printf("%-12s  %9s  %-9s  %-6s  %s\n", "TREE", "SIZE", "LAST USED", "IN USE", "IMAGE");
	for (size_t i = 0; i < n; i++) {
		char sz[32], when[32];
		total += v[i].bytes;
		if (ja) {
			json_array_append_new(ja, json_pack("{s:s,s:s,s:s?,s:I,s:I,s:b,s:b}", "tree", v[i].name,
							    "config_digest", v[i].hex, "image", v[i].image,
							    "bytes", (json_int_t)v[i].bytes, "last_used",
							    (json_int_t)v[i].last_used, "in_use", v[i].in_use,
							    "partial", v[i].partial));
			continue;
		}
		printf("%-12.12s  %9s  %-9s  %-6s  %s%s\n", v[i].hex, human_size(v[i].bytes, sz),
		       ago(v[i].last_used, when, sizeof(when)), v[i].in_use ? "yes" : "no",
		       v[i].partial ? "(partial unpack) " : "", v[i].image ? v[i].image : "-");
	}
	if (ja) {
		json_t *doc = json_pack("{s:s,s:o,s:I}", "cache", dir, "trees", ja, "bytes", (json_int_t)total);
		json_dumpf(doc, stdout, JSON_INDENT(1));
		putchar('\n');
		json_decref(doc);
	} else {
		char sz[32];
		fprintf(stderr, "pare: cache: %zu tree%s, %s in %s\n", n, n == 1 ? "" : "s",
			human_size(total, sz), dir);
	}
	cache_entries_free(v, n);
	return 0;
}

static int cmd_prune(int argc, char **argv)
{
	struct cache_cmd cc = { 0 };
	static const struct cmd_spec spec = { "cache prune", help, opts, cache_opt, ARGS_PERMUTE, 0,
					      "no arguments", false };
	int r = parse_args(&spec, argc, argv, &cc.co, &cc, &cc.a);
	args_free(&cc.a); /* no arguments to keep */
	if (r >= 0)
		return r;
	if (!cc.rule_given)
		return usage_error("cache prune", "say what to remove: --all, --older-than DURATION or --max-size SIZE");
	cleanup_free char *dir = NULL;
	if ((r = cache_dir_or_fail(&dir)))
		return r;
	struct perr err;
	struct prune_result res;
	if (cache_prune(dir, &cc.prune, &res, &err) < 0)
		return report(&err);
	char freed[32], kept[32];
	if (cc.co.json) {
		json_t *doc = json_pack("{s:I,s:I,s:I,s:I}", "removed", (json_int_t)res.removed, "freed_bytes",
					(json_int_t)res.freed, "in_use", (json_int_t)res.in_use, "kept_bytes",
					(json_int_t)res.kept_bytes);
		json_dumpf(doc, stdout, JSON_INDENT(1));
		putchar('\n');
		json_decref(doc);
	} else {
		fprintf(stderr, "pare: cache prune: removed %zu tree%s (%s); %zu in use kept; %s left\n",
			res.removed, res.removed == 1 ? "" : "s", human_size(res.freed, freed), res.in_use,
			human_size(res.kept_bytes, kept));
	}
	return 0;
}

int cmd_cache(int argc, char **argv)
{
	static const struct subcommand subcommands[] = { { "list", cmd_list }, { "ls", cmd_list },
							 { "prune", cmd_prune } };
	return run_subcommand("cache", help, subcommands, ARRAY_SIZE(subcommands), argc, argv);
}
