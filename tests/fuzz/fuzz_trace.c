/* Fuzz target: the trace reader (`pare slim --trace`, `pare profile
 * from-trace` read traces users hand over), merging into a trace that
 * already holds entries. */
#include "tracer/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace t;
	struct perr err;
	trace_init(&t);
	trace_add(&t, "/usr/bin/python3", OP_EXEC, UINT32_MAX, 0);
	trace_read_buf(&t, (const char *)data, size, "fuzz.json", &err);
	trace_read_buf(&t, (const char *)data, size, "fuzz.json", &err); /* merging twice */
	free(trace_to_json(&t, &(struct trace_meta){ .image = "fuzz" }));
	trace_free(&t);
	return 0;
}
