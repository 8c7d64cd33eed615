/* The fleet's layering (slimmer/fleet_plan.c) on hand-made keep records:
 * who shares what, the layer budget, the order, and that no image is
 * given an entry it did not keep. Then a record written and read back. */
#define _GNU_SOURCE
#include "slimmer/fleet_plan.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/unit/tap.h"

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct kr_entry *)a)->path, ((const struct kr_entry *)b)->path);
}

/* A record of NAME with entries SPEC: "path:type:size:mtime[:digestchar]". */
static void make(struct keep_record *r, const char *name, const char *const *spec)
{
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	size_t n = 1;
	while (spec[n - 1])
		n++;
	r->e = xcalloc(n, sizeof(*r->e));
	r->e[0] = (struct kr_entry){ .path = xstrdup(""), .type = 'd', .mode = 040755 };
	r->n = 1;
	for (size_t i = 0; spec[i]; i++) {
		char path[200], type;
		unsigned long long size, mtime;
		char d = 'a';
		sscanf(spec[i], "%199[^:]:%c:%llu:%llu:%c", path, &type, &size, &mtime, &d);
		struct kr_entry *e = &r->e[r->n++];
		*e = (struct kr_entry){ .path = xstrdup(path), .type = type, .size = size, .mtime = (int64_t)mtime,
					.mode = type == 'd' ? 040755 : 0100644 };
		if (type == 'f') {
			snprintf(e->digest, sizeof(e->digest), "sha256:");
			memset(e->digest + 7, d, 64);
		}
	}
	qsort(r->e, r->n, sizeof(*r->e), by_path); /* as records are */
}

static bool layer_has(const struct fleet_plan *p, size_t l, const char *path)
{
	for (size_t k = 0; k < p->layers[l].n_items; k++)
		if (!strcmp(p->items[p->layers[l].items[k]].e->path, path))
			return true;
	return false;
}

/* Every entry an image holds through its layers is one it kept. */
static bool nothing_extra(const struct fleet_plan *p)
{
	for (size_t i = 0; i < p->n_images; i++)
		for (size_t k = 0; k < p->n_of_image[i]; k++) {
			const struct fleet_layer *L = &p->layers[p->of_image[i][k]];
			for (size_t m = 0; m < L->n_items; m++)
				if (!p->items[L->items[m]].in[i])
					return false;
		}
	return true;
}

/* Every entry an image kept is in one of its layers. */
static bool nothing_missing(const struct fleet_plan *p)
{
	for (size_t i = 0; i < p->n_images; i++)
		for (size_t j = 1; j < p->recs[i]->n; j++) {
			size_t it = p->item_of[i][j];
			bool found = false;
			for (size_t k = 0; k < p->n_of_image[i] && !found; k++) {
				const struct fleet_layer *L = &p->layers[p->of_image[i][k]];
				for (size_t m = 0; m < L->n_items && !found; m++)
					found = L->items[m] == it;
			}
			if (!found)
				return false;
		}
	return true;
}

int main(void)
{
	/* Three images on one base: libc in all, python in two, each its app;
	 * /usr's mtime differs by image, as it does when packages are added. */
	static const char *const a[] = { "usr:d:0:100", "usr/lib:d:0:100", "usr/lib/libc.so:f:2000:5",
					 "usr/lib/python3:f:9000:5", "app:d:0:7", "app/a.py:f:10:7:b", NULL };
	static const char *const b[] = { "usr:d:0:200", "usr/lib:d:0:100", "usr/lib/libc.so:f:2000:5",
					 "usr/lib/python3:f:9000:5", "app:d:0:7", "app/a.py:f:10:7:c", NULL };
	static const char *const c[] = { "usr:d:0:300", "usr/lib:d:0:50", "usr/lib/libc.so:f:2000:5",
					 "usr/lib/perl:f:5000:5", NULL };
	struct keep_record r[3];
	make(&r[0], "a", a);
	make(&r[1], "b", b);
	make(&r[2], "c", c);
	const struct keep_record *recs[] = { &r[0], &r[1], &r[2] };
	struct fleet_plan p;
	struct perr err;
	ok(fleet_plan_make(recs, 3, 16, &p, &err) == 0, "a plan for three images");
	ok(p.n_layers == 5, "five layers: all three, a+b, and one each (got %zu)", p.n_layers);
	ok(p.layers[0].n_members == 3 && layer_has(&p, 0, "usr/lib/libc.so") && layer_has(&p, 0, "usr"),
	   "the first layer is the one every image shares, libc and the directories above it in");
	ok(p.layers[1].n_members == 2 && layer_has(&p, 1, "usr/lib/python3") && !p.layers[1].members[2],
	   "then the one a and b share: python");
	ok(layer_has(&p, 2, "app/a.py") || layer_has(&p, 3, "app/a.py"), "each app's file is in its own layer");
	ok(p.n_of_image[0] == 3 && p.of_image[0][0] == 0 && p.of_image[0][1] == 1, "a: shared, a+b, its own, in that order");
	ok(p.n_of_image[2] == 2, "c: shared and its own");
	ok(p.union_bytes == 2000 + 9000 + 10 + 10 + 5000, "the union of the distinct files (%llu)",
	   (unsigned long long)p.union_bytes);
	ok(nothing_extra(&p) && nothing_missing(&p), "every image holds what it kept, nothing more");
	struct fleet_paths fp;
	fleet_layer_paths(&p, 0, &fp);
	int64_t m = 0;
	bool got = fleet_paths_mtime(&fp, "usr", &m);
	ok(fp.paths.n == 3 && got && m == 100, "a shared directory's mtime is the fleet's earliest (got %lld)",
	   (long long)m);
	ok(!fleet_paths_mtime(&fp, "usr/lib/libc.so", &m), "a file keeps its own mtime");
	fleet_paths_free(&fp);
	fleet_plan_free(&p);

	/* A budget of 2 layers: a and b each have three (all, a+b, their
	 * own), so one shared layer stops being shared with them: the one
	 * that rates lower, libc's for all three (3 x 2 KB) against python's
	 * for two (2 x 9 KB). */
	ok(fleet_plan_make(recs, 3, 2, &p, &err) == 0, "a plan with max_layers 2");
	bool within = true;
	for (size_t i = 0; i < 3; i++)
		within &= p.n_of_image[i] <= 2;
	ok(within, "no image has more than 2 layers");
	ok(nothing_extra(&p) && nothing_missing(&p), "and each still holds exactly what it kept");
	ok(p.layers[0].n_members == 2 && layer_has(&p, 0, "usr/lib/python3") && p.n_of_image[2] == 1,
	   "python's layer stays shared by a and b; c is left its own layer alone");
	fleet_plan_free(&p);
	ok(fleet_plan_make(recs, 3, 1, &p, &err) == 0 && p.n_layers == 3 && nothing_extra(&p) && nothing_missing(&p),
	   "max_layers 1: one layer per image, as slimmed one by one");
	fleet_plan_free(&p);
	ok(fleet_plan_make(recs, 3, 0, &p, &err) < 0 && strstr(err.msg, "max_layers"), "max_layers 0 is refused: %s",
	   err.msg);
	fleet_plan_free(&p);

	/* The same records in another order: the same layers, by content. */
	const struct keep_record *rev[] = { &r[2], &r[1], &r[0] };
	struct fleet_plan q;
	ok(fleet_plan_make(recs, 3, 16, &p, &err) == 0 && fleet_plan_make(rev, 3, 16, &q, &err) == 0 &&
	   p.n_layers == q.n_layers && p.layers[0].n_items == q.layers[0].n_items,
	   "records in another order: as many layers, the same shared one");
	fleet_plan_free(&p);
	fleet_plan_free(&q);

	/* A record written and read back. */
	char dir[] = "/tmp/pare-test-fleet-XXXXXX";
	ok(mkdtemp(dir) != NULL, "a temporary directory");
	cleanup_free char *path = xasprintf("%s/a.keep.json", dir);
	r[0].source_ref = xstrdup("oci:x:latest");
	snprintf(r[0].source_config, sizeof(r[0].source_config), "sha256:%064d", 0);
	snprintf(r[0].args_digest, sizeof(r[0].args_digest), "sha256:%064d", 1);
		ok(keep_record_write(&r[0], path, &err) == 0, "a record written");
	struct keep_record back;
	const struct kr_entry *libc = NULL, *usr = NULL;
	if (keep_record_read(path, &back, &err) == 0) {
		libc = keep_record_find(&back, "usr/lib/libc.so");
		usr = keep_record_find(&back, "usr");
	}
	ok(back.n == r[0].n && libc && usr && !strcmp(libc->digest, keep_record_find(&r[0], "usr/lib/libc.so")->digest) &&
	   libc->size == 2000 && usr->mtime == 100 && usr->type == 'd', "and read back the same");
	keep_record_free(&back);
	FILE *f = fopen(path, "w");
	fputs("{\"version\": 1, \"name\": \"a\", \"args\": \"sha256:0\"}", f);
	fclose(f);
	ok(keep_record_read(path, &back, &err) < 0 && strstr(err.msg, path) && strstr(err.msg, "\"args\""),
	   "a bad record is refused, naming the file and the key: %s", err.msg);
	keep_record_free(&back);
	unlink(path);

	/* Entries from a real tree: the same bytes with and without an xattr
	 * a layer carries are two entries. */
	cleanup_free char *fa = xasprintf("%s/a", dir), *fb = xasprintf("%s/b", dir);
	FILE *w = fopen(fa, "w");
	fputs("same", w);
	fclose(w);
	w = fopen(fb, "w");
	fputs("same", w);
	fclose(w);
	if (setxattr(fb, "user.pare", "1", 1, 0) == 0) {
		int rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct strv paths = { 0 };
		strv_push(&paths, xstrdup("a"));
		strv_push(&paths, xstrdup("b"));
		struct keep_record t = { 0 };
		ok(keep_record_entries(rootfd, &paths, &t, &err) == 0 && t.n == 3, "a record of a real tree");
		const struct kr_entry *ea = keep_record_find(&t, "a"), *eb = keep_record_find(&t, "b");
		ok(ea && eb && !strcmp(ea->digest, eb->digest) && !*ea->xattrs && *eb->xattrs,
		   "the same bytes, told apart by the xattr");
		keep_record_free(&t);
		strv_free(&paths);
		close(rootfd);
	} else {
		tap_diag("no user xattrs in %s: the xattr check is skipped", dir);
	}
	unlink(fa);
	unlink(fb);
	rmdir(dir);
	for (size_t i = 0; i < 3; i++)
		keep_record_free(&r[i]);
	return tap_done();
}
