/* Fuzz target: every JSON document parser (index, manifest, config,
 * docker-archive manifest.json) on the same input. */
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perr err;
	struct index idx;
	struct manifest m;
	struct image_config c;
	struct docker_manifest dm;
	const char *buf = (const char *)data;
	parse_index(buf, size, &default_limits, &idx, &err);
	index_free(&idx);
	parse_manifest(buf, size, &default_limits, &m, &err);
	manifest_free(&m);
	parse_config(buf, size, &default_limits, &c, &err);
	image_config_free(&c);
	parse_docker_manifest(buf, size, &default_limits, &dm, &err);
	docker_manifest_free(&dm);
	return 0;
}
