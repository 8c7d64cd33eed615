#define _GNU_SOURCE
#include "slimmer/keepset.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>

#include "base/resolve.h"

#define MAX_HOPS 40
#define PATH_BUF 4097

const char *const keep_why_names[KEEP__COUNT] = {
	[KEEP_TRACED] = "traced",       [KEEP_COMMAND] = "command",
	[KEEP_WORKDIR] = "workdir",     [KEEP_ALWAYS] = "always",
	[KEEP_RULE] = "rule",           [KEEP_UNIT] = "unit",
	[KEEP_PACKAGE] = "package",     [KEEP_SYMLINK] = "symlink on the way to",
	[KEEP_LINK_TARGET] = "target of symlink", [KEEP_LINK_TO] = "symlink to",
	[KEEP_PARENT] = "parent of",    [KEEP_INTERP] = "interpreter of",
	[KEEP_NEEDED] = "needed by",    [KEEP_SHEBANG] = "#! interpreter of",
	[KEEP_APP] = "application tree of", [KEEP_IMPORT] = "imported by",
};

void keepset_init(struct keepset *k)
{
	memset(k, 0, sizeof(*k));
}

static void free_entry(struct keep_entry *e)
{
	for (size_t j = 0; j < e->nr; j++) {
		free(e->r[j].of);
		free(e->r[j].rule);
		free(e->r[j].profile);
	}
	free(e->r);
	free(e->path);
}

void keepset_free(struct keepset *k)
{
	for (size_t i = 0; i < k->n; i++)
		free_entry(&k->e[i]);
	free(k->e);
	strindex_free(&k->index);
	strv_free(&k->lib_dirs);
	strv_free(&k->links);
	strv_free(&k->warnings);
	tree_index_free(&k->tree);
	memset(k, 0, sizeof(*k));
	keepset_forget_tree();
}

static const char *keep_key(const void *ctx, size_t i)
{
	return ((const struct keepset *)ctx)->e[i].path;
}

const struct keep_entry *keepset_find(const struct keepset *k, const char *path)
{
	char clean[PATH_BUF];
	struct perr err;
	if (clean_in_root_path(path, clean, sizeof(clean) - 1, &err) < 0)
		return NULL;
	size_t at = strindex_find(&k->index, clean, keep_key, k);
	return at == SIZE_MAX ? NULL : &k->e[at];
}

static bool same(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

bool keepset_add(struct keepset *k, const char *path, enum keep_why why, const char *of)
{
	return keepset_add_rule(k, path, why, of, NULL, NULL);
}

bool keepset_add_rule(struct keepset *k, const char *path, enum keep_why why, const char *of,
		      const char *rule, const char *profile)
{
	char clean[PATH_BUF];
	struct perr err;
	if (clean_in_root_path(path, clean, sizeof(clean) - 1, &err) < 0)
		return false;
	size_t at = strindex_find(&k->index, clean, keep_key, k);
	bool added = at == SIZE_MAX;
	if (added) {
		if (k->n == k->cap) {
			k->cap = k->cap ? k->cap * 2 : 256;
			k->e = xrealloc(k->e, k->cap * sizeof(*k->e));
		}
		k->e[k->n] = (struct keep_entry){ .path = xstrdup(clean) };
		at = k->n++;
		strindex_put(&k->index, at, k->n, keep_key, k);
	}
	struct keep_entry *e = &k->e[at];
	for (size_t i = 0; i < e->nr; i++)
		if (e->r[i].why == why && same(e->r[i].of, of) && same(e->r[i].rule, rule) &&
		    same(e->r[i].profile, profile))
			return added;
	if (e->nr < 16) { /* a few reasons explain a path; more add nothing */
		e->r = xrealloc(e->r, (e->nr + 1) * sizeof(*e->r));
		e->r[e->nr++] = (struct keep_reason){ why, dup_or_null(of), dup_or_null(rule),
						      dup_or_null(profile) };
	}
	return added;
}

/* ---- resolution inside the root ---- */

/* What lstat and readlink found, per tree. The tree under a slim does not
 * change while it is closed (a cache tree, shared read-only, or our own
 * unpack), and closing it resolves the same ancestors over and over: on
 * a 41,000-entry image, 316,000 lstats of 68,000 paths ("usr" 31,000
 * times). The memo is for one tree, known by its root's device and inode
 * (checked at each public entry point), and dropped with
 * keepset_forget_tree(). */
struct node {
	char *path;
	mode_t mode;  /* 0: not there */
	char *target; /* a symlink's, once read */
	bool target_read;
	bool physical; /* a directory reached through directories only */
};

static struct {
	int fd;
	dev_t dev;
	ino_t ino;
	struct node *v;
	size_t n, cap;
	struct strindex idx;
} memo = { .fd = -1 };

static const char *node_key(const void *ctx, size_t i)
{
	(void)ctx;
	return memo.v[i].path;
}

void keepset_forget_tree(void)
{
	for (size_t i = 0; i < memo.n; i++) {
		free(memo.v[i].path);
		free(memo.v[i].target);
	}
	free(memo.v);
	strindex_free(&memo.idx);
	memset(&memo, 0, sizeof(memo));
	memo.fd = -1;
}

/* The memo for ROOTFD's tree: another tree's is dropped. */
static void memo_for(int rootfd)
{
	struct stat st;
	if (fstat(rootfd, &st) < 0)
		st.st_dev = 0, st.st_ino = 0;
	if (memo.fd == rootfd && memo.dev == st.st_dev && memo.ino == st.st_ino)
		return;
	keepset_forget_tree();
	memo.fd = rootfd;
	memo.dev = st.st_dev;
	memo.ino = st.st_ino;
}

static struct node *node_at(int rootfd, const char *rel)
{
	size_t i = strindex_find(&memo.idx, rel, node_key, NULL);
	if (i != SIZE_MAX)
		return &memo.v[i];
	struct stat st;
	if (fstatat(rootfd, *rel ? rel : ".", &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
		st.st_mode = 0;
	if (memo.n == memo.cap) {
		memo.cap = memo.cap ? memo.cap * 2 : 1024;
		memo.v = xrealloc(memo.v, memo.cap * sizeof(*memo.v));
	}
	memo.v[memo.n] = (struct node){ .path = xstrdup(rel), .mode = st.st_mode };
	strindex_put(&memo.idx, memo.n, memo.n + 1, node_key, NULL);
	return &memo.v[memo.n++];
}

/* lstat REL's type (every ancestor already known to be a real directory,
 * so no symlink is ever followed on the host). */
static int lstat_rel(int rootfd, const char *rel, struct stat *st)
{
	const struct node *nd = node_at(rootfd, rel);
	if (!nd->mode) {
		errno = ENOENT;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = nd->mode;
	return 0;
}

/* Symlink REL's target (REL lstat'ed as one), or NULL. */
static const char *link_target(int rootfd, const char *rel)
{
	struct node *nd = node_at(rootfd, rel);
	if (!nd->target_read) {
		char target[PATH_BUF];
		ssize_t n = readlinkat(rootfd, rel, target, sizeof(target) - 1);
		nd->target_read = true;
		if (n >= 0) {
			target[n] = 0;
			nd->target = xstrdup(target);
		}
	}
	return nd->target;
}

/* Resolve PATH component by component like RESOLVE_IN_ROOT; every symlink
 * met on the way (and the last one when FOLLOW) is added to K as on the
 * way to WHY_OF when K is not NULL. REAL gets the physical relative path.
 * Returns 0, or -1 when a component is missing or a loop. */
/* PATH without its leading slashes, when its parent is a physical
 * directory and it has no empty, "." or ".." component: *NODE is its own
 * node, and resolving it is only following it when it is a symlink. */
static const char *plain_path(int rootfd, const char *path, const struct node **node)
{
	path += strspn(path, "/");
	const char *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0;
	if (!*path || path[strlen(path) - 1] == '/' || plen >= PATH_BUF || strstr(path, "//") ||
	    strstr(path, "/./") || strstr(path, "/../") || !strncmp(path, "./", 2) ||
	    !strncmp(path, "../", 3) || !strcmp(slash ? slash + 1 : path, ".") ||
	    !strcmp(slash ? slash + 1 : path, ".."))
		return NULL;
	if (plen) {
		char parent[PATH_BUF];
		memcpy(parent, path, plen);
		parent[plen] = 0;
		size_t i = strindex_find(&memo.idx, parent, node_key, NULL);
		if (i == SIZE_MAX || !memo.v[i].physical)
			return NULL;
	}
	*node = node_at(rootfd, path);
	return path;
}

static int resolve_in(struct keepset *k, int rootfd, const char *path, bool follow, char *real,
		      const char *why_of)
{
	const struct node *nd = NULL;
	const char *plain = plain_path(rootfd, path, &nd);
	if (plain && !nd->mode)
		return -1;
	if (plain && (!S_ISLNK(nd->mode) || !follow)) {
		memcpy(real, plain, strlen(plain) + 1);
		return 0;
	}
	char rest[PATH_BUF * 2], cur[PATH_BUF] = "";
	bool clean = true; /* no symlink, "." or ".." so far: CUR is PATH's prefix */
	snprintf(rest, sizeof(rest), "%s", path);
	int hops = 0;
	char *p = rest;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *end = strchrnul(p, '/');
		char comp[256];
		size_t len = (size_t)(end - p);
		if (len >= sizeof(comp))
			return -1;
		memcpy(comp, p, len);
		comp[len] = 0;
		p = end;
		bool last = strspn(p, "/") == strlen(p);
		if (!strcmp(comp, ".")) {
			clean = false;
			continue;
		}
		if (!strcmp(comp, "..")) {
			clean = false;
			char *slash = strrchr(cur, '/');
			if (slash)
				*slash = 0;
			else
				cur[0] = 0;
			continue;
		}
		char cand[PATH_BUF];
		if ((size_t)snprintf(cand, sizeof(cand), "%s%s%s", cur, *cur ? "/" : "", comp) >= sizeof(cand))
			return -1;
		struct node *cn = node_at(rootfd, cand);
		if (!cn->mode)
			return -1;
		if (S_ISLNK(cn->mode) && (!last || follow)) {
			const char *target = link_target(rootfd, cand);
			clean = false;
			if (!target || ++hops > MAX_HOPS)
				return -1;
			if (k && strcmp(cand, why_of))
				keepset_add(k, cand, KEEP_SYMLINK, why_of);
			char next[PATH_BUF * 2];
			snprintf(next, sizeof(next), "%s/%s", target, p);
			snprintf(rest, sizeof(rest), "%s", next);
			p = rest;
			if (target[0] == '/')
				cur[0] = 0;
			continue;
		}
		if (!last && !S_ISDIR(cn->mode))
			return -1;
		if (clean && S_ISDIR(cn->mode))
			cn->physical = true;
		memcpy(cur, cand, strlen(cand) + 1);
	}
	memcpy(real, cur, strlen(cur) + 1);
	return 0;
}

/* ---- ELF and #! ---- */

void keepset_warn(struct keepset *k, const char *fmt, ...)
{
	if (k->warnings.n >= KEEPSET_MAX_WARNINGS) {
		k->warnings_dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	for (size_t i = 0; s && i < k->warnings.n; i++)
		if (!strcmp(k->warnings.v[i], s)) { /* closure runs again as units grow the set */
			free(s);
			return;
		}
	if (s)
		strv_push(&k->warnings, s);
}

static void add_dir(struct strv *dirs, const char *d)
{
	char clean[PATH_BUF];
	struct perr err;
	if (clean_in_root_path(d, clean, sizeof(clean) - 1, &err) < 0)
		return;
	for (size_t i = 0; i < dirs->n; i++)
		if (!strcmp(dirs->v[i], clean))
			return;
	strv_push(dirs, xstrdup(clean));
}

static char *read_small(int rootfd, const char *rel, size_t max)
{
	struct perr err;
	int fd = open_beneath_nofollow(rootfd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK, &err);
	if (fd < 0)
		return NULL;
	char *buf = xmalloc(max + 1);
	ssize_t n = read_full(fd, buf, max);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static void read_ld_conf(struct keepset *k, int rootfd, const char *rel, int depth)
{
	char real[PATH_BUF];
	if (depth > 4 || resolve_in(NULL, rootfd, rel, true, real, NULL) < 0)
		return;
	cleanup_free char *text = read_small(rootfd, real, 1 << 16);
	if (!text)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		line[strcspn(line, "#")] = 0;
		if (!strncmp(line, "include", 7) && (line[7] == ' ' || line[7] == '\t')) {
			char *pat = line + 8 + strspn(line + 8, " \t");
			pat[strcspn(pat, " \t")] = 0;
			char dir[PATH_BUF], dreal[PATH_BUF];
			snprintf(dir, sizeof(dir), "%s", pat);
			char *slash = strrchr(dir, '/');
			if (!slash)
				continue;
			*slash = 0;
			if (resolve_in(NULL, rootfd, dir, true, dreal, NULL) < 0)
				continue;
			struct perr err;
			int dfd = *dreal ? open_beneath_nofollow(rootfd, dreal, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &err)
					 : openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
			if (!d) {
				if (dfd >= 0)
					close(dfd);
				continue;
			}
			struct strv names = { 0 };
			for (struct dirent *de; (de = readdir(d));)
				if (!fnmatch(slash + 1, de->d_name, 0))
					strv_push(&names, xasprintf("%s/%s", dreal, de->d_name));
			closedir(d);
			strv_sort(&names);
			for (size_t i = 0; i < names.n; i++)
				read_ld_conf(k, rootfd, names.v[i], depth + 1);
			strv_free(&names);
		} else {
			line[strcspn(line, " \t\r")] = 0;
			if (line[0] == '/')
				add_dir(&k->lib_dirs, line);
		}
	}
}

/* ld.so's directories: ld.so.conf first (ld.so.cache is built from it),
 * then the built-in defaults. */
static void lib_dirs(struct keepset *k, int rootfd)
{
	if (k->lib_dirs_read)
		return;
	k->lib_dirs_read = true;
	read_ld_conf(k, rootfd, "etc/ld.so.conf", 0);
	static const char *const defaults[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
		"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
	};
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		add_dir(&k->lib_dirs, defaults[i]);
}

/* A library candidate must be an ELF of the same class and machine. */
static bool elf_matches(int rootfd, const char *real, unsigned char cls, GElf_Half machine)
{
	struct perr err;
	int fd = open_beneath_nofollow(rootfd, real, O_RDONLY | O_CLOEXEC | O_NONBLOCK, &err);
	if (fd < 0)
		return false;
	unsigned char h[20] = { 0 };
	bool okk = read_full(fd, h, sizeof(h)) == (ssize_t)sizeof(h) && !memcmp(h, ELFMAG, SELFMAG) &&
		   h[EI_CLASS] == cls;
	close(fd);
	if (!okk) /* a file shorter than an ELF header: h is not all read */
		return false;
	GElf_Half m = h[EI_DATA] == ELFDATA2MSB ? (GElf_Half)(h[18] << 8 | h[19])
						 : (GElf_Half)(h[19] << 8 | h[18]);
	return m == machine;
}

/* Expand $ORIGIN / ${ORIGIN} in a DT_RUNPATH/DT_RPATH entry. */
static void expand_origin(const char *in, const char *origin, char *out, size_t sz)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 1 < sz;) {
		if (!strncmp(p, "$ORIGIN", 7) || !strncmp(p, "${ORIGIN}", 9)) {
			o += (size_t)snprintf(out + o, sz - o, "/%s", origin);
			p += p[1] == '{' ? 9 : 7;
		} else {
			out[o++] = *p++;
		}
	}
	out[o < sz ? o : sz - 1] = 0;
}

static void find_needed(struct keepset *k, int rootfd, const char *name, const char *owner,
			const struct strv *first, const struct strv *after, unsigned char cls,
			GElf_Half machine)
{
	const struct strv *lists[] = { first, &k->lib_dirs, after };
	if (strchr(name, '/')) {
		keepset_add(k, name, KEEP_NEEDED, owner);
		return;
	}
	/* Order: DT_RPATH (first), then DT_RUNPATH (after), then the system
	 * directories; ld.so skips DT_RPATH when DT_RUNPATH exists. */
	const struct strv *order[] = { lists[0], lists[2], lists[1] };
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < order[l]->n; i++) {
			char cand[PATH_BUF], real[PATH_BUF];
			snprintf(cand, sizeof(cand), "%s/%s", order[l]->v[i], name);
			if (resolve_in(NULL, rootfd, cand, true, real, NULL) == 0 &&
			    elf_matches(rootfd, real, cls, machine)) {
				keepset_add(k, cand, KEEP_NEEDED, owner);
				return;
			}
		}
	keepset_warn(k, "/%s needs %s, which is in none of its library directories (nor in the original image)",
		  owner ? owner : "", name);
}

static void close_elf(struct keepset *k, int rootfd, const char *real, const char *owner)
{
	struct perr err;
	int fd = open_beneath_nofollow(rootfd, real, O_RDONLY | O_CLOEXEC | O_NONBLOCK, &err);
	if (fd < 0) {
		keepset_warn(k, "/%s: its libraries were not followed: %s", real, err.msg);
		return;
	}
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	GElf_Ehdr eh;
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
		keepset_warn(k, "/%s: its libraries were not followed: not a readable ELF file (%s)",
			  real, elf_errmsg(-1));
		goto out;
	}
	unsigned char cls = (unsigned char)gelf_getclass(e);
	size_t nph = 0;
	elf_getphdrnum(e, &nph);
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP || ph.p_filesz > 4096)
			continue;
		size_t len;
		char *raw = elf_rawfile(e, &len);
		/* Compared without adding: a hostile p_offset near 2^64 wraps. */
		if (raw && ph.p_offset <= len && ph.p_filesz <= len - ph.p_offset) {
			char interp[4097];
			snprintf(interp, sizeof(interp), "%.*s", (int)ph.p_filesz, raw + ph.p_offset);
			keepset_add(k, interp, KEEP_INTERP, owner);
		}
	}
	struct strv needed = { 0 }, rpath = { 0 }, runpath = { 0 };
	char origin[PATH_BUF];
	snprintf(origin, sizeof(origin), "%s", real);
	char *slash = strrchr(origin, '/');
	if (slash)
		*slash = 0;
	else
		origin[0] = 0;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e, scn));) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Dyn dyn;
			if (!gelf_getdyn(d, (int)i, &dyn))
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RPATH && dyn.d_tag != DT_RUNPATH)
				continue;
			const char *s = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			if (!s)
				continue;
			if (dyn.d_tag == DT_NEEDED) {
				strv_push(&needed, xstrdup(s));
				continue;
			}
			cleanup_free char *copy = xstrdup(s);
			char *save = NULL;
			for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
				char exp[PATH_BUF];
				expand_origin(dir, origin, exp, sizeof(exp));
				add_dir(dyn.d_tag == DT_RPATH ? &rpath : &runpath, exp);
			}
		}
	}
	lib_dirs(k, rootfd);
	for (size_t i = 0; i < needed.n; i++)
		find_needed(k, rootfd, needed.v[i], owner, runpath.n ? &(struct strv){ 0 } : &rpath,
			    &runpath, cls, eh.e_machine);
	strv_free(&needed);
	strv_free(&rpath);
	strv_free(&runpath);
out:
	if (e)
		elf_end(e);
	close(fd);
}

static void close_file(struct keepset *k, int rootfd, const char *real, const char *owner)
{
	cleanup_free char *head = read_small(rootfd, real, 256);
	if (!head) {
		keepset_warn(k, "/%s: not read, so nothing it needs was followed", real);
		return;
	}
	if (!memcmp(head, ELFMAG, SELFMAG)) {
		close_elf(k, rootfd, real, owner);
	} else if (head[0] == '#' && head[1] == '!') {
		char *interp = head + 2 + strspn(head + 2, " \t");
		interp[strcspn(interp, " \t\r\n")] = 0;
		if (interp[0] == '/')
			keepset_add(k, interp, KEEP_SHEBANG, owner);
	}
}

/* One entry: symlinks on the way, what it resolves to, parents, and for
 * files their interpreters and libraries. */
static void close_entry(struct keepset *k, int rootfd, size_t idx)
{
	cleanup_free char *path = xstrdup(k->e[idx].path);
	char real[PATH_BUF], parent[PATH_BUF];
	struct stat st;
	k->e[idx].closed = true;
	/* The path itself: symlinks before its last component. */
	if (resolve_in(k, rootfd, path, false, real, path) < 0 || lstat_rel(rootfd, real, &st) < 0) {
		k->e[idx].type = 0;
		return;
	}
	if (strcmp(real, path)) {
		/* Reached through symlinks: a tar entry must sit at its physical
		 * place, so the reasons move there and this name is only an alias
		 * (its symlinks were added above). */
		size_t nr = k->e[idx].nr;
		struct keep_reason *r = xcalloc(nr ? nr : 1, sizeof(*r));
		for (size_t i = 0; i < nr; i++) {
			const struct keep_reason *o = &k->e[idx].r[i];
			r[i] = (struct keep_reason){ o->why, dup_or_null(o->of), dup_or_null(o->rule),
						     dup_or_null(o->profile) };
		}
		for (size_t i = 0; i < nr; i++) {
			keepset_add_rule(k, real, r[i].why, r[i].of, r[i].rule, r[i].profile);
			free(r[i].of);
			free(r[i].rule);
			free(r[i].profile);
		}
		free(r);
		k->e[idx].type = 0;
		return;
	}
	k->e[idx].type = mode_type(st.st_mode);
	if (*real) { /* every ancestor of where it really is, the root included */
		split_parent(real, parent, sizeof(parent));
		for (;;) {
			keepset_add(k, parent, KEEP_PARENT, path);
			if (!*parent)
				break;
			char *slash = strrchr(parent, '/');
			*(slash ? slash : parent) = 0;
		}
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_BUF];
		if (resolve_in(k, rootfd, real, true, target, path) == 0)
			keepset_add(k, target, KEEP_LINK_TARGET, path);
	} else if (S_ISREG(st.st_mode)) {
		close_file(k, rootfd, real, path);
	}
}

/* Every symlink in the image, for the reverse pass. */
static void collect_symlink(void *ctx, const char *rel, const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		strv_push(ctx, xstrdup(rel));
}

int keepset_close(struct keepset *k, int rootfd, struct perr *err)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return perr_set(err, 0, "libelf: %s", elf_errmsg(-1));
	memo_for(rootfd);
	struct strv *links = &k->links;
	for (;;) {
		for (size_t i = 0; i < k->n; i++) /* grows while we walk */
			if (!k->e[i].closed)
				close_entry(k, rootfd, i);
		if (!k->links_read) {
			tree_walk(&k->tree, rootfd, collect_symlink, links);
			k->links_read = true;
		}
		bool more = false;
		for (size_t i = 0; i < links->n; i++) {
			const struct keep_entry *e = keepset_find(k, links->v[i]);
			char real[PATH_BUF];
			if (e || resolve_in(NULL, rootfd, links->v[i], true, real, NULL) < 0)
				continue;
			char abs[PATH_BUF];
			if (k->skip_link && snprintf(abs, sizeof(abs), "/%s", links->v[i]) > 0 &&
			    k->skip_link(k->skip_link_ctx, abs))
				continue;
			const struct keep_entry *t = keepset_find(k, real);
			if (t && t->type) {
				keepset_add(k, links->v[i], KEEP_LINK_TO, *real ? real : "/");
				more = true;
			}
		}
		if (!more)
			break;
	}
	/* Drop what is not in the image (ENOENT probes, files created at
	 * run time, rules matching nothing). */
	size_t w = 0;
	for (size_t i = 0; i < k->n; i++) {
		if (k->e[i].type || !*k->e[i].path) {
			if (!*k->e[i].path)
				k->e[i].type = 'd';
			k->e[w++] = k->e[i];
			continue;
		}
		free_entry(&k->e[i]);
	}
	k->n = w;
	strindex_rebuild(&k->index, k->n, keep_key, k);
	return 0;
}

void keepset_paths(const struct keepset *k, struct strv *out)
{
	for (size_t i = 0; i < k->n; i++)
		if (*k->e[i].path)
			strv_push(out, xstrdup(k->e[i].path));
	strv_sort(out);
}

int keepset_resolve(int rootfd, const char *path, bool follow, char *real)
{
	memo_for(rootfd);
	return resolve_in(NULL, rootfd, path, follow, real, NULL);
}

bool keepset_is_type(int rootfd, const char *path, mode_t type, char *real)
{
	struct stat sb;
	return keepset_resolve(rootfd, path, true, real) == 0 && lstat_rel(rootfd, real, &sb) == 0 &&
	       (sb.st_mode & S_IFMT) == type;
}
