#!/usr/bin/env bash
# Keep-list profiles on real images: every built-in profile is shown needed
# (a program that needs it fails in a slim image made without it) and
# sufficient (the same program works in one made with it); package units
# (dpkg, dist-info); the `pare profile` commands; strict validation.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
suite=profiles
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache
export HOME=$work/home # no user profiles but the ones made here

build_fixtures
for f in "${fixtures[@]}"; do n=$(basename "$f"); n=${n%-*}; cp -r "$f/oci" "$work/$n"; done

# slim FIXTURE TAG PROBE [OPTIONS...]: a slim image of FIXTURE as TAG.
slim() {
	local fx=$1 tag=$2 probe=$3
	shift 3
	"$PARE" slim -o "oci:$work/$fx:$tag" --report "$work/$fx-$tag.json" --exec "$probe" "$@" \
		"oci:$work/$fx:latest"
}
# in FIXTURE TAG CMD: run CMD with the slim image's /bin/sh.
run_in() { "$PARE" run --entrypoint /bin/sh "oci:$work/$1:$2" -c "$3"; }

# needs NAME FIXTURE PROBE CHECK BASE-OPTIONS: slim without (--no-profile,
# for those applied by default) and with the profile; CHECK must fail in
# the first and pass in the second.
needs() {
	local name=$1 fx=$2 probe=$3 chk=$4 base=$5
	# shellcheck disable=SC2086 # BASE-OPTIONS are words
	check "$name: slim $fx without and with --profile $name" \
		bash -c "$(declare -f slim); PARE='$PARE' work='$work'; slim $fx no-$name '$probe' $base --no-profile $name && slim $fx with-$name '$probe' $base --profile $name"
	check "$name: '$chk' fails without the profile" bash -c "$(declare -f run_in); PARE='$PARE' work='$work'; ! run_in $fx no-$name '$chk'"
	check "$name: '$chk' works with it" bash -c "$(declare -f run_in); PARE='$PARE' work='$work'; run_in $fx with-$name '$chk'"
}

echo "# built-in profiles: needed and sufficient"
needs tzdata python 'date' '[ "$(TZ=Europe/Paris date +%Z)" = CET ] || [ "$(TZ=Europe/Paris date +%Z)" = CEST ]' ''
check "base: applied by default, naming its profiles in the report (certs by default too)" \
	jq -e '([.profiles[].name] == ["users", "nss", "base", "tzdata", "certs"]) and ([.paths[] | select(.path == "/etc/passwd") | .reasons[0] | .profile == "users" and .rule == "/etc/passwd"] == [true])' \
	"$work/python-with-tzdata.json"
check "certs and tzdata apply by default when the image has them: time zones and CA certificates work with no --profile" \
	bash -c "$(declare -f slim run_in); PARE='$PARE' work='$work'; slim python defaults 'date' && run_in python defaults '[ \"\$(TZ=Asia/Tokyo date +%Z)\" = JST ] && test -s /etc/ssl/certs/ca-certificates.crt'"
needs certs python 'python3 -c "import ssl"' \
	'python3 -c "import ssl; n = len(ssl.create_default_context().get_ca_certs()); assert n > 100, n"' ''
check "python applies by default when the probes ran python3, not otherwise" \
	jq -e -s '([.[0].profiles[].name] | index("python") == null and index("certs") != null) and ([.[1].profiles[].name] | index("python") != null)' \
	"$work/python-defaults.json" "$work/python-no-certs.json"
needs users python 'getent --version' 'getent passwd root' --no-default-profiles
needs nss python 'getent --version' 'getent services http && getent protocols tcp' --no-default-profiles
needs locale python 'python3 -c "import locale"' \
	'LC_ALL=C.UTF-8 python3 -c "import locale; locale.setlocale(locale.LC_ALL, str())"' ''
needs shell python 'python3 -c pass' 'ls / >/dev/null && grep -q root /etc/passwd && id -u' ''
needs python python 'python3 -c "import pare_demo"' 'python3 -c "import pare_demo.lazy"' ''
check "python: the stdlib's lazily imported codecs come with it" \
	bash -c "$(declare -f run_in); PARE='$PARE' work='$work'; run_in python with-python 'python3 -c \"print(bytes([128]).decode(\\\"cp1252\\\"))\"' && ! run_in python no-python 'python3 -c \"bytes([128]).decode(\\\"cp1252\\\")\"'"
check "python: the report names the unit, its rule and profile" \
	jq -e '[.paths[] | select(.path == "/usr/local/lib/python3.11/dist-packages/pare_demo/lazy.py") | .reasons[]
		| select(.why == "unit" and .profile == "python" and .rule == "/**/dist-packages/[!_]*"
			and .unit == "/usr/local/lib/python3.11/dist-packages/pare_demo")] | length == 1' "$work/python-with-python.json"
# The node profile keeps a module whole where neither the application-tree
# rule nor the import closure applies (a module of the distribution, a
# computed require): both are off here to show the profile alone.
needs node node 'node -e "require(\"greet\").hi(); require(\"@pare/shout\")"' \
	'node -e "console.log(require(\"greet\").extra(), require(\"@pare/shout\").shout(\"a\"))"' '--no-app-trees --no-import-closure'
check "node: a scoped module is its own unit, not its whole scope" \
	jq -e '[.pulled_in[] | select(.kind == "unit") | .name] | index("/app/node_modules/@pare/shout") != null and index("/app/node_modules/@pare") == null' \
	"$work/node-with-node.json"
needs debian-packages python 'python3 -c "import json, pare_demo"' 'python3 -c "import this" >/dev/null && pare-demo' ''
check "debian-packages: the report says which packages came in and why" \
	jq -e '([.pulled_in[] | select(.kind == "debian" and .name == "libpython3.11-stdlib" and .profile == "debian-packages")] | length == 1)
		and ([.pulled_in[] | select(.kind == "python" and .name == "pare_demo-1.0" and .because == "/usr/local/lib/python3.11/dist-packages/pare_demo/__init__.py")] | length == 1)' \
	"$work/python-with-debian-packages.json"
check "debian-packages: documentation stays out, --units debian-docs brings it" \
	bash -c "$(declare -f run_in slim); PARE='$PARE' work='$work'; ! run_in python with-debian-packages 'test -e /usr/share/doc/libpython3.11-stdlib/copyright' &&
		slim python docs 'python3 -c \"import json\"' --units debian-docs && run_in python docs 'test -e /usr/share/doc/libpython3.11-stdlib/copyright'"

# nginx: a user's config that uses the standard params files (docker mounts it).
start_dockerd
cat >"$work/php.conf" <<'EOF'
server {
	listen 8081;
	location ~ \.php$ { include snippets/fastcgi-php.conf; fastcgi_pass 127.0.0.1:9000; }
	location /u { include uwsgi_params; uwsgi_pass 127.0.0.1:9001; }
}
EOF
nginx_t() { # TAG: nginx -t in docker with php.conf mounted
	"$PARE" copy "oci:$work/nginx:$1" "docker-daemon:pare-prof/nginx:$1" >/dev/null &&
		docker run --pull never --rm --network none -v "$work/php.conf:/etc/nginx/conf.d/php.conf:ro" "pare-prof/nginx:$1" -t
}
check "nginx: slim without and with --profile nginx" \
	bash -c "'$PARE' slim -o oci:'$work/nginx:no-nginx' --http / oci:'$work/nginx:latest' && '$PARE' slim -o oci:'$work/nginx:with-nginx' --http / --profile nginx oci:'$work/nginx:latest'"
check "nginx: a config including fastcgi/uwsgi params fails 'nginx -t' without the profile" bash -c "$(declare -f nginx_t); PARE='$PARE' work='$work'; ! nginx_t no-nginx"
check "nginx: and passes with it" bash -c "$(declare -f nginx_t); PARE='$PARE' work='$work'; nginx_t with-nginx"

echo "# pare profile list, show, check"
mkdir -p "$work/pd" "$HOME/.config/pare/profiles"
check "list: the built-ins, described" \
	bash -c "'$PARE' profile list --json | jq -e '([.[] | select(.source == \"built-in\") | .name] | sort == [\"base\",\"certs\",\"debian-packages\",\"gconv\",\"git\",\"java\",\"locale\",\"nginx\",\"node\",\"nss\",\"php\",\"postgres\",\"python\",\"ruby\",\"shell\",\"tzdata\",\"users\"]) and all(.[]; .description | length > 20)'"
printf '{"name": "tzdata", "description": "mine", "keep": ["/etc/localtime"]}\n' >"$HOME/.config/pare/profiles/tzdata.json"
printf '{"name": "extra", "include": ["tzdata"], "keep": ["/opt/**"]}\n' >"$work/pd/extra.json"
check "list: --profile-dir, then ~/.config/pare/profiles, then built-ins; shadowed ones marked" \
	bash -c "'$PARE' profile list --profile-dir '$work/pd' --json | jq -e '.[0].name == \"extra\" and .[1].name == \"tzdata\" and .[1].shadowed == false and ([.[] | select(.name == \"tzdata\" and .source == \"built-in\")][0].shadowed)'"
check "show: a user profile shadows the built-in of the same name" \
	bash -c "'$PARE' profile show tzdata | jq -e '.description == \"mine\"'"
rm "$HOME/.config/pare/profiles/tzdata.json"
check "show: the built-in, as its file says" \
	bash -c "diff <('$PARE' profile show tzdata | jq -S .) <(jq -S . '$top/profiles/tzdata.json')"
check "check: every built-in profile is valid" \
	bash -c "for p in '$top'/profiles/*.json; do '$PARE' profile check \"\$p\" || exit 1; done"
bad() { # NAME JSON EXPECTED-MESSAGE
	printf '%s\n' "$2" >"$work/pd/$1.json"
	MSG=$3 FILE=$work/pd/$1.json check "check: $1 is refused with the file and key named" \
		bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' profile check --profile-dir '$work/pd' $1 && grep -qF -- \"\$MSG\" '$work/err' && grep -qF \"\$FILE\" '$work/err'"
}
printf '{"name": "cycle-b", "include": ["cycle-a"]}\n' >"$work/pd/cycle-b.json"
bad unknown-key '{"name": "unknown-key", "kepe": ["/x"]}' "unknown key 'kepe'"
bad bad-glob '{"name": "bad-glob", "keep": ["/usr/**x"]}' "key 'keep' item 1: '/usr/**x' is not"
bad relative '{"name": "relative", "exclude": ["usr/lib"]}' "key 'exclude' item 1"
bad bad-unit '{"name": "bad-unit", "units": ["rpm"]}' "key 'units' item 1: 'rpm' is neither"
bad not-list '{"name": "not-list", "keep": "/etc"}' "key 'keep': not a list"
bad cycle-a '{"name": "cycle-a", "include": ["cycle-b"]}' "include cycle cycle-a -> cycle-b -> cycle-a"
bad missing-include '{"name": "missing-include", "include": ["nope"]}' "no profile named 'nope'"
bad wrong-name '{"name": "other"}' "does not match the file name"
check "check with an image: rules matching nothing are listed" \
	bash -c "'$PARE' profile check --json python oci:'$work/python:latest' | jq -e '.unmatched > 0 and ([.rules[] | select(.rule == \"/usr/local/lib/python3*/encodings/**\")][0].matches == 0) and ([.rules[] | select(.rule == \"/usr/lib/python3*/encodings/**\")][0].matches > 50)'"
check "slim: an unknown profile fails before anything runs or is written" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' slim --profile nope -o oci:'$work/python:never' oci:'$work/python:latest' && ! skopeo inspect oci:'$work/python:never' >/dev/null 2>&1"
check "slim: an unknown --units kind is a usage error" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' slim --units rpm oci:'$work/python:latest'"

echo "# from-trace, merge, explain: the README's worked example"
# An interactive `pare probe --shell` session (typed through script(1)'s
# terminal): look at time zones and the CA bundle.
session() {
	printf '%s\n' 'for f in /usr/share/zoneinfo/Europe/*; do cat "$f"; done >/dev/null' \
		'cat /etc/ssl/certs/ca-certificates.crt >/dev/null' exit |
		timeout 60 script -qec "'$PARE' probe --shell -o '$work/session.json' oci:'$work/python:latest'" /dev/null
}
check "probe --shell: an interactive session reading zoneinfo/Europe and the CA bundle, saved as a trace" \
	bash -c "$(declare -f session); PARE='$PARE' work='$work'; session && jq -e '.paths | map(.path) | index(\"/usr/share/zoneinfo/Europe/Paris\")' '$work/session.json'"
check "from-trace: a whole directory becomes one glob, and it says how many paths it covers" \
	bash -c "'$PARE' profile from-trace -o '$work/session-prof.json' '$work/session.json' 2>'$work/ft.err' && cat '$work/ft.err' &&
		grep -E '/usr/share/zoneinfo/Europe/\\*\\* covers [0-9]{2,} paths' '$work/ft.err' &&
		jq -e '.name == \"session-prof\" and (.keep | index(\"/usr/share/zoneinfo/Europe/**\")) and (.keep | index(\"/etc/ssl/certs/ca-certificates.crt\"))' '$work/session-prof.json'"
check "from-trace: --min-files keeps small directories as paths" \
	bash -c "'$PARE' profile from-trace --min-files 1000 '$work/session.json' | jq -e '(.keep | index(\"/usr/share/zoneinfo/Europe/**\")) == null'"
check "from-trace: the profile is used by a slim, and the session's files are there" \
	bash -c "$(declare -f slim run_in); PARE='$PARE' work='$work'; slim python session 'python3 -c pass' --profile '$work/session-prof.json' &&
		run_in python session 'test -s /usr/share/zoneinfo/Europe/Paris && test -s /etc/ssl/certs/ca-certificates.crt'"
check "merge: one profile with the rules of both, in order" \
	bash -c "'$PARE' profile merge -o '$work/merged.json' tzdata '$work/session-prof.json' --name mine && jq -e '.name == \"mine\" and .keep[0] == \"/usr/share/zoneinfo/**\" and (.keep | index(\"/etc/ssl/certs/ca-certificates.crt\"))' '$work/merged.json' && '$PARE' profile check '$work/merged.json'"
check "merge: an include of a merged profile is dropped (it would include itself)" \
	bash -c "'$PARE' profile merge --profile-dir '$work/pd' extra tzdata | jq -e '.include == null'"
check "explain: a package unit's path, down to the traced file that pulled it in" \
	bash -c "'$PARE' profile explain --report '$work/python-with-debian-packages.json' /usr/lib/python3.11/this.py | tee /dev/stderr | grep -q 'debian package libpython3.11-stdlib' &&
		'$PARE' profile explain --report '$work/python-with-debian-packages.json' /usr/lib/python3.11/this.py | grep -q 'traced .* by /usr/bin/python3.11'"
check "explain: a library named through the merged-/usr symlink, and its DT_NEEDED chain" \
	bash -c "'$PARE' profile explain --report '$work/python-with-python.json' /lib/x86_64-linux-gnu/libc.so.6 >'$work/ex.out'; cat '$work/ex.out';
		grep -q 'reached through symlinks as /usr/lib/x86_64-linux-gnu/libc.so.6' '$work/ex.out' && grep -q 'needed by' '$work/ex.out'"
check "explain: a profile rule names its profile" \
	bash -c "'$PARE' profile explain --report '$work/python-with-tzdata.json' /usr/share/zoneinfo/Europe/Paris | grep -q \"rule '/usr/share/zoneinfo/\\*\\*' of profile tzdata\""
check "explain: a path that is not there exits 1 and says so" \
	bash -c "! '$PARE' profile explain --report '$work/python-no-tzdata.json' /usr/share/zoneinfo/Europe/Paris >'$work/ex.out'; grep -q 'is not in' '$work/ex.out'"
check "explain: a traced path dropped by --exclude names the rule" \
	bash -c "$(declare -f slim); PARE='$PARE' work='$work'; slim python excl 'python3 -c \"import json\"' --exclude /usr/lib/python3.11/json/scanner.py &&
		! '$PARE' profile explain --report '$work/python-excl.json' /usr/lib/python3.11/json/scanner.py >'$work/ex.out'; cat '$work/ex.out';
		grep -q \"exclude rule '/usr/lib/python3.11/json/scanner.py'\" '$work/ex.out'"
check "explain --json: the reasons as the report holds them" \
	bash -c "'$PARE' profile explain --json --report '$work/python-with-tzdata.json' /usr/share/zoneinfo/Europe/Paris | jq -e '.kept and .reasons[0].profile == \"tzdata\"'"
check "errors: an unknown profile command is a usage error" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' profile nope"
check "errors: explain needs --report" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' profile explain /etc/passwd"
mkfifo "$work/report.fifo"
check "errors: explain with a FIFO as the report: refused at once, named" \
	timeout 10 bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' profile explain --report '$work/report.fifo' /etc/passwd && grep -q 'report.fifo.* is a FIFO' '$work/err'"
check "errors: from-trace of a missing trace names it" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 1 '$PARE' profile from-trace '$work/none.json' && grep -q \"trace: cannot read '$work/none.json'\" '$work/err'"
check "errors: merge of one profile is a usage error" \
	bash -c "$(declare -f one_line_error); work='$work'; one_line_error 2 '$PARE' profile merge tzdata"

finish
