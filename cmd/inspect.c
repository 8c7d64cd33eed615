#include "cmd/cmd.h"
#include "image/ops.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
	"usage: pare inspect [OPTIONS] REF\n\n"
	"Show an image's config (entrypoint, cmd, env, user, workdir, ports,\n"
	"volumes, labels, stop signal), platform, layers (digest, compressed and\n"
	"uncompressed size, file count), total size, the 20 largest files,\n"
	"setuid/setgid files and whiteouts. Every layer is read and verified.\n\n"
	"options:\n"
	"      --json              machine-readable output on stdout\n" COMMON_HELP;

static json_t *strv_json(const struct strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

static json_t *files_json(const struct file_info *f, size_t n, bool with_size)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:I}", "path", f[i].path, "layer", (json_int_t)f[i].layer + 1);
		if (with_size) {
			json_object_set_new(o, "size", json_integer((json_int_t)f[i].size));
			json_object_set_new(o, "mode", json_integer(f[i].mode & 07777));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *config_json(const struct image *img)
{
	const struct image_config *c = &img->config;
	json_t *labels = json_object();
	for (size_t i = 0; i < c->label_keys.n; i++)
		json_object_set_new(labels, c->label_keys.v[i], json_string(c->label_values.v[i]));
	json_t *o = json_pack("{s:o, s:o, s:o, s:s?, s:s?, s:o, s:o, s:o, s:s?}",
			      "entrypoint", strv_json(&c->entrypoint), "cmd", strv_json(&c->cmd),
			      "env", strv_json(&c->env), "user", c->user, "workdir", c->workdir,
			      "exposed_ports", strv_json(&c->exposed_ports), "volumes",
			      strv_json(&c->volumes), "labels", labels, "stop_signal", c->stop_signal);
	return o;
}

static void print_json(const struct image *img, const struct inspect_result *r)
{
	json_t *layers = json_array();
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		const struct descriptor *d = &img->manifest.layers[i];
		json_array_append_new(layers, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
			"digest", d->digest, "diff_id", img->config.diff_ids.v[i], "media_type",
			d->media_type, "size", (json_int_t)d->size, "uncompressed_size",
			(json_int_t)r->layers[i].uncompressed, "files", (json_int_t)r->layers[i].files,
			"whiteouts", (json_int_t)r->layers[i].whiteouts));
	}
	const struct platform *p = &img->config.platform;
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:{s:s, s:s, s:s?}, s:o, s:o, s:I, s:I, s:o, s:o, s:o}",
		"reference", img->ref.text, "transport", transport_name(img->ref.transport),
		"config_digest", img->config_digest, "manifest_digest", img->manifest_digest[0] ? img->manifest_digest : NULL,
		"index_digest", img->index_digest[0] ? img->index_digest : NULL, "platform", "os", p->os, "architecture", p->arch,
		"variant", p->variant, "config", config_json(img), "layers", layers,
		"size", (json_int_t)r->total_compressed, "uncompressed_size",
		(json_int_t)r->total_uncompressed, "largest_files", files_json(r->top, r->ntop, true),
		"setid_files", files_json(r->setid, r->nsetid, true), "whiteouts",
		files_json(r->whiteouts, r->nwhiteouts, false));
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(doc);
}

static void print_list(const char *label, const struct strv *v)
{
	printf("%-13s", label);
	for (size_t i = 0; i < v->n; i++)
		printf("%s%s", i ? " " : "", v->v[i]);
	printf("%s\n", v->n ? "" : "-");
}

/* A command as docker prints it ({{json .Config.Cmd}}): each argument
 * quoted, so ["UTC","hello pare"] is not mistaken for three words. */
static void print_command(const char *label, const struct strv *v)
{
	if (!v->n) {
		printf("%-13s-\n", label);
		return;
	}
	json_t *a = strv_json(v);
	char *text = json_dumps(a, JSON_COMPACT);
	printf("%-13s%s\n", label, text);
	free(text);
	json_decref(a);
}

static void print_config(const struct image *img)
{
	const struct image_config *c = &img->config;
	printf("Image:       %s\n", img->ref.text);
	if (img->index_digest[0])
		printf("Index:       %s\n", img->index_digest);
	if (img->manifest_digest[0])
		printf("Manifest:    %s\n", img->manifest_digest);
	printf("Config:      %s\nPlatform:    %s/%s%s%s\n", img->config_digest, c->platform.os, c->platform.arch, c->platform.variant ? "/" : "",
	       c->platform.variant ? c->platform.variant : "");
	print_command("Entrypoint:", &c->entrypoint);
	print_command("Cmd:", &c->cmd);
	printf("User:        %s\nWorkdir:     %s\n", c->user && *c->user ? c->user : "-",
	       c->workdir && *c->workdir ? c->workdir : "-");
	print_list("Ports:", &c->exposed_ports);
	print_list("Volumes:", &c->volumes);
	printf("StopSignal:  %s\n", c->stop_signal ? c->stop_signal : "-");
	printf("Env:\n");
	for (size_t i = 0; i < c->env.n; i++)
		printf("  %s\n", c->env.v[i]);
	printf("Labels:%s\n", c->label_keys.n ? "" : "      -");
	for (size_t i = 0; i < c->label_keys.n; i++)
		printf("  %s=%s\n", c->label_keys.v[i], c->label_values.v[i]);
}

static void print_human(const struct image *img, const struct inspect_result *r)
{
	char a[32], b[32];
	print_config(img);
	printf("\nLayers:\n");
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		const struct descriptor *d = &img->manifest.layers[i];
		printf("  %zu  %.19s  %9s  %9s uncompressed  %6llu files  (%s)\n", i + 1, d->digest,
		       human_size((uint64_t)d->size, a), human_size(r->layers[i].uncompressed, b),
		       (unsigned long long)r->layers[i].files,
		       compression_name(image_layer_compression(img, i)));
	}
	printf("Total:       %s (%s uncompressed)\n", human_size(r->total_compressed, a),
	       human_size(r->total_uncompressed, b));
	printf("\nLargest files:\n");
	for (size_t i = 0; i < r->ntop; i++)
		printf("  %9s  /%s\n", human_size(r->top[i].size, a), r->top[i].path);
	printf("\nSetuid/setgid files:%s\n", r->nsetid ? "" : " none");
	for (size_t i = 0; i < r->nsetid; i++)
		printf("  %04o  /%s\n", r->setid[i].mode & 07777, r->setid[i].path);
	printf("\nWhiteouts:%s\n", r->nwhiteouts ? "" : " none");
	for (size_t i = 0; i < r->nwhiteouts; i++)
		printf("  layer %zu  /%s\n", r->whiteouts[i].layer + 1, r->whiteouts[i].path);
}

static int inspect_opt(void *ctx, int c, const char *arg)
{
	struct common_opts *co = ctx;
	(void)arg;
	if (c != 'j')
		return 1;
	co->json = true;
	return 0;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option extra[] = { { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
	struct common_opts co;
	struct perr err = { 0 };
	struct inspect_result res;
	cleanup_image struct image *img = NULL;
	static const struct cmd_spec spec = { "inspect", help, extra, inspect_opt, ARGS_PERMUTE, 1,
					      "one image reference", false };
	cleanup_args struct args a;
	int r = parse_args(&spec, argc, argv, &co, &co, &a);
	if (r >= 0)
		return r;
	if (open_image(a.v[0], &co, &img))
		return EXIT_FAIL;
	struct progress p = { progress_layer, "inspect" };
	if (image_inspect(img, &p, &res, &err) < 0) {
		inspect_result_free(&res);
		perr_wrap(&err, "%s", img->ref.text);
		return report(&err);
	}
	if (co.json)
		print_json(img, &res);
	else
		print_human(img, &res);
	inspect_result_free(&res);
	return EXIT_OK;
}
