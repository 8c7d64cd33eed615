/* FLEET.json (fleet.h), read into typed structs at the edge. */
#define _GNU_SOURCE
#include "slimmer/fleet.h"

#include <jansson.h>
#include <string.h>

/* A name becomes a file name in the state directory and a label: the
 * characters of a docker tag, starting with a letter or digit. */
static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 128 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int only_keys(json_t *o, const char *const *keys, const char *file, const char *where,
		     struct perr *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i])
			return perr_set(err, 0, "%s: %sunknown key \"%s\"", file, where, k);
	}
	return 0;
}

static int read_image(json_t *o, size_t i, struct fleet *f, const char *file, struct perr *err)
{
	static const char *const keys[] = { "name", "slim", NULL };
	char where[200];
	snprintf(where, sizeof(where), "image %zu: ", i + 1);
	if (!json_is_object(o))
		return perr_set(err, 0, "%s: %snot an object with \"name\" and \"slim\"", file, where);
	if (only_keys(o, keys, file, where, err) < 0)
		return -1;
	const char *name = json_string_value(json_object_get(o, "name"));
	if (!name || !name_valid(name))
		return perr_set(err, 0, "%s: %s\"name\" must be a name of letters, digits, '.', '_' and '-', "
				"starting with a lowercase letter or digit", file, where);
	snprintf(where, sizeof(where), "image %zu (%s): ", i + 1, name);
	if (fleet_find(f, name) != SIZE_MAX)
		return perr_set(err, 0, "%s: %s\"name\" is taken by an earlier image", file, where);
	json_t *args = json_object_get(o, "slim");
	if (!json_is_array(args) || !json_array_size(args))
		return perr_set(err, 0, "%s: %s\"slim\" must be a non-empty array of pare slim's arguments", file, where);
	struct fleet_image *im = &f->v[f->n++];
	im->name = xstrdup(name);
	size_t k;
	json_t *a;
	json_array_foreach(args, k, a) {
		if (!json_is_string(a))
			return perr_set(err, 0, "%s: %s\"slim\" argument %zu is not a string", file, where, k + 1);
		strv_push(&im->args, xstrdup(json_string_value(a)));
	}
	return 0;
}

static int read_fleet(json_t *j, struct fleet *f, const char *file, struct perr *err)
{
	static const char *const keys[] = { "max_layers", "images", NULL };
	if (!json_is_object(j))
		return perr_set(err, 0, "%s: not a fleet: an object with \"images\" expected", file);
	if (only_keys(j, keys, file, "", err) < 0)
		return -1;
	json_t *ml = json_object_get(j, "max_layers"), *images = json_object_get(j, "images");
	f->max_layers = FLEET_MAX_LAYERS_DEFAULT;
	if (ml && (!json_is_integer(ml) || json_integer_value(ml) < 1 ||
		   json_integer_value(ml) > FLEET_MAX_LAYERS_LIMIT))
		return perr_set(err, 0, "%s: \"max_layers\" must be a whole number from 1 to %d", file,
				FLEET_MAX_LAYERS_LIMIT);
	if (ml)
		f->max_layers = (unsigned)json_integer_value(ml);
	if (!json_is_array(images) || !json_array_size(images) || json_array_size(images) > FLEET_MAX_IMAGES)
		return perr_set(err, 0, "%s: \"images\" must be an array of 1 to %d images", file, FLEET_MAX_IMAGES);
	f->v = xcalloc(json_array_size(images), sizeof(*f->v));
	for (size_t i = 0; i < json_array_size(images); i++)
		if (read_image(json_array_get(images, i), i, f, file, err) < 0)
			return -1;
	return 0;
}

int fleet_read(const char *file, struct fleet *f, struct perr *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	memset(f, 0, sizeof(*f));
	if (read_side_file(file, FLEET_FILE_MAX, &text, &len, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return perr_set(err, 0, "%s: not JSON: %s (line %d)", file, jerr.text, jerr.line);
	int r = read_fleet(j, f, file, err);
	json_decref(j);
	return r;
}

size_t fleet_find(const struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].name, name))
			return i;
	return SIZE_MAX;
}

void fleet_free(struct fleet *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		strv_free(&f->v[i].args);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

char *fleet_record_path(const char *state, const char *name)
{
	return xasprintf("%s/%s.keep.json", state, name);
}
