#!/usr/bin/env bash
# The READMEs' examples are tests: every `pare ...` command line that
# README.md and profiles/README.md show runs here, as written, in order, in
# one directory, against real images under a real dockerd. A README edit
# that breaks an example fails `make check`. How a line runs (on a
# terminal, an expected exit code, skipped with a reason) is said by
# markers in the README source; see readme_commands.py.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
export PATH=$top:$PATH
suite=readme
. "$top/tests/e2e/lib.sh"

build_fixtures
start_dockerd
python=$(fixture python)
nginx=$(fixture nginx)
redis=$(fixture redis)

# ---- The placeholders: what each name in the READMEs stands for ----
#   myapp   a web server on port 80: the nginx fixture, as docker-daemon:myapp:latest and myapp.tar
#   mytool  a command-line tool: the python fixture plus /usr/local/bin/mytool (below), entrypoint
#           mytool, cmd --help; as docker-daemon:mytool:latest, mytool.tar and oci:layout:{latest,v1}
#   mydb    a daemon that is not HTTP: the redis fixture, as docker-daemon:mydb:latest
#   py      the python fixture as it is, oci:py:latest
#   conf.d  a directory with one nginx server (port 8081, /hello), for myapp's -v
run=$work/run
mkdir -p "$run"
export PARE_CACHE_DIR=$work/cache
cat >"$work/mytool" <<'PY'
#!/usr/bin/python3
"""mytool: the READMEs' example of a user's own command-line tool."""
import json, sys

def main(args):
    if args == ["--self-test"]:
        print(json.dumps({"self_test": "ok"}))
        return 0
    if len(args) == 2 and args[0] == "greet":
        print(json.dumps({"hello": args[1]}))
        return 0
    print("usage: mytool --self-test | greet NAME")
    return 0 if args == ["--help"] else 2

sys.exit(main(sys.argv[1:]))
PY
chmod 755 "$work/mytool"
setup() {
	cp -r "$python/oci" "$run/py" && cp -r "$python/oci" "$run/layout" &&
		umoci insert --image "$run/layout:latest" "$work/mytool" /usr/local/bin/mytool &&
		umoci config --image "$run/layout:latest" --config.entrypoint mytool --config.cmd=--help &&
		umoci tag --image "$run/layout:latest" v1 && umoci gc --layout "$run/layout" &&
		skopeo copy -q oci:"$run/layout":latest docker-archive:"$run/mytool.tar":mytool:latest &&
		docker load -q -i "$run/mytool.tar" && docker load -q -i "$nginx/image.tar" &&
		docker tag pare-test/nginx:latest myapp:latest && docker save -o "$run/myapp.tar" myapp:latest &&
		docker load -q -i "$redis/image.tar" && docker tag pare-test/redis:latest mydb:latest &&
		mkdir -p "$run/conf.d" &&
		printf 'server {\n listen 8081;\n location /hello { return 200 "hi\\n"; }\n}\n' >"$run/conf.d/hello.conf"
}
check "set-up: the placeholder images (myapp, mytool, mydb, layout, py)" setup
# The registries section's localhost:5000: Debian's docker-registry on
# plain http, as a user runs one next to their CI.
stop_registry() { "$top/tests/e2e/registry_srv.sh" stop "$work/registry"; }
cleanup_hooks+=(stop_registry)
check "set-up: a registry on localhost:5000 (plain http), for the registries section" \
	bash -c "! (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null || { echo 'port 5000 is taken'; exit 1; }
		'$top/tests/e2e/registry_srv.sh' start '$work/registry' 5000 plain"
# The fleet section's FLEET.json, as the README shows it (its commands read it).
check "set-up: FLEET.json, from the README's fleet section" \
	bash -c "awk '/^    \{\"max_layers\"/ { on = 1 } on && /^\$/ { exit } on { sub(/^    /, \"\"); print }' '$top/README.md' >'$run/FLEET.json' &&
		jq -e '.images | length == 2' '$run/FLEET.json'"

# ---- Every command line, in order ----
check "the READMEs' commands can be read" \
	bash -c "python3 '$top/tests/e2e/readme_commands.py' '$top/README.md' '$top/profiles/README.md' >'$work/commands.jsonl'"
while IFS= read -r entry; do
	where=$(jq -r --arg top "$top/" '"\(.file | ltrimstr($top)):\(.line)"' <<<"$entry")
	cmd=$(jq -r .cmd <<<"$entry")
	mode=$(jq -r .mode <<<"$entry")
	want=$(jq -r .exit <<<"$entry")
	name="$where: $cmd"
	case $mode in
	skip)
		skip "$name" "$(jq -r .reason <<<"$entry")" ;;
	session) # on a terminal, typing the lines the README shows
		jq -r '.input[]' <<<"$entry" >"$work/typed"
		check "$name" bash -c "cd '$run' && timeout 120 script -qec $(printf %q "$cmd") /dev/null <'$work/typed'" ;;
	*)
		check "$name" bash -c "cd '$run'; timeout 300 bash -c $(printf %q "$cmd") </dev/null; rc=\$?; [ \$rc -eq $want ] || { echo \"exit \$rc, expected $want\"; exit 1; }" ;;
	esac
done <"$work/commands.jsonl"
check "at least 30 commands were found ($(wc -l <"$work/commands.jsonl"))" [ "$(wc -l <"$work/commands.jsonl")" -ge 30 ]

# ---- What the READMEs' comments promise about those commands ----
check "myapp.tar was slimmed into myapp-slim.tar, tagged myapp:latest-slim" \
	bash -c "tar -xOf '$run/myapp-slim.tar' manifest.json | jq -e '.[0].RepoTags == [\"myapp:latest-slim\"]'"
check "docker-daemon:mytool:latest was slimmed into mytool:latest-slim, which runs its self-test" \
	bash -c "docker run --rm --pull never mytool:latest-slim --self-test | grep -q '\"self_test\": \"ok\"'"
check "oci:layout:v1 got the tag v1-slim next to v1" \
	bash -c "jq -e '[.manifests[].annotations[\"org.opencontainers.image.ref.name\"]] | index(\"v1-slim\") and index(\"v1\")' '$run/layout/index.json'"
check "the command after -- was the probe: the slim mytool greets, as verified" \
	bash -c "'$PARE' run oci:'$run/out':mytool greet world | grep -q '\"hello\": \"world\"'"
check "... and on an input the probe did not use" \
	bash -c "'$PARE' run oci:'$run/out':mytool greet 'Zoë Ünïcode' | grep -q 'Zo'"
slim_answers() { # the slim image has no curl: ask from the original, in the slim one's network
	local cid ok=1
	cid=$(docker run -d --pull never myapp:slim) || return 1
	for _ in $(seq 50); do
		docker run --rm --pull never --network "container:$cid" --entrypoint curl myapp:latest -sf http://127.0.0.1/ |
			grep -q 'hello from pare' && { ok=0; break; }
		sleep 0.2
	done
	docker rm -f "$cid" >/dev/null
	return $ok
}
check "docker-daemon:myapp:slim runs under docker and answers GET /" slim_answers
db_answers() { # mydb:latest-slim under docker, asked what the probe did not ask
	local cid out
	cid=$(docker run -d --pull never --network none mydb:latest-slim) || return 1
	for _ in $(seq 50); do out=$(docker exec "$cid" redis-cli incr n 2>&1) && break; sleep 0.2; done
	docker rm -f "$cid" >/dev/null
	[ "$out" = 1 ]
}
check "docker-daemon:mydb:latest was slimmed into mydb:latest-slim, which runs under docker and answers" db_answers
check "README outputs follow the umask (0644 files)" \
	bash -c "[ \"\$(stat -c %a '$run/myapp-slim.tar')\" = 644 ]"
finish
