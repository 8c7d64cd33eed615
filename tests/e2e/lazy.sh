#!/usr/bin/env bash
# Lazy loading (the seed's Django case): an application under /srv/app
# whose pages read their templates, import their helpers, import a stdlib
# module inside a function and look an encoding up by name, only when
# asked. Slimmed on one page, the slim image must answer the others:
# files no package owns are the application's and its tree is kept whole;
# the static import closure follows the import inside the function; the
# python profile (applied by default) keeps the codecs. With each rule off
# (or over its cap) those pages fail, which shows each rule is needed.
# First on a real framework (a Flask site from Debian's python3-flask, its
# pages served from the slim image), then on a plain app.
# And pare's import scanner against Python's own parser (ast, run in the
# image) on the whole standard library of the fixture; for Node, a module
# required on one path only, and pare's resolution against require.resolve
# (run in the image) on the fixture's modules. Run on the python and node
# fixtures plus layers added with umoci.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
suite=lazy
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

build_fixtures
cp -r "$(fixture python)/oci" "$work/py"
app=$work/app
mkdir -p "$app/templates" "$app/helpers" "$app/data"
cat >"$app/app.py" <<'PY'
import importlib, pathlib, sys
here = pathlib.Path(__file__).parent
page = sys.argv[1] if len(sys.argv) > 1 else "home"
def fraction():
    from fractions import Fraction  # imported only when this page is asked for
    return Fraction(1, 3) * 3

if page == "helper":
    print(importlib.import_module("helpers.extra").value())
elif page == "fraction":
    print(fraction())
elif page == "encoding":
    print(b"\\x41\\u00e9".decode("unicode_escape"))
else:
    print((here / "templates" / (page + ".html")).read_text().strip())
PY
echo '<h1>home page</h1>' >"$app/templates/home.html"
echo '<h1>about page</h1>' >"$app/templates/about.html"
: >"$app/helpers/__init__.py"
printf 'def value():\n    return "helper loaded lazily"\n' >"$app/helpers/extra.py"
head -c 4096 /dev/zero >"$app/data/blob.bin"
mkdir -p "$work/tool" && echo 'an unused tool' >"$work/tool/README"
umoci insert --image "$work/py:latest" --tag app "$app" /srv/app >/dev/null &&
	umoci insert --image "$work/py:app" "$work/tool" /opt/tool >/dev/null

missing() { # TAG PAGE WHAT: that page of the slim image fails for want of WHAT
	! "$PARE" run "oci:$work/py:$1" -- /srv/app/app.py "$2" >/dev/null 2>"$work/$1-$2.err" &&
		grep -q "$3" "$work/$1-$2.err"
}
slim() { # TAG ARGS...: slim probing the home page only
	local tag=$1; shift
	"$PARE" slim "oci:$work/py:app" -o "oci:$work/py:$tag" --report "$work/$tag.json" \
		--exec 'python3 /srv/app/app.py home' "$@" 2>"$work/$tag.err"
}

check "the original answers every page" \
	bash -c "[ \"\$('$PARE' run oci:'$work'/py:app -- /srv/app/app.py about 2>/dev/null)\" = '<h1>about page</h1>' ]"
check "slim on the home page, default flags" slim whole
check "the slim image answers the page no probe asked for (its template is kept)" \
	bash -c "[ \"\$('$PARE' run oci:'$work'/py:whole -- /srv/app/app.py about 2>/dev/null)\" = '<h1>about page</h1>' ]"
check "and the module imported only by another page" \
	bash -c "[ \"\$('$PARE' run oci:'$work'/py:whole -- /srv/app/app.py helper 2>/dev/null)\" = 'helper loaded lazily' ]"
check "a stdlib module imported inside a function of the app is kept (the static import closure)" \
	bash -c "[ \"\$('$PARE' run oci:'$work'/py:whole -- /srv/app/app.py fraction 2>/dev/null)\" = 1 ]"
check "an encoding looked up by name works (the python profile, applied by default)" \
	bash -c "[ \"\$('$PARE' run oci:'$work'/py:whole -- /srv/app/app.py encoding 2>/dev/null)\" = 'Aé' ]"
check "the report says why: fractions.py imported by /srv/app/app.py" \
	jq -e '.paths[] | select(.path == "/usr/lib/python3.11/fractions.py") | .reasons | any(.why == "imported by" and .of == "/srv/app/app.py")' "$work/whole.json"
check "--no-import-closure: slim" slim noimports --no-import-closure
check "--no-import-closure: the page importing in a function fails" missing noimports fraction "No module named 'fractions'"
check "--no-profile python: slim" slim nopython --no-profile python
check "--no-profile python: the encoding is not found" missing nopython encoding "unknown encoding: unicode_escape"
check "the report says why: application tree of /srv/app" \
	jq -e '(.pulled_in | any(.kind == "application" and .name == "/srv/app" and .because == "/srv/app/app.py"))
		and (.paths[] | select(.path == "/srv/app/templates/about.html") | .reasons | any(.why == "application tree of" and .of == "/srv/app"))' "$work/whole.json"
check "the summary names the tree" grep -q 'application trees, kept whole: /srv/app (' "$work/whole.err"
check "an application tree no probe touched is named in a warning, with its size" \
	bash -c "grep -q 'pare: slim: warning: application files no probe touched are left out: /opt/tool (1 file, 15 B)' '$work/whole.err' &&
		jq -e '.warnings | any(startswith(\"application files no probe touched are left out: /opt/tool\"))' '$work/whole.json'"
check "the distribution is still slimmed (no package file pulled in by the rule)" \
	jq -e '[.pulled_in[] | select(.kind == "application")] | length == 1' "$work/whole.json"

check "--no-app-trees: slim" slim off --no-app-trees
check "--no-app-trees: the other page fails, so the rule is what made it work" \
	missing off about "No such file or directory: '/srv/app/templates/about.html'"
check "--no-app-trees: the report has no application tree" \
	jq -e '[.pulled_in[] | select(.kind == "application")] | length == 0' "$work/off.json"

check "--app-tree-max 1k: slim" slim capped --app-tree-max 1k
check "--app-tree-max 1k: a warning names the tree and its size" \
	grep -q 'pare: slim: warning: application tree /srv/app holds 4.[0-9] kB, over the 1.0 kB cap (--app-tree-max)' "$work/capped.err"
check "--app-tree-max 1k: and only what the probe used is kept" \
	missing capped about "No such file or directory: '/srv/app/templates/about.html'"
check "--app-dir names a tree by hand, kept whole with no cap" \
	bash -c "'$PARE' slim oci:'$work'/py:app -o oci:'$work'/py:named --app-tree-max 1k --app-dir /srv/app --exec 'python3 /srv/app/app.py home' 2>/dev/null && [ \"\$('$PARE' run oci:'$work'/py:named -- /srv/app/app.py about 2>/dev/null)\" = '<h1>about page</h1>' ]"
check "--units takes a directory glob: a kept file keeps its directory" \
	bash -c "'$PARE' slim oci:'$work'/py:app -o oci:'$work'/py:unit --no-app-trees --no-import-closure --units '/srv/app/templates' --exec 'python3 /srv/app/app.py home' 2>/dev/null && [ \"\$('$PARE' run oci:'$work'/py:unit -- /srv/app/app.py about 2>/dev/null)\" = '<h1>about page</h1>' ]"
check "--units DIR: and only that directory" missing unit helper "No module named 'helpers'"
check "bad --app-tree-max and --app-dir are usage errors" \
	bash -c "'$PARE' slim x --app-tree-max lots 2>&1 | grep -q \"invalid --app-tree-max 'lots'\"; [ \${PIPESTATUS[0]} -eq 2 ] && '$PARE' slim x --app-dir rel 2>&1 | grep -q \"invalid --app-dir 'rel'\""
# The seed's case with a real framework: a Flask site (Debian's
# python3-flask, Jinja templates) probed on its home page over HTTP, then
# served from the slim image and asked for its other pages.
rt=$("$top/tests/fixtures/build.sh" runtimes | tail -1) && cp -r "$rt/oci" "$work/rt" &&
	umoci insert --image "$work/rt:latest" --tag site "$top/tests/lazy/flask-site" /srv/site >/dev/null
site_slim() { # TAG ARGS...
	local tag=$1; shift
	"$PARE" slim "oci:$work/rt:site" -o "oci:$work/rt:$tag" --entrypoint python3 --http GET:/:8000 "$@" \
		-- /srv/site/app.py 8000 2>"$work/site-$tag.err"
}
# pages TAG PATH...: serve the image TAG on the host's loopback, print
# "PATH STATUS BODY" for each PATH
pages() {
	local tag=$1 port=$((20000 + RANDOM % 20000)) pid
	shift
	"$PARE" run --network host --entrypoint python3 "oci:$work/rt:$tag" /srv/site/app.py $port \
		>/dev/null 2>"$work/serve-$tag.err" &
	pid=$!
	python3 "$top/tests/lazy/get_pages.py" $port "$@"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
check "flask: slim, probing only the home page" site_slim site-slim --report "$work/site.json"
check "flask: the slim image serves the pages no probe asked for (a template, an import in a view, a codec)" \
	bash -c "$(declare -f pages); PARE='$PARE' work='$work' top='$top'; out=\$(pages site-slim /about /fraction /encoding); echo \"\$out\";
		[ \"\$out\" = \"\$(printf '/about 200 <html><body>about page</body></html>\\n/fraction 200 1\\n/encoding 200 Привет')\" ]"
check "flask: a library's except-clause fallback is not followed when its try body resolves (decimal's _pydecimal)" \
	jq -e '[.paths[].path] | (index("/usr/lib/python3.11/decimal.py") != null) and (index("/usr/lib/python3.11/_pydecimal.py") == null)' "$work/site.json"
site_fails() { # TAG PAGE OPTION: with OPTION, PAGE fails
	check "flask: $3: $2 fails, so that rule is needed" \
		bash -c "$(declare -f site_slim pages); PARE='$PARE' work='$work' top='$top'; site_slim $1 $3 &&
			pages $1 $2 | tee /dev/stderr | grep -qx '$2 500'"
}
site_fails no-trees /about --no-app-trees
site_fails no-imports /fraction --no-import-closure
site_fails no-python /encoding '--no-profile python'

# pare's scanner against Python's parser, on every .py of the standard library
ast_vs_pare() {
	"$PARE" run -i --entrypoint python3 "oci:$work/py:latest" - /usr/lib/python3.11 \
		<"$top/tests/lazy/ast_imports.py" >"$work/ast.json" 2>"$work/ast.err" &&
		python3 -c 'import json, sys; print("\n".join(sorted(json.load(open(sys.argv[1]))["files"])))' "$work/ast.json" >"$work/files" &&
		[ "$(wc -l <"$work/files")" -gt 400 ] &&
		xargs -a "$work/files" -d '\n' "$PARE" profile imports --json "oci:$work/py:latest" >"$work/pare.json" &&
		python3 "$top/tests/lazy/compare.py" "$work/ast.json" "$work/pare.json"
}
check "pare profile imports finds what ast finds on the whole stdlib (same lines, scope, names) and resolves top-level modules where importlib does" ast_vs_pare
# Node: an app that requires a Debian-packaged module (/usr/share/nodejs)
# only on one path, which requires another at load (busboy, streamsearch),
# on the node fixture plus a layer.
cp -r "$(fixture node)/oci" "$work/node"
mkdir -p "$work/napp"
cat >"$work/napp/lazy.js" <<'JS'
if (process.argv[2] === 'parse') {
	// loaded only on this path; busboy's own modules require streamsearch
	const busboy = require('busboy');
	const bb = busboy({ headers: { 'content-type': 'multipart/form-data; boundary=x' } });
	console.log(typeof bb.on);
} else {
	console.log('home');
}
JS
umoci insert --image "$work/node:latest" --tag app "$work/napp/lazy.js" /app/lazy.js >/dev/null
nslim() { # TAG ARGS...
	local tag=$1; shift
	"$PARE" slim "oci:$work/node:app" -o "oci:$work/node:$tag" --exec 'node /app/lazy.js home' "$@" 2>"$work/node-$tag.err"
}
check "node: slim on the home path" nslim whole
check "node: a Debian module required only on another path is kept (require followed, node_modules and /usr/share/nodejs resolved)" \
	bash -c "[ \"\$('$PARE' run --entrypoint node oci:'$work'/node:whole /app/lazy.js parse 2>/dev/null)\" = function ]"
check "node: --no-import-closure: slim" nslim noimports --no-import-closure
check "node: --no-import-closure: that path fails" \
	bash -c "! '$PARE' run --entrypoint node oci:'$work'/node:noimports /app/lazy.js parse 2>'$work/nerr' && grep -q \"Cannot find module 'busboy'\" '$work/nerr'"
node_vs_pare() {
	"$PARE" run --entrypoint /bin/sh "oci:$work/node:latest" -c 'find /usr/share/nodejs /app -name "*.js" -not -path "*/test/*"' \
		2>/dev/null >"$work/nfiles" && [ "$(wc -l <"$work/nfiles")" -gt 50 ] &&
		xargs -a "$work/nfiles" -d '\n' "$PARE" profile imports --json "oci:$work/node:latest" >"$work/npare.json" &&
		python3 -c 'import json, sys; json.dump([[f["file"], i["module"]] for f in json.load(open(sys.argv[1])) for i in f["imports"]], sys.stdout)' \
			"$work/npare.json" >"$work/npairs.json" &&
		"$PARE" run -i --entrypoint node "oci:$work/node:latest" -e "$(cat "$top/tests/lazy/node_resolve.js")" \
			<"$work/npairs.json" >"$work/nnode.json" 2>"$work/nnode.err" &&
		python3 "$top/tests/lazy/compare_node.py" "$work/npare.json" "$work/nnode.json"
}
check "node: pare resolves every module reference in the fixture's modules as require.resolve does" node_vs_pare
check "pare profile imports: text output names the line and what loads" \
	bash -c "'$PARE' profile imports oci:'$work'/py:app /srv/app/app.py | grep -qx '/srv/app/app.py:5: fractions (in a function) -> /usr/lib/python3.11/fractions.py'"
finish
