#!/usr/bin/env python3
"""completeness.py ROOTFS STRACE_LOG TRACE_JSON: every path that the full
`strace -f` log shows as successfully accessed, and that exists in the
image, must be in pare's trace.

A path counts as covered when the trace holds it as written, or holds the
file it resolves to inside the image (fanotify reports opened files by
their resolved path; the keep-set closure adds the symlinks on the way).
Paths below /proc, /dev and /sys are the sandbox's, not the image's.
Exit 0 when complete; otherwise list what is missing, with the syscall."""
import json, os, re, sys

PATH_CALLS = {  # syscall -> (indexes of path args, follows the final symlink)
    "open": ([0], True), "openat": ([1], True), "openat2": ([1], True), "creat": ([0], True),
    "execve": ([0], True), "execveat": ([1], True),
    "stat": ([0], True), "lstat": ([0], False), "newfstatat": ([1], True), "statx": ([1], True),
    "access": ([0], True), "faccessat": ([1], True), "faccessat2": ([1], True),
    "readlink": ([0], False), "readlinkat": ([1], False),
    "chdir": ([0], True), "statfs": ([0], True),
    "getxattr": ([0], True), "lgetxattr": ([0], False),
    "listxattr": ([0], True), "llistxattr": ([0], False),
}
VIRTUAL = ("/proc/", "/dev/", "/sys/")
LINE = re.compile(r'^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)')
RESUMED = re.compile(r'^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$')
UNFINISHED = re.compile(r'^(\d+)\s+(.*) <unfinished \.\.\.>$')


def split_args(s):
    """Top-level comma split of strace's argument text (strings quoted)."""
    out, cur, depth, q, i = [], "", 0, False, 0
    while i < len(s):
        c = s[i]
        if q:
            cur += c
            if c == "\\":
                cur += s[i + 1]; i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True; cur += c
        elif c in "[{(":
            depth += 1; cur += c
        elif c in "]})":
            depth -= 1; cur += c
        elif c == "," and depth == 0:
            out.append(cur.strip()); cur = ""
        else:
            cur += c
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


def unquote(a):
    if not (a.startswith('"') and a.endswith('"')):
        return None
    return a[1:-1].encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def fd_path(a):
    m = re.search(r"<(/[^>]*)>", a)
    return m.group(1) if m else None


def in_root(root, path, follow):
    """Resolve PATH inside ROOT like RESOLVE_IN_ROOT; None when missing."""
    parts = [p for p in path.split("/") if p]
    cur, hops = [], 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            if cur:
                cur.pop()
            continue
        full = os.path.join(root, *cur, name)
        try:
            st = os.lstat(full)
        except OSError:
            return None
        if os.path.islink(full) and (parts or follow):
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(full)
            if target.startswith("/"):
                cur = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        cur.append(name)
        del st
    return "/" + "/".join(cur)


def accessed(log):
    """(pid-local cwd aware) list of (syscall, abs path, follow)."""
    cwd, pending, out = {}, {}, []
    started = chrooted = False
    for raw in open(log, errors="replace"):
        raw = raw.rstrip("\n")
        m = UNFINISHED.match(raw)
        if m:
            pending[m.group(1)] = m.group(2)
            continue
        m = RESUMED.match(raw)
        if m and m.group(1) in pending:
            raw = m.group(1) + " " + pending.pop(m.group(1)) + m.group(3)
        m = LINE.match(raw)
        if not m:
            continue
        pid, call, args, ret = m.groups()
        if call == "chroot":
            chrooted = True  # before it: unshare itself, on the host
            continue
        if chrooted and not started and call == "execve" and not ret.startswith("-"):
            started = True  # the command's own first exec: compare from here
        if not started or ret == "?" or ret.startswith("-"):
            continue
        a = split_args(args)
        if call in ("clone", "clone3", "fork", "vfork"):
            cwd[ret] = cwd.get(pid, "/")
            continue
        if call not in PATH_CALLS:
            continue
        idxs, follow = PATH_CALLS[call]
        flags = " ".join(a)
        if "AT_SYMLINK_NOFOLLOW" in flags or "O_NOFOLLOW" in flags:
            follow = False
        for i in idxs:
            if i >= len(a):
                continue
            p = unquote(a[i])
            if p is None:
                continue
            if p == "" and "AT_EMPTY_PATH" in flags:
                continue
            if not p.startswith("/"):
                base = cwd.get(pid, "/")
                if i > 0 and not a[0].startswith("AT_FDCWD"):
                    base = fd_path(a[0]) or base
                p = os.path.normpath(os.path.join(base, p)) if p else base
            if call == "chdir":
                cwd[pid] = os.path.normpath(p)
            out.append((call, p, follow))
    return out


def main():
    root, log, trace_file = sys.argv[1:4]
    trace = json.load(open(trace_file))
    have = {e["path"] for e in trace["paths"]}
    canon = set()
    for p in have:
        for f in (True, False):
            r = in_root(root, p, f)
            if r:
                canon.add(r)
    missing, checked = [], set()
    for call, p, follow in accessed(log):
        if p.startswith(VIRTUAL) or p in checked:
            continue
        real = in_root(root, p, follow)
        if real is None:
            continue  # not in the image (created at run time, or virtual)
        checked.add(p)
        if p in have or real in have or real in canon:
            continue
        missing.append(f"{call} {p} -> {real}")
    print(f"{len(checked)} existing paths in strace, {len(missing)} missing from the trace "
          f"({len(have)} paths in it)")
    for m in sorted(set(missing))[:40]:
        print("missing:", m)
    return 1 if missing or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
