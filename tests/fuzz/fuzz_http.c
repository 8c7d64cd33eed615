/* Fuzz target: what the HTTP probes parse: a server's response (status
 * line and header end), the helper's result lines, and probe specs as
 * users type them (--http). */
#include "tracer/http.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int status;
	size_t body;
	if (http_parse_response((const char *)data, size, &status, &body) == 0 &&
	    (body > size || status < 0 || status > 999))
		abort();
	struct http_result r[4];
	http_collect((const char *)data, size, r, 4);
	char *spec = strndup((const char *)data, size < 512 ? size : 512);
	struct http_probe p;
	struct perr err;
	if (http_probe_parse(spec, 80, &p, &err) == 0)
		http_probe_free(&p);
	free(spec);
	return 0;
}
