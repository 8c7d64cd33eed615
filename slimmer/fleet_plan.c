/* The fleet's layering (fleet_plan.h). */
#define _GNU_SOURCE
#include "slimmer/fleet_plan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/resolve.h"

/* What makes two images' copies of a path one tar entry. A directory's or
 * symlink's mtime is left out: it records when something was added below
 * it in that image, which differs by image for the same files. */
static void own_key(const struct kr_entry *e, char out[DIGEST_STR_LEN + 1])
{
	char head[200];
	struct sha256 h;
	int64_t mtime = e->type == 'd' || e->type == 'l' ? 0 : e->mtime;
	int n = snprintf(head, sizeof(head), "%c %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRId64
			 " %" PRIu64 " %s %s", e->type, e->mode, e->uid, e->gid, e->size, mtime, e->rdev,
			 e->digest, e->xattrs);
	sha256_init(&h);
	sha256_update(&h, head, (size_t)n + 1);
	sha256_update(&h, e->path, strlen(e->path) + 1);
	if (e->target)
		sha256_update(&h, e->target, strlen(e->target) + 1);
	sha256_final(&h, out);
}

static void chain_key(const char *own, const char *parent, char out[DIGEST_STR_LEN + 1])
{
	char both[2 * DIGEST_STR_LEN + 2];
	int n = snprintf(both, sizeof(both), "%s %s", parent, own);
	sha256_buf(both, (size_t)n, out);
}

static const char *item_key(const void *ctx, size_t i)
{
	return ((const struct fleet_plan *)ctx)->items[i].chain;
}

/* Every entry of image I as an item, new or already seen. */
static void add_image(struct fleet_plan *p, struct strindex *ix, size_t i)
{
	const struct keep_record *r = p->recs[i];
	char (*chains)[DIGEST_STR_LEN + 1] = xcalloc(r->n, sizeof(*chains));
	p->item_of[i] = xcalloc(r->n, sizeof(size_t));
	for (size_t j = 0; j < r->n; j++) {
		const struct kr_entry *e = &r->e[j];
		char own[DIGEST_STR_LEN + 1], parent[4097];
		own_key(e, own);
		p->item_of[i][j] = SIZE_MAX;
		if (!*e->path) { /* the root: every chain starts there, no layer holds it */
			memcpy(chains[j], own, sizeof(own));
			continue;
		}
		split_parent(e->path, parent, sizeof(parent));
		const struct kr_entry *pe = keep_record_find(r, parent);
		chain_key(own, pe ? chains[pe - r->e] : "no parent", chains[j]);
		size_t it = strindex_find(ix, chains[j], item_key, p);
		if (it == SIZE_MAX) {
			p->items = xrealloc(p->items, (p->n_items + 1) * sizeof(*p->items));
			it = p->n_items++;
			p->items[it] = (struct fleet_item){ .e = e, .mtime = e->mtime, .in = xcalloc(p->n_images, 1) };
			memcpy(p->items[it].chain, chains[j], sizeof(chains[j]));
			strindex_put(ix, it, p->n_items, item_key, p);
			if (e->type == 'f')
				p->union_bytes += e->size;
		} else if (e->mtime < p->items[it].mtime) {
			p->items[it].mtime = e->mtime;
		}
		p->items[it].in[i] = 1;
		p->item_of[i][j] = it;
	}
	free(chains);
}

static void layer_add(struct fleet_layer *l, size_t item, const struct fleet_item *it)
{
	if (l->n_items == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
	}
	l->items[l->n_items++] = item;
	l->bytes += it->e->type == 'f' ? it->e->size : 0;
}

static size_t new_layer(struct fleet_plan *p, const unsigned char *members)
{
	p->layers = xrealloc(p->layers, (p->n_layers + 1) * sizeof(*p->layers));
	struct fleet_layer *l = &p->layers[p->n_layers];
	*l = (struct fleet_layer){ .members = xmalloc(p->n_images) };
	memcpy(l->members, members, p->n_images);
	for (size_t i = 0; i < p->n_images; i++)
		l->n_members += members[i];
	return p->n_layers++;
}

/* The layer of exactly MEMBERS, made when missing (a scan: the budget's
 * few calls; grouping every item uses an index). */
static size_t layer_of(struct fleet_plan *p, const unsigned char *members)
{
	for (size_t l = 0; l < p->n_layers; l++)
		if (p->layers[l].n_members && !memcmp(p->layers[l].members, members, p->n_images))
			return l;
	return new_layer(p, members);
}

static size_t own_layer(struct fleet_plan *p, size_t image)
{
	unsigned char *m = xcalloc(p->n_images, 1);
	m[image] = 1;
	size_t l = layer_of(p, m);
	free(m);
	return l;
}

/* Items into the layers of the images holding them. */
static const char *members_key(const void *ctx, size_t i)
{
	return ((char *const *)ctx)[i];
}

static void group(struct fleet_plan *p)
{
	struct strindex ix = { 0 };
	char **keys = NULL; /* per layer: its members as '0's and '1's */
	char *key = xmalloc(p->n_images + 1);
	key[p->n_images] = 0;
	for (size_t it = 0; it < p->n_items; it++) {
		for (size_t i = 0; i < p->n_images; i++)
			key[i] = p->items[it].in[i] ? '1' : '0';
		size_t l = strindex_find(&ix, key, members_key, keys);
		if (l == SIZE_MAX) {
			l = new_layer(p, p->items[it].in);
			keys = xrealloc(keys, (l + 1) * sizeof(*keys));
			keys[l] = xstrdup(key);
			strindex_put(&ix, l, l + 1, members_key, keys);
		}
		layer_add(&p->layers[l], it, &p->items[it]);
	}
	for (size_t l = 0; l < p->n_layers; l++)
		free(keys[l]);
	free(keys);
	free(key);
	strindex_free(&ix);
}

static size_t layers_of(const struct fleet_plan *p, size_t image)
{
	size_t n = 0;
	for (size_t l = 0; l < p->n_layers; l++)
		n += p->layers[l].n_members && p->layers[l].members[image];
	return n;
}

/* Move every item of layer FROM into layer TO (FROM is emptied). */
static void move_items(struct fleet_plan *p, size_t from, size_t to)
{
	struct fleet_layer *f = &p->layers[from];
	for (size_t k = 0; k < f->n_items; k++)
		layer_add(&p->layers[to], f->items[k], &p->items[f->items[k]]);
	f->n_items = 0;
	f->bytes = 0;
	f->n_members = 0;
}

/* Stop sharing layer L with IMAGE: its items go into IMAGE's own layer.
 * A set of images that now has two layers (left to one image: its own
 * and this) gets one. */
static void unshare(struct fleet_plan *p, size_t l, size_t image)
{
	size_t mine = own_layer(p, image);
	for (size_t k = 0; k < p->layers[l].n_items; k++)
		layer_add(&p->layers[mine], p->layers[l].items[k], &p->items[p->layers[l].items[k]]);
	p->layers[l].members[image] = 0;
	p->layers[l].n_members--;
	size_t same = SIZE_MAX;
	for (size_t o = 0; o < p->n_layers; o++)
		if (o != l && p->layers[o].n_members && !memcmp(p->layers[o].members, p->layers[l].members, p->n_images))
			same = o;
	/* Left to one image, it is now that image's own (or joins it). */
	if (same != SIZE_MAX)
		move_items(p, l, same);
}

/* Popularity x size: the value of a shared layer (its tar headers count,
 * so that many tiny files are not free). */
static uint64_t rating(const struct fleet_layer *l)
{
	return (uint64_t)l->n_members * (l->bytes + 512 * (uint64_t)l->n_items);
}

static void fit_budget(struct fleet_plan *p, unsigned max_layers)
{
	for (size_t i = 0; i < p->n_images; i++)
		while (layers_of(p, i) > max_layers) {
			size_t pick = SIZE_MAX;
			for (size_t l = 0; l < p->n_layers; l++) {
				const struct fleet_layer *c = &p->layers[l];
				if (c->n_members >= 2 && c->members[i] &&
				    (pick == SIZE_MAX || rating(c) < rating(&p->layers[pick])))
					pick = l;
			}
			if (pick == SIZE_MAX)
				break; /* only its own layer: cannot be */
			unshare(p, pick, i);
		}
}

/* Widest first; among equals, the one holding the first images first
 * (members compared as flags, descending), then the bigger. */
static int layer_order(const void *a, const void *b, void *ctx)
{
	const struct fleet_layer *x = a, *y = b;
	if (x->n_members != y->n_members)
		return x->n_members > y->n_members ? -1 : 1;
	int c = memcmp(y->members, x->members, *(const size_t *)ctx);
	if (c)
		return c;
	return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

static int item_path_order(const void *a, const void *b, void *ctx)
{
	const struct fleet_plan *p = ctx;
	return strcmp(p->items[*(const size_t *)a].e->path, p->items[*(const size_t *)b].e->path);
}

static void order(struct fleet_plan *p)
{
	size_t w = 0;
	for (size_t l = 0; l < p->n_layers; l++) {
		if (p->layers[l].n_members && p->layers[l].n_items) {
			p->layers[w++] = p->layers[l];
			continue;
		}
		free(p->layers[l].members);
		free(p->layers[l].items);
	}
	p->n_layers = w;
	qsort_r(p->layers, p->n_layers, sizeof(*p->layers), layer_order, &p->n_images);
	p->of_image = xcalloc(p->n_images, sizeof(*p->of_image));
	p->n_of_image = xcalloc(p->n_images, sizeof(*p->n_of_image));
	for (size_t l = 0; l < p->n_layers; l++) {
		struct fleet_layer *L = &p->layers[l];
		qsort_r(L->items, L->n_items, sizeof(*L->items), item_path_order, p);
		L->source = (size_t)((const unsigned char *)memchr(L->members, 1, p->n_images) - L->members);
		for (size_t i = 0; i < p->n_images; i++)
			if (L->members[i]) {
				p->of_image[i] = xrealloc(p->of_image[i], (p->n_of_image[i] + 1) * sizeof(size_t));
				p->of_image[i][p->n_of_image[i]++] = l;
			}
	}
}

int fleet_plan_make(const struct keep_record *const *recs, size_t n, unsigned max_layers,
		    struct fleet_plan *p, struct perr *err)
{
	memset(p, 0, sizeof(*p));
	if (!n)
		return perr_set(err, 0, "a fleet needs at least one image");
	if (max_layers < 1 || max_layers > FLEET_MAX_LAYERS_LIMIT)
		return perr_set(err, 0, "max_layers %u: from 1 to %d", max_layers, FLEET_MAX_LAYERS_LIMIT);
	p->n_images = n;
	p->recs = recs;
	p->item_of = xcalloc(n, sizeof(*p->item_of));
	struct strindex ix = { 0 };
	for (size_t i = 0; i < n; i++)
		add_image(p, &ix, i);
	strindex_free(&ix);
	group(p);
	fit_budget(p, max_layers);
	order(p);
	return 0;
}

static int str_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fleet_layer_paths(const struct fleet_plan *p, size_t l, struct fleet_paths *out)
{
	const struct fleet_layer *L = &p->layers[l];
	const struct keep_record *r = p->recs[L->source];
	struct strset seen = { 0 };
	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < L->n_items; k++) {
		char path[4097];
		snprintf(path, sizeof(path), "%s", p->items[L->items[k]].e->path);
		/* the entry, then its ancestors up to the first one already in */
		while (*path && strset_add(&seen, path)) {
			strv_push(&out->paths, xstrdup(path));
			cut_to_parent(path);
		}
	}
	strset_free(&seen);
	qsort(out->paths.v, out->paths.n, sizeof(char *), str_order);
	out->mtimes = xcalloc(out->paths.n + 1, sizeof(*out->mtimes));
	for (size_t k = 0; k < out->paths.n; k++) {
		const struct kr_entry *e = keep_record_find(r, out->paths.v[k]);
		size_t it = e ? p->item_of[L->source][e - r->e] : SIZE_MAX;
		out->mtimes[k] = it != SIZE_MAX && (e->type == 'd' || e->type == 'l') ? p->items[it].mtime : INT64_MIN;
	}
}

bool fleet_paths_mtime(void *ctx, const char *path, int64_t *mtime)
{
	const struct fleet_paths *fp = ctx;
	char *const *hit = bsearch(&path, fp->paths.v, fp->paths.n, sizeof(char *), str_order);
	if (!hit || fp->mtimes[hit - fp->paths.v] == INT64_MIN)
		return false;
	*mtime = fp->mtimes[hit - fp->paths.v];
	return true;
}

void fleet_paths_free(struct fleet_paths *fp)
{
	strv_free(&fp->paths);
	free(fp->mtimes);
	memset(fp, 0, sizeof(*fp));
}

void fleet_plan_free(struct fleet_plan *p)
{
	for (size_t l = 0; l < p->n_layers; l++) {
		free(p->layers[l].members);
		free(p->layers[l].items);
	}
	free(p->layers);
	for (size_t i = 0; i < p->n_images; i++) {
		free(p->item_of ? p->item_of[i] : NULL);
		free(p->of_image ? p->of_image[i] : NULL);
	}
	free(p->item_of);
	free(p->of_image);
	free(p->n_of_image);
	for (size_t it = 0; it < p->n_items; it++)
		free(p->items[it].in);
	free(p->items);
	memset(p, 0, sizeof(*p));
}
