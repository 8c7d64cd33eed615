/* Path resolution confined to a root directory.
 *
 * Primary mechanism: openat2(2) (Linux >= 5.6) with RESOLVE_IN_ROOT, so the
 * kernel treats the root as "/" for every component, symlinks included,
 * and RESOLVE_NO_MAGICLINKS. Fallback when openat2 returns ENOSYS: a
 * component-by-component walk with O_PATH|O_NOFOLLOW that expands symlinks
 * itself, keeping ".." and absolute targets inside the root. The fallback
 * is only race-free while nobody else modifies the tree concurrently,
 * which holds for our own unpack directories. */
#ifndef PARE_RESOLVE_H
#define PARE_RESOLVE_H

#include "base/util.h"

/* Force the fallback (tests); it is also selected when openat2 is ENOSYS. */
extern bool resolve_no_openat2;

/* An O_PATH directory fd for REL (components may be symlinks, resolved as
 * if ROOTFD were "/"). REL "" is the root itself. */
int root_open_dir(int rootfd, const char *rel, struct perr *err);

/* Open file REL (absolute or relative) inside ROOTFD, every symlink
 * resolved in the root as RESOLVE_IN_ROOT does; FLAGS are open(2) flags. */
int root_open_file(int rootfd, const char *rel, int flags, struct perr *err);

/* Open REL below DIRFD refusing every symlink and any escape (for blobs of
 * an OCI layout). FLAGS are open(2) flags. */
int open_beneath_nofollow(int dirfd, const char *rel, int flags, struct perr *err);

/* Canonical form of a tar entry name: no leading "/" or "./", no empty or
 * "." components, no trailing "/". ".." components are refused. "" means
 * the root. OUT holds at least MAX+1 bytes. */
int clean_entry_path(const char *name, char *out, size_t max, struct perr *err);
/* The same, but ".." removes a component, never going above the root:
 * how a symlink target is read inside the root. */
int clean_in_root_path(const char *name, char *out, size_t max, struct perr *err);

/* Split canonical "a/b/c" into PARENT "a/b" and the returned base "c";
 * PARENT is "" for a top-level name. */
const char *split_parent(const char *path, char *parent, size_t sz);
/* PATH cut to its parent directory, in place ("" for a top-level name). */
void cut_to_parent(char *path);

#endif
