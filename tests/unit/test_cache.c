/* The unpack cache's list and prune: least recently used first, the size
 * limit, the age rule, a tree whose lock another process holds never
 * removed, a crashed unpack's leftovers removed, nothing outside the cache
 * touched. Trees are made by hand in the cache's own layout. */
#define _GNU_SOURCE
#include "helpers.h"
#include "tap.h"
#include "image/rootfs.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[4096];

static char *hex_of(char c)
{
	static char hex[65];
	memset(hex, c, 64);
	hex[64] = 0;
	return hex;
}

/* A complete tree of about KB kilobytes, last used AGE seconds ago. */
static void make_tree(char c, size_t kb, int64_t age)
{
	char p[4300];
	const char *hex = hex_of(c);
	snprintf(p, sizeof(p), "%s/rootfs/%s/usr", dir, hex);
	mkdir_p(p, 0755, &(struct perr){ 0 });
	snprintf(p, sizeof(p), "%s/rootfs/%s/usr/data", dir, hex);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	char block[1024];
	memset(block, 'x', sizeof(block));
	for (size_t i = 0; i < kb; i++)
		(void)!write(fd, block, sizeof(block));
	close(fd);
	snprintf(p, sizeof(p), "%s/rootfs/%s.lock", dir, hex);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	struct timespec ts[2] = { { time(NULL) - age, 0 }, { time(NULL) - age, 0 } };
	futimens(fd, ts);
	close(fd);
	snprintf(p, sizeof(p), "%s/rootfs/%s.json", dir, hex);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	char meta[128];
	snprintf(meta, sizeof(meta), "{\"image\": \"img-%c\", \"bytes\": %zu}", c, kb * 1024);
	(void)!write(fd, meta, strlen(meta));
	close(fd);
}

static bool tree_there(char c)
{
	char p[4300];
	struct stat st;
	snprintf(p, sizeof(p), "%s/rootfs/%s", dir, hex_of(c));
	return stat(p, &st) == 0;
}

/* A child holding tree C's lock shared, as a running pare does. */
static pid_t hold(char c)
{
	int ready[2];
	if (pipe(ready) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		char p[4300];
		snprintf(p, sizeof(p), "%s/rootfs/%s.lock", dir, hex_of(c));
		int fd = open(p, O_RDWR);
		flock(fd, LOCK_SH);
		(void)!write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	char x;
	(void)!read(ready[0], &x, 1);
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void release(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The default cache of a uid with no home it can write (docker run
 * --user 1000:1000 gets HOME=/): $TMPDIR/pare-cache-UID, private, and
 * never a directory someone else made first. Run as nobody in a child
 * (root's cache is /var/cache/pare); its exit status has one bit per
 * check that failed. */
static int no_home_checks(const char *tmp)
{
	if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		return 0xff;
	char want[4300];
	snprintf(want, sizeof(want), "%s/pare-cache-%u", tmp, (unsigned)geteuid());
	setenv("TMPDIR", tmp, 1);
	setenv("HOME", "/", 1);
	unsetenv("PARE_CACHE_DIR");
	unsetenv("XDG_CACHE_HOME");
	int failed = 0;
	struct stat st;
	char *c = rootfs_default_cache();
	if (!c || strcmp(c, want) || stat(c, &st) < 0 || (st.st_mode & 0777) != 0700)
		failed |= 1;
	free(c);
	chmod(want, 0777);
	c = rootfs_default_cache();
	if (c)
		failed |= 2;
	free(c);
	rmdir(want);
	if (symlink("/", want) < 0 || (c = rootfs_default_cache()) != NULL)
		failed |= 4;
	free(c);
	unlink(want);
	return failed;
}

static void test_default_cache_without_home(void)
{
	char tmp[] = "/tmp/pare-test-nohome-XXXXXX";
	if (!mkdtemp(tmp) || chmod(tmp, 0777) < 0) {
		ok(0, "a temporary directory");
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(no_home_checks(tmp));
	int st = 0xff << 8;
	waitpid(pid, &st, 0);
	int failed = WIFEXITED(st) ? WEXITSTATUS(st) : 0xff;
	ok(!(failed & 1), "no writable home: a private cache, $TMPDIR/pare-cache-UID, made 0700");
	ok(!(failed & 2), "one others can enter: no cache rather than a shared one");
	ok(!(failed & 4), "a symlink planted in its place: not followed");
	rmdir(tmp);
}

int main(void)
{
	struct perr err;
	char *tmp = make_tempdir("pare-test-cache", &err);
	snprintf(dir, sizeof(dir), "%s", tmp);
	free(tmp);

	make_tree('a', 300, 3000); /* oldest */
	make_tree('b', 200, 2000);
	make_tree('c', 100, 1000);
	make_tree('d', 100, 10);   /* newest */
	struct cache_entry *v;
	size_t n;
	ok(cache_list(dir, &v, &n, &err) == 0 && n == 4, "four trees listed");
	ok(n == 4 && v[0].hex[0] == 'a' && v[1].hex[0] == 'b' && v[2].hex[0] == 'c' && v[3].hex[0] == 'd',
	   "least recently used first");
	ok(n == 4 && v[0].bytes == 300 * 1024 && v[0].image && !strcmp(v[0].image, "img-a") && !v[0].in_use,
	   "size and image from the metadata; not in use");
	cache_entries_free(v, n);

	/* 'a' is in use: the size limit skips it and takes 'b' then 'c'. */
	pid_t holder = hold('a');
	ok(cache_list(dir, &v, &n, &err) == 0 && n == 4 && v[0].in_use && !v[1].in_use,
	   "a tree whose lock another process holds is in use");
	cache_entries_free(v, n);
	struct prune_opts po = { .max_bytes = 450 * 1024 };
	struct prune_result pr;
	ok(cache_prune(dir, &po, &pr, &err) == 0, "prune to a size");
	ok(tree_there('a') && !tree_there('b') && !tree_there('c') && tree_there('d'),
	   "the size limit removed the oldest trees not in use, and no more than needed");
	ok(pr.removed == 2 && pr.in_use == 1 && pr.freed == 300 * 1024 && pr.kept_bytes == 400 * 1024,
	   "prune counts what it removed and what it kept (%zu removed, %zu in use)", pr.removed, pr.in_use);
	struct prune_opts all = { .all = true };
	ok(cache_prune(dir, &all, &pr, &err) == 0 && tree_there('a') && !tree_there('d') && pr.in_use == 1,
	   "--all keeps a tree in use");
	release(holder);
	ok(cache_prune(dir, &all, &pr, &err) == 0 && !tree_there('a') && pr.removed == 1,
	   "... and removes it once released");
	char p[4300];
	snprintf(p, sizeof(p), "%s/rootfs/%s.lock", dir, hex_of('a'));
	ok(access(p, F_OK) != 0, "a removed tree's lock and metadata go too");

	/* The slim layers kept beside a tree count in its size, and go with it. */
	make_tree('7', 100, 30);
	char layers[4200];
	snprintf(layers, sizeof(layers), "%s/rootfs/%s.layers", dir, hex_of('7'));
	mkdir(layers, 0700);
	snprintf(p, sizeof(p), "%s/k.blob", layers);
	int lfd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	char chunk[4096];
	memset(chunk, 'l', sizeof(chunk));
	for (int i = 0; i < 16; i++)
		(void)!write(lfd, chunk, sizeof(chunk));
	close(lfd);
	int listed = cache_list(dir, &v, &n, &err);
	unsigned long long tree7 = listed == 0 && n == 1 ? (unsigned long long)v[0].bytes : 0;
	ok(tree7 >= (100 + 64) * 1024, "a tree's size counts the slim layers kept with it (%llu bytes)", tree7);
	cache_entries_free(v, n);
	ok(cache_prune(dir, &all, &pr, &err) == 0 && !tree_there('7') && access(layers, F_OK) != 0,
	   "... and prune removes them with it");

	/* The age rule; a 'keep' tree survives any rule. */
	make_tree('e', 10, 8 * 86400);
	make_tree('f', 10, 60);
	make_tree('1', 10, 9 * 86400);
	char keep[65]; /* hex_of's buffer is reused */
	snprintf(keep, sizeof(keep), "%s", hex_of('1'));
	struct prune_opts old = { .older_than = 7 * 86400, .keep = keep };
	ok(cache_prune(dir, &old, &pr, &err) == 0 && !tree_there('e') && tree_there('f') && tree_there('1'),
	   "--older-than removes only trees unused that long, never the one to keep");

	/* A crashed unpack (its pid gone) is removed; a live one is not. */
	snprintf(p, sizeof(p), "%s/rootfs/%s.tmp-999999999/usr", dir, hex_of('2'));
	mkdir_p(p, 0755, &err);
	snprintf(p, sizeof(p), "%s/rootfs/%s.tmp-%d/usr", dir, hex_of('3'), (int)getpid());
	mkdir_p(p, 0755, &err);
	ok(cache_prune(dir, &(struct prune_opts){ .older_than = 86400 }, &pr, &err) == 0, "prune with leftovers");
	snprintf(p, sizeof(p), "%s/rootfs/%s.tmp-999999999", dir, hex_of('2'));
	bool dead_gone = access(p, F_OK) != 0;
	snprintf(p, sizeof(p), "%s/rootfs/%s.tmp-%d", dir, hex_of('3'), (int)getpid());
	ok(dead_gone && access(p, F_OK) == 0, "a dead unpack's leftovers go, a live unpack stays");

	/* Nothing but the cache's own names is ever touched. */
	snprintf(p, sizeof(p), "%s/rootfs/not-a-tree", dir);
	mkdir(p, 0755);
	ok(cache_prune(dir, &all, &pr, &err) == 0 && access(p, F_OK) == 0, "other names in the cache are left alone");
	ok(cache_list("/nonexistent/pare-cache", &v, &n, &err) == 0 && n == 0, "a missing cache lists empty");

	remove_tree_at(AT_FDCWD, dir, &err);
	test_default_cache_without_home();
	return tap_done();
}
