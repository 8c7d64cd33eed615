#!/usr/bin/env bash
# First contact: the command line people type after docker and skopeo, the
# names they use, errors that say what to do, output that tells the truth,
# and the unpack cache. Each check runs pare as a user would and reads what
# it printed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
export PATH=$top:$PATH
suite=cli
. "$top/tests/e2e/lib.sh"

build_fixtures
python=$(fixture python)
nginx=$(fixture nginx)
d=$work/d
mkdir -p "$d"
cp "$python/image.tar" "$d/app.tar"
cp -r "$python/oci" "$d/py"
export PARE_CACHE_DIR=$work/cache
cd "$d" || exit 1
PROBE='python3 -c "import json; print(json.dumps([1]))"'

# ---- The grammar ----
check "slim: options after the image (GNU style)" \
	bash -c "'$PARE' slim oci:py:latest -o oci:py:after --exec '$PROBE' --verify 2>err && grep -q 'verify: the slim image behaves the same' err"
check "slim: a command after -- replaces the image's cmd for the probes" \
	bash -c "'$PARE' slim oci:py:latest -o oci:py:cmd --verify -- -c 'import csv; print(42)' 2>err && '$PARE' run oci:py:cmd -c 'import csv; print(43)' | grep -qx 43"
check "slim: a word after the image without -- is a usage error that says where commands go" \
	bash -c "one_line_error_n 2 3 '$PARE' slim oci:py:latest -o oci:py:x python3 -c 1 && grep -q \"unexpected argument 'python3' after the image; a command to run in place of the image's goes after '--'\" '$work/err'"
check "slim: the image's own option without -- (pare slim REF -g ...) hints at --" \
	bash -c "one_line_error_n 2 2 '$PARE' slim oci:py:latest --http / -g 'daemon off;' && grep -q \"option '-g' needs a value or is unknown; a command to run in place of the image's goes after '--'\" '$work/err'"
check "probe: '--' right after the image is not part of the command (docker's grammar)" \
	bash -c "'$PARE' probe -o '$work/t.json' oci:py:latest -- -c 'print(7)' >out 2>err && grep -qx 7 out"
check "run: options before the image belong to pare, after it to the program" \
	bash -c "'$PARE' run -e X=1 oci:py:latest -c 'import os; print(os.environ[\"X\"])' | grep -qx 1"
check "inspect, unpack, copy: options after the arguments" \
	bash -c "'$PARE' inspect oci:py:latest --json | jq -e .layers >/dev/null && '$PARE' unpack oci:py:latest '$work/tree' --max-json 16M && test -d '$work/tree/etc' && '$PARE' copy oci:py:latest oci:'$work/cp':x --platform linux/amd64"

# ---- Names ----
check "docker-archive: a familiar name finds the docker.io/... RepoTag, as docker and skopeo do" \
	bash -c "tar -xOf app.tar manifest.json | jq -e '.[0].RepoTags[0] == \"docker.io/pare-test/python:latest\"' && '$PARE' inspect docker-archive:app.tar:pare-test/python:latest | grep -q '^Image:' && '$PARE' inspect docker-archive:app.tar:pare-test/python | grep -q '^Image:'"
check "a bare name:tag that is not a file: did you mean docker-daemon:" \
	bash -c "one_line_error 1 '$PARE' inspect myapp:latest && grep -q \"'myapp:latest': no such file; did you mean docker-daemon:myapp:latest?\" '$work/err'"
check "word:/path with an unknown word: unknown transport, and the known ones" \
	bash -c "one_line_error 1 '$PARE' inspect containers-storage:/x && grep -q \"unknown transport 'containers-storage' (known: oci:DIR\" '$work/err' &&
		grep -q 'docker://HOST' '$work/err'"
check "default output: app.tar -> app-slim.tar tagged NAME:TAG-slim from the archive's own tag" \
	bash -c "'$PARE' slim app.tar --exec '$PROBE' 2>err && grep -q 'app.tar -> docker-archive:app-slim.tar:docker.io/pare-test/python:latest-slim' err && tar -xOf app-slim.tar manifest.json | jq -e '.[0].RepoTags == [\"docker.io/pare-test/python:latest-slim\"]'"
check "outputs follow the umask, files and OCI blobs alike" \
	bash -c "umask 027 && '$PARE' slim app.tar -o '$work/masked.tar' --exec true 2>/dev/null && '$PARE' copy app.tar oci:'$work/masked-oci':x && [ \"\$(stat -c %a '$work/masked.tar')\" = 640 ] && [ -z \"\$(find '$work/masked-oci' -type f ! -perm 640)\" ] && [ \"\$(stat -c %a '$work/masked-oci')\" = 750 ]"

# ---- Errors ----
check "a malformed --http is a usage error (exit 2) that shows the form" \
	bash -c "one_line_error_n 2 2 '$PARE' slim oci:py:latest --http 'GET/x' && grep -q 'the path must start with' '$work/err' && grep -q 'METHOD:' '$work/err'"
check "--http swallowing the image as its value says so" \
	bash -c "one_line_error_n 2 2 '$PARE' slim --http app.tar && grep -q \"took 'app.tar' as its value, but that is an image\" '$work/err'"
check "--exec-file, --keep-file, --http-file, --trace: a missing file names the option and the file, nothing else" \
	bash -c "for o in exec-file keep-file http-file trace; do one_line_error 2 '$PARE' slim oci:py:latest --\$o '$work/nope.txt' || exit 1; grep -qx \"pare: --\$o: cannot read '$work/nope.txt': No such file or directory\" '$work/err' || exit 1; done"
mkfifo "$work/fifo"
check "a FIFO given as a side file is refused at once, never waited on" \
	bash -c "for o in exec-file keep-file http-file trace; do timeout 10 '$PARE' slim oci:py:latest --\$o '$work/fifo' 2>'$work/err'; [ \$? -eq 2 ] && grep -q 'not a regular file' '$work/err' || exit 1; done"
check "a failing probe shows the last lines of its stdout and its stderr" \
	bash -c "! '$PARE' slim oci:py:latest -o oci:py:bad --exec 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line\$i; done; echo oops >&2; exit 3' 2>err; cat err;
		grep -q 'exited with 3' err && grep -q 'last lines of its stdout' err && grep -qx '  | line12' err && ! grep -q 'line2\$' err && grep -qx '  | oops' err"
cp "$nginx/image.tar" "$d/nginx.tar"
check "an entrypoint that exits before its port opens: said, with its status and last output" \
	bash -c "! '$PARE' slim nginx.tar -o oci:ng:x --http / -- -g 'daemon off; bogus;' 2>err; cat err;
		grep -q 'the entrypoint exited with 1 before port 80 accepted a connection' err && grep -q 'unknown directive \"bogus\"' err"
check "on a terminal, pare says which port it waits for" \
	bash -c "timeout 60 script -qec \"'$PARE' slim nginx.tar -o oci:ng:y --timeout 2 --http /:81\" /dev/null >tty.out; grep -q 'slim: waiting for port 81 to accept a connection' tty.out && grep -q 'timed out after 2 s' tty.out"

# ---- Output that tells the truth ----
check "inspect quotes the command as docker does" \
	bash -c "'$PARE' inspect oci:py:latest | grep -qx 'Cmd:         \[\"-c\",\"import json; print(1)\"\]'"
check "the summary calls docker-archive layers uncompressed, and OCI ones gzip" \
	bash -c "'$PARE' slim app.tar -o oci:py:sum --exec true 2>err; cat err; grep -q 'layers: .* uncompressed -> .* gzip\$' err && '$PARE' slim oci:py:sum -o '$work/sum.tar' --exec true 2>err2; cat err2; grep -q 'layers: .* gzip -> .* uncompressed\$' err2"
check "--profile python: the units pulled in are one summary line, each one in the report" \
	bash -c "'$PARE' slim oci:py:latest -o oci:py:prof --profile python --report rep.json --exec '$PROBE' 2>err; cat err; [ \"\$(grep -c 'pulled in' err)\" = 1 ] && grep -q 'pulled in: [0-9]* units, 0 packages, [0-9]* more paths.*(each is in the report)' err && jq -e '.pulled_in | length > 1' rep.json"

# ---- The unpack cache ----
check "cache list shows each tree with its image and size" \
	bash -c "'$PARE' cache list --json | jq -e '.trees | length >= 2 and all(.bytes > 0 and .image != null)'"
check "a tree in use by another pare is never pruned; released, it is" \
	bash -c "'$PARE' run oci:py:latest -c 'import time; time.sleep(4)' & sleep 1.5; '$PARE' cache list --json | jq -e '.trees | any(.in_use)' >/dev/null || exit 1;
		'$PARE' cache prune --all 2>err; cat err; grep -q '1 in use kept' err || exit 1; '$PARE' cache list --json | jq -e '.trees | length == 1' >/dev/null || exit 1;
		wait; '$PARE' cache prune --all && '$PARE' cache list --json | jq -e '.trees == []'"
check "past --cache-max, the least recently used tree is evicted after a new unpack" \
	bash -c "'$PARE' run oci:py:latest -c 1 && sleep 1.1 && '$PARE' run oci:py:sum -c 'import sys' 2>/dev/null; sleep 1.1; '$PARE' run --cache-max 150M oci:py:prof -c 'import json' &&
		'$PARE' cache list --json | jq -e '[.trees[].image] == [\"oci:py:sum\", \"oci:py:prof\"]'"
check "PARE_CACHE_MAX sets the same limit; a bad value is refused" \
	bash -c "PARE_CACHE_MAX=lots '$PARE' run oci:py:latest -c 1 2>err; [ \$? -eq 1 ] && grep -q \"PARE_CACHE_MAX='lots'\" err"
check "cache prune --older-than and --max-size; prune with no rule is a usage error" \
	bash -c "'$PARE' cache prune --older-than 1h 2>err && grep -q 'removed 0 trees' err && '$PARE' cache prune --max-size 1K 2>err && grep -q 'removed 2 trees' err &&
		one_line_error_n 2 2 '$PARE' cache prune"
check "cache --help and the run options document the limit" \
	bash -c "'$PARE' cache --help | grep -q 'least recently used' && '$PARE' run --help | grep -q -- '--cache-max SIZE'"
finish
