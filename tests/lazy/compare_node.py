# tests/e2e/lazy.sh: pare's static Node resolution (pare profile imports
# --json) against Node's own require.resolve (node_resolve.js, run in the
# image) for every reference pare found. The file Node resolves to must be
# the module file pare loads (the last it lists that is not a package.json);
# a built-in (no '/') or an unresolvable name must load nothing.
import json, sys

pare_side = json.load(open(sys.argv[1]))
node_side = {(f, s): r for f, s, r in json.load(open(sys.argv[2]))}
bad, checked = [], 0
for f in pare_side:
    for i in f["imports"]:
        want = node_side.get((f["file"], i["module"]), "missing")
        files = [x for x in i["loads"] if not x.endswith("/package.json")]
        got = files[-1] if files else None
        if want is None or (isinstance(want, str) and not want.startswith("/")):
            ok = got is None
        else:
            ok = got == want
        checked += 1
        if not ok:
            bad.append((f["file"], i["line"], i["module"], want, i["loads"]))
print(f"{checked} references checked against require.resolve")
for b in bad[:15]:
    print("differs", b)
sys.exit(1 if bad or not checked else 0)
