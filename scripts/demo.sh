#!/usr/bin/env bash
# The main job on the built-in sample image: build the python3 sample image
# from Debian packages, slim it with a probe (traced in pare's sandbox) and
# the python keep-list profile, verify that the slim image behaves the same,
# print before/after, and explain why some paths are in it and one is not.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fx=$("$top/tests/fixtures/build.sh" python)
out=${DEMO_OUT:-$top/demo-out}
rm -rf "$out" && mkdir -p "$out"
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$out/cache}
cp -r "$fx/oci" "$out/python" # slim writes a new tag next to the input: use a copy
img=oci:$out/python:latest
probe='import json, csv, email.message, http.client, decimal, datetime
print(json.dumps({"os": open("/etc/os-release").readline().strip(), "sum": str(decimal.Decimal("0.1") * 3)}))'
echo "== the sample image: $img"
"$top/pare" inspect "$img" | sed -n '1,6p;/^Total/p'
echo
echo "== pare slim --verify --profile python --exec 'python3 -c ...' $img"
"$top/pare" slim --verify --profile python --report "$out/report.json" -o "oci:$out/python:slim" \
	--exec "python3 -c '$probe'" "$img"
echo
echo "== why some of the kept paths are there (pare profile explain --report $out/report.json PATH)"
for path in /usr/lib/x86_64-linux-gnu/libc.so.6 /usr/lib/python3.11/email/mime/text.py /etc/passwd; do
	"$top/pare" profile explain --report "$out/report.json" "$path"
done
echo
echo "== pare run oci:$out/python:slim (the slim image, in the sandbox)"
"$top/pare" run --entrypoint python3 "oci:$out/python:slim" -c "$probe"
echo "== and what it no longer has:"
"$top/pare" run --entrypoint python3 "oci:$out/python:slim" -c 'import this' 2>&1 | tail -1 || true
"$top/pare" profile explain --report "$out/report.json" /usr/lib/python3.11/this.py || true
echo "outputs in $out"
