#!/usr/bin/env bash
# Daemons probed as they run (issue 16): memcached (not HTTP) and
# PostgreSQL (Debian's own cluster), each under its real entrypoint and
# user, with --exec probes beside it as docker exec runs them. Each slim
# image is then run under a real dockerd and asked what no probe asked.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
suite=daemons
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

echo "# building the daemon fixtures (cached)"
fx=$("$top/tests/fixtures/build.sh" memcached postgres python) || { echo "fixture build failed"; exit 1; }
mc=$(grep /memcached- <<<"$fx") pg=$(grep /postgres- <<<"$fx") py=$(grep /python- <<<"$fx")
cp -r "$mc/oci" "$work/mc" && cp -r "$pg/oci" "$work/pg" && cp -r "$py/oci" "$work/py"
start_dockerd

# memcached's text protocol over bash's /dev/tcp, from inside the sandbox.
mc_ask() { printf "bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211; printf \"%s\\\\r\\\\nquit\\\\r\\\\n\" >&3; cat <&3'" "$1"; }
MC_SET=$(mc_ask 'set k 0 0 5\r\nhello\r\nget k')
MC_STATS=$(mc_ask 'stats')

# ---- memcached ----
check "memcached: no probe given: its port accepts, it is not HTTP, and that passes (noted)" \
	bash -c "'$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':plain --report '$work/mc-plain.json' 2>'$work/err'; r=\$?; cat '$work/err'; [ \$r -eq 0 ] &&
		jq -e '.probes | length == 1 and .[0].note == \"accepts connections; not HTTP\" and .[0].runs == \"beside the entrypoint\"' '$work/mc-plain.json'"
check "memcached: --exec beside the running daemon, as its own user, --verify" \
	bash -c "'$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':slim --verify --report '$work/mc.json' --exec \"\$1\" --exec 'id -un' 2>'$work/err'; r=\$?; cat '$work/err'; [ \$r -eq 0 ] &&
		grep -q 'probes: 2 passed (beside the running entrypoint)' '$work/err' &&
		jq -e '.verify == \"same\" and (.probes | all(.runs == \"beside the entrypoint\" and .ok)) and .probes[0].stdout_bytes > 20' '$work/mc.json'" _ "$MC_SET"
check "memcached: the probes ran as user memcache (the image's user), not root" \
	bash -c "[ \"\$(jq -r '.probes[1].stdout_sha256' '$work/mc.json')\" = \"sha256:\$(printf 'memcache\\n' | sha256sum | cut -d' ' -f1)\" ]"
mc_docker() { # the slim image under docker, asked for stats (no probe did)
	local c out
	c=$(docker run --pull never -d --network none "$1") || return 1
	sleep 1
	out=$(docker exec "$c" sh -c "$MC_STATS")
	docker rm -f "$c" >/dev/null
	grep -q '^STAT curr_connections' <<<"$out"
}
check "memcached: the slim image runs under docker and answers a command no probe sent" \
	bash -c "$(declare -f mc_docker); MC_STATS=\$1; '$PARE' copy oci:'$work/mc':slim docker-daemon:pare-daemons/mc:slim && mc_docker pare-daemons/mc:slim" _ "$MC_STATS"
check "memcached: a --run probe runs in place of the entrypoint, said in the report" \
	bash -c "'$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':run --report '$work/mc-run.json' --run 'memcached -V' 2>/dev/null &&
		jq -e '.probes | length == 1 and .[0].runs == \"in place of the entrypoint\" and .[0].ok' '$work/mc-run.json'"
check "memcached: a port that never opens: not ready, naming the port, within --timeout" \
	bash -c "start=\$(date +%s); ! '$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':x --wait-port 9999 --timeout 3 --exec true 2>'$work/err'; cat '$work/err';
		grep -q 'not ready for the probes' '$work/err' && grep -q 9999 '$work/err' && [ \$((\$(date +%s) - start)) -lt 30 ]"
check "memcached: a probe that exits non-zero beside the daemon fails the slim, with its output" \
	bash -c "! '$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':x --exec 'echo out-line; echo err-line >&2; exit 3' 2>'$work/err'; cat '$work/err';
		grep -q 'exited with 3' '$work/err' && grep -qx '  | out-line' '$work/err' && grep -qx '  | err-line' '$work/err'"
check "memcached: a probe past --probe-timeout is killed and fails the slim" \
	bash -c "start=\$(date +%s); ! '$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':x --probe-timeout 1 --exec 'sleep 60' 2>'$work/err'; cat '$work/err';
		grep -q 'timed out after 1 s (--probe-timeout)' '$work/err' && [ \$((\$(date +%s) - start)) -lt 40 ]"
check "memcached: a --wait-cmd that never succeeds: not ready, naming the command" \
	bash -c "! '$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':x --wait-cmd 'exit 1' --timeout 2 --exec true 2>'$work/err'; cat '$work/err';
		grep -q \"exited with 1 when the readiness timeout ran out (waiting until --wait-cmd 'exit 1' succeeded)\" '$work/err'"
check "memcached: --wait-cmd decides readiness (retried until it succeeds)" \
	bash -c "'$PARE' slim oci:'$work/mc':latest -o oci:'$work/mc':wc --report '$work/mc-wc.json' --wait-cmd \"\$1\" --exec \"\$2\" 2>/dev/null &&
		jq -e '.probes | length == 1 and .[0].ok' '$work/mc-wc.json'" _ "$(mc_ask 'version') | grep -q VERSION" "$MC_SET"

# ---- PostgreSQL ----
PG_PROBE="psql -Atc 'select count(*) from pg_database'"
check "postgres: no probe given: port 5432 accepts, the answer is not HTTP, and that passes (noted)" \
	bash -c "'$PARE' slim oci:'$work/pg':latest -o oci:'$work/pg':plain --report '$work/pg-plain.json' 2>'$work/err'; r=\$?; cat '$work/err'; [ \$r -eq 0 ] &&
		jq -e '.probes | length == 1 and .[0].note == \"accepts connections; not HTTP\"' '$work/pg-plain.json'"
check "postgres: --exec psql beside the running server (peer auth as postgres), --wait-cmd pg_isready, --verify" \
	bash -c "'$PARE' slim oci:'$work/pg':latest -o oci:'$work/pg':slim --verify --report '$work/pg.json' --wait-cmd 'pg_isready -q' --exec \"\$1\" 2>'$work/err'; r=\$?; cat '$work/err'; [ \$r -eq 0 ] &&
		jq -e '.verify == \"same\" and .probes[0].ok and .probes[0].runs == \"beside the entrypoint\"' '$work/pg.json'" _ "$PG_PROBE"
check "postgres: the slim image is much smaller" \
	jq -e '.after.bytes * 2 < .before.bytes' "$work/pg.json"
check "postgres: the cluster's data directory is kept whole (an application tree)" \
	jq -e '[.pulled_in[]? | select(.kind == "application") | .name] | any(test("postgresql"))' "$work/pg.json"
pg_docker() { # the slim image under docker: SQL no probe sent
	# (a new database copies template1, a new table makes new files)
	local c out
	c=$(docker run --pull never -d --network none "$1") || return 1
	for _ in $(seq 50); do docker exec "$c" pg_isready -q && break; sleep 0.2; done
	out=$(docker exec "$c" sh -c "psql -qc 'create database shop' && psql -d shop -Atc 'create table t (a int); insert into t values (41), (1); select sum(a) from t'" 2>&1)
	echo "$out"
	docker logs "$c" 2>&1 | tail -5
	docker rm -f "$c" >/dev/null
	[ "$(tail -1 <<<"$out")" = 42 ]
}
check "postgres: the slim image runs under docker: createdb, a table, a query (no probe did)" \
	bash -c "$(declare -f pg_docker); '$PARE' copy oci:'$work/pg':slim docker-daemon:pare-daemons/pg:slim && pg_docker pare-daemons/pg:slim"
check "postgres: with the data directory over --app-tree-max, pare warns where the server wrote and names --app-dir" \
	bash -c "'$PARE' slim oci:'$work/pg':latest -o oci:'$work/pg':cap --app-tree-max 1m --wait-cmd 'pg_isready -q' --exec \"\$1\" 2>'$work/err'; r=\$?; cat '$work/err'; [ \$r -eq 0 ] &&
		grep -q 'a probe wrote /var/lib/postgresql/15/main/.* keep them with --app-dir /var/lib/postgresql/15/main' '$work/err'" _ "$PG_PROBE"
# The postgres profile, needed and sufficient: text search reads its stop
# words from share/tsearch_data only when a query asks for them.
pg_sql() { # IMAGE SQL: the answer of the image's server under docker
	local c out
	c=$(docker run --pull never -d --network none "$1") || return 1
	for _ in $(seq 50); do docker exec "$c" pg_isready -q && break; sleep 0.2; done
	docker exec "$c" psql -Atc "$2" 2>&1
	docker rm -f "$c" >/dev/null
}
TS="select to_tsvector('english', 'the running dogs')"
check "postgres: applied by default because the probe ran postgres" \
	jq -e '[.profiles[].name] | index("postgres") != null' "$work/pg.json"
check "postgres: text search works in the default slim image (no probe used it)" \
	bash -c "$(declare -f pg_sql); [ \"\$(pg_sql pare-daemons/pg:slim \"\$1\")\" = \"'dog':3 'run':2\" ]" _ "$TS"
check "postgres: and fails with --no-profile postgres (its text search module is gone)" \
	bash -c "$(declare -f pg_sql); '$PARE' slim oci:'$work/pg':latest -o docker-daemon:pare-daemons/pg:noprof --no-profile postgres --wait-cmd 'pg_isready -q' --exec \"\$2\" 2>/dev/null &&
		out=\$(pg_sql pare-daemons/pg:noprof \"\$1\"); echo \"\$out\"; grep -q 'dict_snowball' <<<\"\$out\"" _ "$TS" "$PG_PROBE"

# ---- the one-shot rule ----
check "an image with no exposed port and no --wait-*: --exec runs in place of the entrypoint, and pare says so" \
	bash -c "'$PARE' slim oci:'$work/py':latest -o oci:'$work/py':os --report '$work/py.json' --exec 'python3 -c \"print(2)\"' 2>'$work/err'; cat '$work/err';
		grep -q 'one-shot image' '$work/err' && jq -e '.probes[0].runs == \"in place of the entrypoint\"' '$work/py.json'"

finish
