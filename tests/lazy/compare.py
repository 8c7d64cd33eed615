# tests/e2e/lazy.sh: pare's static import scan (pare profile imports
# --json) against Python's own parser (ast_imports.py) on the same files.
# Every import ast finds, pare finds, in the same place and function
# scope, with the same names; pare finds none that ast does not; and where
# importlib finds a top-level module as a file, pare loads that file.
import json, sys

ast_side = json.load(open(sys.argv[1]))
pare_side = json.load(open(sys.argv[2]))
missing, extra, wrong_origin, checked = [], [], [], 0
for f in pare_side:
    want = {(l, lv, m, tuple(n), fn) for l, lv, m, n, fn in ast_side["files"].get(f["path"], [])}
    got = {(i["line"], i["level"], i["module"], tuple(sorted(x for x in i["names"] if x != "*")),
            i["in_function"]) for i in f["imports"] if not i["call"]}
    missing += [(f["path"], w) for w in want - got]
    extra += [(f["path"], g) for g in got - want]
    for i in f["imports"]:
        origin = ast_side["origins"].get(i["module"]) if i["level"] == 0 and "." not in i["module"] else None
        if origin and not i["call"]:
            checked += 1
            if not i["loads"] or i["loads"][0] != origin:
                wrong_origin.append((f["path"], i["line"], i["module"], origin, i["loads"]))
print(f"{len(pare_side)} files, {sum(len(f['imports']) for f in pare_side)} imports, "
      f"{checked} resolutions checked against importlib")
for what, v in (("missed", missing), ("extra", extra), ("resolved elsewhere", wrong_origin)):
    for x in v[:10]:
        print(what, x)
sys.exit(1 if missing or extra or wrong_origin else 0)
