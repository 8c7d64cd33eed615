/* -v and --tmpfs parsing (targets made canonical, the sandbox's own mounts
 * and twice-mounted targets refused, host sides opened and typed, shortest
 * target first) and --env-file's lines. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "tracer/run_plan.h"
#include "tracer/volume.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_volumes(const char *dir)
{
	struct volume_list l = { 0 };
	struct perr err;
	char spec[4300], file[4200];
	snprintf(file, sizeof(file), "%s/conf", dir);
	FILE *f = fopen(file, "w");
	fputs("x\n", f);
	fclose(f);

	snprintf(spec, sizeof(spec), "%s:/srv//data/./sub/:ro", dir);
	ok(volume_add_bind(&l, spec, &err) == 0 && l.n == 1 && !strcmp(l.v[0].target, "/srv/data/sub") &&
		   l.v[0].readonly && l.v[0].is_dir && l.v[0].fd >= 0,
	   "HOST:PATH:ro: the target made canonical, the host side opened as a directory");
	snprintf(spec, sizeof(spec), "%s:/srv", file);
	ok(volume_add_bind(&l, spec, &err) == 0 && l.n == 2 && !strcmp(l.v[0].target, "/srv") &&
		   !l.v[0].is_dir && !strcmp(l.v[1].target, "/srv/data/sub"),
	   "a file volume; the shorter target comes first, to be mounted first");
	ok(volume_add_tmpfs(&l, "/run/x", &err) == 0 && volume_holding(&l, "/run/x/a/b") &&
		   !volume_holding(&l, "/run/xy") && volume_holding(&l, "/srv/data/sub/f")->kind == VOLUME_BIND,
	   "volume_holding: at or below a target, not a name that only starts like it");
	snprintf(spec, sizeof(spec), "%s:/srv/", dir);
	ok(volume_add_bind(&l, spec, &err) < 0 && strstr(err.msg, "twice"), "the same target twice: %s", err.msg);
	ok(volume_add_bind(&l, "data:/d", &err) < 0 && strstr(err.msg, "named volumes"), "a name: %s", err.msg);
	snprintf(spec, sizeof(spec), "%s:rel", dir);
	ok(volume_add_bind(&l, spec, &err) < 0 && strstr(err.msg, "absolute"), "a relative target: %s", err.msg);
	snprintf(spec, sizeof(spec), "%s:/x/../../etc", dir);
	ok(volume_add_bind(&l, spec, &err) < 0, "'..' in a target: %s", err.msg);
	snprintf(spec, sizeof(spec), "%s:/", dir);
	ok(volume_add_bind(&l, spec, &err) < 0 && strstr(err.msg, "root"), "the root: %s", err.msg);
	snprintf(spec, sizeof(spec), "%s:/proc/sys:rw", dir);
	ok(volume_add_bind(&l, spec, &err) < 0 && strstr(err.msg, "own mount"), "/proc: %s", err.msg);
	ok(volume_add_tmpfs(&l, "/.pare/x", &err) < 0 && strstr(err.msg, "own mount"), "/.pare: %s", err.msg);
	snprintf(spec, sizeof(spec), "%s:/d:rx", dir);
	ok(volume_add_bind(&l, spec, &err) < 0 && strstr(err.msg, "'rx'"), "a bad mode: %s", err.msg);
	ok(volume_add_bind(&l, "/dev/null:/d", &err) < 0 && strstr(err.msg, "a device"), "a device: %s", err.msg);
	ok(l.n == 3, "the refused ones were not added (%zu)", l.n);
	volume_list_free(&l);
}

static void test_env_file(const char *dir)
{
	char file[4200];
	snprintf(file, sizeof(file), "%s/env", dir);
	FILE *f = fopen(file, "w");
	fputs("# comment\n\n   A=1\r\nB=two words\nPATH\nC==x\n", f);
	fclose(f);
	struct strv env = { 0 };
	struct perr err;
	ok(env_file_read(file, &env, &err) == 0 && env.n == 4 && !strcmp(env.v[0], "A=1") &&
		   !strcmp(env.v[1], "B=two words") && !strcmp(env.v[2], "PATH") && !strcmp(env.v[3], "C==x"),
	   "--env-file: comments and blank lines skipped, CRLF and leading blanks trimmed, values as written");
	f = fopen(file, "w");
	fputs("OK=1\nNOT OK=2\n", f);
	fclose(f);
	ok(env_file_read(file, &env, &err) < 0 && strstr(err.msg, "line 2"), "a bad name: %s", err.msg);
	ok(env_file_read(dir, &env, &err) < 0 && strstr(err.msg, "directory"), "a directory: %s", err.msg);
	strv_free(&env);
}

int main(void)
{
	char *dir = test_tempdir();
	test_volumes(dir);
	test_env_file(dir);
	rm_rf(dir); /* nothing of a run left in /tmp */
	free(dir);
	return tap_done();
}
