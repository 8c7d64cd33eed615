# Run by tests/e2e/lazy.sh inside the python fixture (pare run): Python's own
# parser on every source file of the standard library. Prints JSON:
# {"files": {path: [[line, level, module, [names], in_function], ...]},
#  "origins": {top-level module: the file importlib finds, or null}}.
import ast, importlib.util, json, os, sys

root = sys.argv[1]
files, tops = {}, set()

def visit(node, in_function, out):
    for child in ast.iter_child_nodes(node):
        f = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.Import):
            for a in child.names:
                out.append([child.lineno, 0, a.name, [], f])
                tops.add(a.name.split(".")[0])
        elif isinstance(child, ast.ImportFrom):
            names = sorted(a.name for a in child.names if a.name != "*")
            out.append([child.lineno, child.level, child.module or "", names, f])
            if not child.level and child.module:
                tops.add(child.module.split(".")[0])
        visit(child, f, out)

for d, _, names in os.walk(root):
    for n in names:
        if not n.endswith(".py"):
            continue
        p = os.path.join(d, n)
        try:
            tree = ast.parse(open(p, "rb").read(), p)
        except (SyntaxError, ValueError):
            continue
        out = []
        visit(tree, False, out)
        files[p] = out

origins = {}
for t in sorted(tops):
    try:
        spec = importlib.util.find_spec(t)
    except (ImportError, ValueError):
        spec = None
    # pare names the file where it physically is (it keeps the symlinks to it too)
    origins[t] = os.path.realpath(spec.origin) if spec and spec.origin and spec.origin.startswith("/") else None
json.dump({"files": files, "origins": origins}, sys.stdout)
