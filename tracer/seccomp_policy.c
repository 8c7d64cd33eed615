/* Docker seccomp profiles: JSON to typed structs (sp_*), then to BPF.
 * The semantics follow moby's profiles/seccomp/seccomp_linux.go (which
 * rules apply) and runc's libcontainer/seccomp (how a rule becomes
 * libseccomp calls). */
#define _GNU_SOURCE
#include "tracer/seccomp_policy.h"

#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <string.h>
#include <sys/utsname.h>

#include "tracer/confine.h"
#include "tracer/syscalls.h"

/* ---- the profile, typed ---- */

struct sp_cond {           /* includes / excludes */
	struct strv arches;    /* docker's names: amd64, arm64, x86 ... */
	uint64_t caps;         /* capability bits */
	bool has_caps;
	char *min_kernel;      /* "4.8", or NULL */
};

struct sp_arg {
	unsigned index;
	uint64_t value, value_two;
	enum scmp_compare op;
};

struct sp_rule {
	struct strv names;
	uint32_t action;
	struct sp_arg *args;
	size_t n_args;
	struct sp_cond includes, excludes;
};

struct sp_profile {
	uint32_t default_action;
	struct strv arches;    /* SCMP_ARCH_* of the native entry, or the list */
	struct sp_rule *rules;
	size_t n_rules;
};

static void cond_free(struct sp_cond *c)
{
	strv_free(&c->arches);
	free(c->min_kernel);
}

static void profile_free(struct sp_profile *p)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		strv_free(&p->rules[i].names);
		free(p->rules[i].args);
		cond_free(&p->rules[i].includes);
		cond_free(&p->rules[i].excludes);
	}
	free(p->rules);
	strv_free(&p->arches);
}

/* ---- the format's vocabulary, as tables ---- */

static const struct { const char *name; uint32_t action; bool errno_ret; } actions[] = {
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};

/* pare's tracer owns ptrace stops and the profile's filter must not
 * hand it stops it cannot read. */
static const char *const refused_actions[] = { "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY" };

static const struct { const char *name; enum scmp_compare op; } compares[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* libseccomp's native architecture to the name moby's includes use. */
struct arch_name {
	uint32_t scmp;
	const char *docker, *profile;
};
static const struct arch_name native_names[] = {
	{ SCMP_ARCH_X86_64, "amd64", "SCMP_ARCH_X86_64" },
	{ SCMP_ARCH_X86, "x86", "SCMP_ARCH_X86" },
	{ SCMP_ARCH_AARCH64, "arm64", "SCMP_ARCH_AARCH64" },
	{ SCMP_ARCH_ARM, "arm", "SCMP_ARCH_ARM" },
	{ SCMP_ARCH_PPC64LE, "ppc64le", "SCMP_ARCH_PPC64LE" },
	{ SCMP_ARCH_S390X, "s390x", "SCMP_ARCH_S390X" },
	{ SCMP_ARCH_RISCV64, "riscv64", "SCMP_ARCH_RISCV64" },
};

static const struct arch_name *native_arch(void)
{
	static const struct arch_name unknown = { 0, "", "" };
	uint32_t a = seccomp_arch_native();
	for (size_t i = 0; i < ARRAY_SIZE(native_names); i++)
		if (native_names[i].scmp == a)
			return &native_names[i];
	return &unknown;
}

/* ---- parsing ---- */

struct parse {
	const char *name;
	struct perr *err;
};

static int bad(struct parse *ps, const char *where, const char *what)
{
	return perr_set(ps->err, 0, "seccomp profile %s: %s: %s", ps->name, where, what);
}

static int parse_action(struct parse *ps, const char *where, json_t *act, json_t *ret,
			uint32_t *out)
{
	const char *s = json_string_value(act);
	if (!s)
		return bad(ps, where, "'action' must be a string");
	for (size_t i = 0; i < ARRAY_SIZE(refused_actions); i++)
		if (!strcmp(s, refused_actions[i]))
			return perr_set(ps->err, 0, "seccomp profile %s: %s: action %s is not supported "
					"(pare's tracer owns ptrace and notification stops)", ps->name, where, s);
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		if (strcmp(s, actions[i].name))
			continue;
		*out = actions[i].action;
		if (actions[i].errno_ret) {
			json_int_t e = ret ? json_integer_value(ret) : EPERM;
			if ((ret && !json_is_integer(ret)) || e < 0 || e > 4095)
				return bad(ps, where, "'errnoRet' must be an errno number");
			*out = SCMP_ACT_ERRNO((uint16_t)e);
		}
		return 0;
	}
	char what[300];
	snprintf(what, sizeof(what), "unknown action '%s'", s);
	return bad(ps, where, what);
}

static int parse_strings(struct parse *ps, const char *where, json_t *v, struct strv *out)
{
	if (!v)
		return 0;
	if (!json_is_array(v))
		return bad(ps, where, "expected a list of strings");
	size_t i;
	json_t *item;
	json_array_foreach (v, i, item) {
		if (!json_is_string(item))
			return bad(ps, where, "expected a list of strings");
		strv_push(out, xstrdup(json_string_value(item)));
	}
	return 0;
}

/* "CAP_SYS_ADMIN" to its number; profiles spell the prefix out. */
static int cap_number(const char *name, int *out)
{
	return strncasecmp(name, "CAP_", 4) ? -1 : confine_cap_parse(name, out);
}

static int parse_cond(struct parse *ps, const char *where, json_t *v, struct sp_cond *c)
{
	if (!v)
		return 0;
	if (!json_is_object(v))
		return bad(ps, where, "expected an object");
	if (parse_strings(ps, where, json_object_get(v, "arches"), &c->arches) < 0)
		return -1;
	struct strv caps = { 0 };
	if (parse_strings(ps, where, json_object_get(v, "caps"), &caps) < 0) {
		strv_free(&caps);
		return -1;
	}
	for (size_t i = 0; i < caps.n; i++) {
		int cv;
		if (cap_number(caps.v[i], &cv) < 0 || cv >= 64) {
			char what[300];
			snprintf(what, sizeof(what), "unknown capability '%s'", caps.v[i]);
			strv_free(&caps);
			return bad(ps, where, what);
		}
		c->caps |= 1ull << cv;
		c->has_caps = true;
	}
	strv_free(&caps);
	json_t *k = json_object_get(v, "minKernel");
	if (k && !json_is_string(k))
		return bad(ps, where, "'minKernel' must be a string");
	if (k)
		c->min_kernel = xstrdup(json_string_value(k));
	return 0;
}

static int parse_arg(struct parse *ps, const char *where, json_t *v, struct sp_arg *a)
{
	json_t *index = json_object_get(v, "index"), *value = json_object_get(v, "value"),
	       *two = json_object_get(v, "valueTwo"), *op = json_object_get(v, "op");
	if (!json_is_integer(index) || json_integer_value(index) < 0 ||
	    json_integer_value(index) > 5)
		return bad(ps, where, "'index' must be 0 to 5");
	if (!json_is_integer(value) || (two && !json_is_integer(two)))
		return bad(ps, where, "'value' and 'valueTwo' must be numbers");
	a->index = (unsigned)json_integer_value(index);
	a->value = (uint64_t)json_integer_value(value);
	a->value_two = two ? (uint64_t)json_integer_value(two) : 0;
	const char *s = json_string_value(op);
	for (size_t i = 0; s && i < ARRAY_SIZE(compares); i++)
		if (!strcmp(s, compares[i].name)) {
			a->op = compares[i].op;
			return 0;
		}
	return bad(ps, where, "'op' must be one of SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ");
}

static int parse_rule(struct parse *ps, size_t idx, json_t *v, struct sp_rule *r)
{
	char where[64];
	snprintf(where, sizeof(where), "syscalls[%zu]", idx);
	if (!json_is_object(v))
		return bad(ps, where, "expected an object");
	json_t *name = json_object_get(v, "name"), *names = json_object_get(v, "names");
	if (name && names)
		return bad(ps, where, "both 'name' and 'names' are given");
	if (name && !json_is_string(name))
		return bad(ps, where, "'name' must be a string");
	if (name)
		strv_push(&r->names, xstrdup(json_string_value(name)));
	else if (parse_strings(ps, where, names, &r->names) < 0)
		return -1;
	if (parse_action(ps, where, json_object_get(v, "action"), json_object_get(v, "errnoRet"),
			 &r->action) < 0)
		return -1;
	json_t *args = json_object_get(v, "args");
	if (args && !json_is_array(args) && !json_is_null(args))
		return bad(ps, where, "'args' must be a list");
	r->n_args = json_is_array(args) ? json_array_size(args) : 0;
	r->args = xcalloc(r->n_args + 1, sizeof(*r->args));
	for (size_t i = 0; i < r->n_args; i++)
		if (parse_arg(ps, where, json_array_get(args, i), &r->args[i]) < 0)
			return -1;
	return parse_cond(ps, where, json_object_get(v, "includes"), &r->includes) < 0 ||
			       parse_cond(ps, where, json_object_get(v, "excludes"), &r->excludes) < 0
		       ? -1
		       : 0;
}

/* The architectures: moby's archMap entry for the native one (with its
 * sub-architectures), or a plain "architectures" list. */
static int parse_arches(struct parse *ps, json_t *j, struct sp_profile *p)
{
	json_t *map = json_object_get(j, "archMap"), *list = json_object_get(j, "architectures");
	if (map && list && json_array_size(map) && json_array_size(list))
		return bad(ps, "top level", "both 'architectures' and 'archMap' are given");
	if (list)
		return parse_strings(ps, "architectures", list, &p->arches);
	if (!map)
		return 0;
	if (!json_is_array(map))
		return bad(ps, "archMap", "expected a list");
	const char *native = native_arch()->profile;
	size_t i;
	json_t *e;
	json_array_foreach (map, i, e) {
		const char *a = json_string_value(json_object_get(e, "architecture"));
		if (!a || strcmp(a, native))
			continue;
		strv_push(&p->arches, xstrdup(a));
		return parse_strings(ps, "archMap", json_object_get(e, "subArchitectures"), &p->arches);
	}
	return 0;
}

static int parse_profile(struct parse *ps, const char *text, size_t len, struct sp_profile *p)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr);
	if (!j)
		return perr_set(ps->err, 0, "seccomp profile %s: line %d: %s", ps->name, jerr.line,
				jerr.text);
	int rc = -1;
	json_t *syscalls = json_object_get(j, "syscalls");
	if (!json_is_object(j))
		bad(ps, "top level", "expected an object");
	else if (json_object_get(j, "listenerPath"))
		bad(ps, "listenerPath", "seccomp notification is not supported");
	else if (parse_action(ps, "defaultAction", json_object_get(j, "defaultAction"),
			      json_object_get(j, "defaultErrnoRet"), &p->default_action) < 0)
		;
	else if (syscalls && !json_is_array(syscalls))
		bad(ps, "syscalls", "expected a list");
	else if (parse_arches(ps, j, p) == 0) {
		p->n_rules = json_array_size(syscalls);
		p->rules = xcalloc(p->n_rules + 1, sizeof(*p->rules));
		rc = 0;
		for (size_t i = 0; rc == 0 && i < p->n_rules; i++)
			rc = parse_rule(ps, i, json_array_get(syscalls, i), &p->rules[i]);
	}
	json_decref(j);
	return rc;
}

/* ---- which rules apply (moby's setupSeccomp) ---- */

/* Is the running kernel at least VERSION ("4.8")? */
static bool kernel_at_least(const char *version)
{
	struct utsname u;
	unsigned want_major = 0, want_minor = 0, major = 0, minor = 0;
	if (uname(&u) < 0 || sscanf(version, "%u.%u", &want_major, &want_minor) < 1 ||
	    sscanf(u.release, "%u.%u", &major, &minor) < 1)
		return false;
	return major > want_major || (major == want_major && minor >= want_minor);
}

static bool has_arch(const struct strv *arches, const char *arch)
{
	for (size_t i = 0; i < arches->n; i++)
		if (!strcmp(arches->v[i], arch))
			return true;
	return false;
}

static bool rule_applies(const struct sp_rule *r, uint64_t caps, const char *arch)
{
	const struct sp_cond *ex = &r->excludes, *in = &r->includes;
	if (has_arch(&ex->arches, arch) || (ex->caps & caps) ||
	    (ex->min_kernel && kernel_at_least(ex->min_kernel)))
		return false;
	if (in->arches.n && !has_arch(&in->arches, arch))
		return false;
	if (in->has_caps && (in->caps & caps) != in->caps)
		return false;
	return !in->min_kernel || kernel_at_least(in->min_kernel);
}

/* ---- lowering (runc's matchCall) ---- */

static int add_rule(scmp_filter_ctx ctx, const struct sp_rule *r, int nr)
{
	struct scmp_arg_cmp cmp[6];
	unsigned count[6] = { 0 };
	bool repeated = false;
	for (size_t i = 0; i < r->n_args && i < 6; i++) {
		cmp[i] = (struct scmp_arg_cmp){ r->args[i].index, r->args[i].op, r->args[i].value,
						r->args[i].value_two };
		repeated |= ++count[r->args[i].index] > 1;
	}
	if (r->n_args > 6)
		return -EINVAL;
	if (!repeated)
		return seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->n_args, cmp);
	/* An argument compared twice: each comparison is a rule of its own
	 * (an OR), as runc does. */
	for (size_t i = 0; i < r->n_args; i++) {
		int rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &cmp[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_arches(struct parse *ps, scmp_filter_ctx ctx, const struct strv *arches)
{
	for (size_t i = 0; i < arches->n; i++) {
		const char *a = arches->v[i];
		char low[32];
		if (strncmp(a, "SCMP_ARCH_", 10) || !ascii_lower(low, sizeof(low), a + 10))
			return bad(ps, "architectures", "expected SCMP_ARCH_* names");
		uint32_t arch = seccomp_arch_resolve_name(low);
		if (!arch)
			continue; /* an architecture this libseccomp does not know */
		int rc = seccomp_arch_add(ctx, arch);
		if (rc < 0 && rc != -EEXIST)
			return perr_set(ps->err, -rc, "seccomp profile %s: cannot add architecture %s",
					ps->name, a);
	}
	return 0;
}

static void ctx_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}

static int compile(struct parse *ps, const struct sp_profile *p, uint64_t caps,
		   struct sock_fprog *prog)
{
	__attribute__((cleanup(ctx_releasep))) scmp_filter_ctx ctx = seccomp_init(p->default_action);
	if (!ctx)
		return perr_set(ps->err, ENOMEM, "cannot create a seccomp filter");
	if (add_arches(ps, ctx, &p->arches) < 0)
		return -1;
	const char *arch = native_arch()->docker;
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct sp_rule *r = &p->rules[i];
		if (r->action == p->default_action || !rule_applies(r, caps, arch))
			continue;
		for (size_t k = 0; k < r->names.n; k++) {
			int nr = seccomp_syscall_resolve_name(r->names.v[k]);
			if (nr == __NR_SCMP_ERROR)
				continue; /* not a syscall of this architecture */
			int rc = add_rule(ctx, r, nr);
			if (rc < 0)
				return perr_set(ps->err, -rc, "seccomp profile %s: syscalls[%zu]: "
						"cannot add the rule for %s", ps->name, i, r->names.v[k]);
		}
	}
	return sc_export_bpf(ctx, prog, ps->err);
}

int seccomp_policy_compile(const char *text, size_t len, const char *name, uint64_t caps,
			   struct sock_fprog *prog, struct perr *err)
{
	struct parse ps = { name, err };
	struct sp_profile p = { 0 };
	int rc = parse_profile(&ps, text, len, &p);
	if (rc == 0)
		rc = compile(&ps, &p, caps, prog);
	profile_free(&p);
	return rc;
}
