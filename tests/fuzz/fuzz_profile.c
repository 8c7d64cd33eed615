/* Fuzz target: the keep-list profile parser (profiles come from users and
 * from files shared between teams), and the JSON it writes back, which
 * must parse again. */
#include "slimmer/keeplist.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile p, back;
	struct perr err;
	if (profile_parse((const char *)data, size, "fuzz.json", &p, &err) < 0)
		return 0;
	char *json = profile_to_json(&p);
	/* What we write must load back: a profile that round-trips. */
	if (profile_parse(json, strlen(json), "fuzz.json", &back, &err) < 0)
		abort();
	profile_free(&back);
	free(json);
	profile_free(&p);
	return 0;
}
