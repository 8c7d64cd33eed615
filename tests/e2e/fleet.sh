#!/usr/bin/env bash
# pare fleet: four images on one Debian base (a perl tool, a python web
# app, lighttpd, a tzdata tool) slimmed so that they share layers, with
# --verify; then the images under the real dockerd (shared layers, one
# chain ID on a node), read by skopeo and umoci, and checked on inputs no
# probe used; the map/reduce flow (parallel map processes, then build)
# against `fleet slim`; the CI examples that run it; bad input.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
export PATH=$top:$PATH
suite=fleet
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

start_dockerd
echo "# building the fleet's fixture images (cached)"
declare -A fix
for n in perl web lighty tz; do
	fix[$n]=$("$top/tests/fixtures/build.sh" "fleet$n" | tail -1) || exit 1
done
cd "$work" || exit 1

# FLEET.json as a user writes it: sources by absolute path, outputs next
# to it (relative, so that two directories can run the same file).
# lighttpd's document root is a directory of its package's: the page no
# probe asked for is kept as one put there beside the probed one.
fleet_json() {
	cat <<EOF
{ "max_layers": ${1:-8},
  "images": [
    { "name": "perl", "slim": ["oci:${fix[perl]}/oci:latest", "-o", "oci:out:perl", "--run", "/app/tool.pl '{\"a\":[1,2,3]}'", "--verify"] },
    { "name": "web", "slim": ["oci:${fix[web]}/oci:latest", "-o", "oci:out:web", "--http", "GET:/", "--verify"] },
    { "name": "lighty", "slim": ["oci:${fix[lighty]}/oci:latest", "-o", "oci:out:lighty", "--http", "GET:/", "--verify"] },
    { "name": "tz", "slim": ["oci:${fix[tz]}/oci:latest", "-o", "docker-archive:tz.tar:pare-fleet/tz:slim", "--verify"] } ] }
EOF
}
mkdir -p one && fleet_json >one/FLEET.json
images=(perl web lighty tz)

check "fleet slim -j 2: four images probed, built into shared layers and each verified against its layers" \
	bash -c "cd one && '$PARE' fleet slim FLEET.json -j 2 --state state --report report.json 2>err; rc=\$?; cat err; [ \$rc -eq 0 ] &&
		[ \$(grep -c 'behaves as its original did' err) -eq 4 ] && [ -s state/perl.keep.json ] && [ -s state/build.json ]"
check "the report: a layer shared by all four first, and no image past max_layers (8)" \
	jq -e '.layers[0].images == ["perl","web","lighty","tz"] and ([.images[].layers | length] | max <= 8) and
		([.layers[] | select(.images | length > 1)] | length >= 2)' one/report.json
check "a registry stores at most 1.10x the distinct kept files (one by one: more than 1.3x)" \
	bash -c "jq -e '.fleet.ratios.registry_uncompressed_to_union <= 1.10 and .fleet.ratios.one_by_one_to_union > 1.3 and
		.fleet.registry.compressed < .fleet.one_by_one.registry.compressed' one/report.json || jq .fleet one/report.json"
check "each shared layer is one blob: the same digest in every image that has it (skopeo)" \
	bash -c "cd one && for i in perl web lighty; do skopeo inspect oci:out:\$i | jq -r '.Layers[0]'; done | sort -u | wc -l | grep -qx 1 &&
		[ \"\$(skopeo inspect oci:out:perl | jq -r '.Layers | length')\" = \"\$(jq '.images[0].layers | length' report.json)\" ]"
check "umoci unpacks every OCI image of the fleet (an independent reader)" \
	bash -c "cd one && for i in perl web lighty; do umoci unpack --rootless --image out:\$i u-\$i >/dev/null || exit 1; done; test -x u-perl/rootfs/app/tool.pl"
check "each image's history has one entry per layer, saying who shares it" \
	bash -c "cd one && skopeo inspect --config oci:out:web | jq -e '([.history[] | select(.empty_layer | not)] | length) == (.rootfs.diff_ids | length)' >/dev/null &&
		skopeo inspect --config oci:out:web | jq -r '.history[-1].created_by' | grep -qx \"pare fleet slim: web's own files\""

load_all() {
	for i in perl web lighty; do "$PARE" copy "oci:out:$i" "docker-daemon:pare-fleet/$i:slim" >/dev/null || return 1; done
	docker load -i tz.tar >/dev/null
}
export -f load_all
export PARE
check "all four load into the dockerd" bash -c "cd one && load_all"
layers_of() { docker image inspect -f '{{json .RootFS.Layers}}' "pare-fleet/$1:slim"; }
export -f layers_of
check "docker: the layer all four share has one diff_id, so a node stores it once" \
	bash -c "for i in perl web lighty tz; do layers_of \$i | jq -r '.[0]'; done | sort -u | wc -l | grep -qx 1"
# A node stores a layer once per chain ID: images share a layer's chain ID
# when they share every layer before it too. The report's chain IDs say
# which; docker's RootFS.Layers must agree, pair by pair.
check "docker: each pair of images shares the layer prefix the report's chain IDs say" \
	bash -c "for a in perl web lighty tz; do for b in perl web lighty tz; do [ \$a \\< \$b ] || continue
		d=\$(jq -n --argjson x \"\$(layers_of \$a)\" --argjson y \"\$(layers_of \$b)\" '([\$x, \$y] | map(length) | min) as \$n | first((range(\$n) | select(\$x[.] != \$y[.])), \$n)')
		r=\$(jq --arg a \$a --arg b \$b '[.images[] | select(.name == \$a or .name == \$b) | [.layers[].chain_id]] as [\$x, \$y] | [\$x[] as \$c | select(\$y | index(\$c))] | length' one/report.json)
		echo \"\$a \$b: docker \$d, report \$r\"; [ \"\$d\" = \"\$r\" ] || exit 1; done; done"

# ---- inputs no probe used, under docker ----
check "perl: the probed input, and one that loads a module only then (--sorted)" \
	bash -c "[ \"\$(docker run --rm --pull never pare-fleet/perl:slim)\" = '{\"count\":3,\"sum\":6}' ] &&
		[ \"\$(docker run --rm --pull never pare-fleet/perl:slim --sorted '[5,1,3]')\" = '{\"max\":5,\"sorted\":[1,3,5]}' ]"
check "tz: the probed zone, and zones no probe asked for" \
	bash -c "[ \"\$(docker run --rm --pull never pare-fleet/tz:slim)\" = 09:00 ] &&
		[ \"\$(docker run --rm --pull never --entrypoint /bin/sh pare-fleet/tz:slim -c 'TZ=America/New_York date -d @0 +%H:%M')\" = 19:00 ]"
# Servers: asked from a client container in their network namespace (the
# original web image has python's whole standard library).
docker load -i "${fix[web]}/image.tar" >/dev/null
get() { # get CONTAINER PORT PATH
	docker run --rm --pull never --network "container:$1" --entrypoint python3 pare-test/fleetweb:latest -c \
		"import urllib.request, sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$2$3').read().decode())"
}
serve() { # serve NAME PORT PATH WANT: the slim server answers a page
	local c out
	c=$(docker run --pull never -d --network none "pare-fleet/$1:slim") || return 1
	for _ in 1 2 3 4 5 6 7 8 9 10; do out=$(get "$c" "$2" "$3" 2>/dev/null) && break; sleep 0.5; done
	docker logs "$c" 2>&1 | tail -3
	docker rm -f "$c" >/dev/null
	echo "got: $out"
	[ "$out" = "$4" ]
}
export -f get serve
check "web: the probed page, and a template no probe loaded (/about)" \
	bash -c "serve web 8000 / '<h1>web: /</h1>' && serve web 8000 /about '<p>about page at /about</p>'"
check "lighttpd: the probed page, and one no probe asked for" \
	bash -c "serve lighty 80 / 'lighttpd home' && serve lighty 80 /other.html 'another page'"

# ---- map/reduce: the same digests ----
digests() { # DIR: each image's config digest and layer diff_ids, from its build report
	jq -c '[.images[] | {name, config, layers: [.layers[].diff_id]}]' "$1/state/build.json"
}
export -f digests
check "fleet build again from the same state (elsewhere, --json): byte-identical images" \
	bash -c "mkdir -p again && cp one/FLEET.json again/ && cp -r one/state again/state && rm -rf again/state/layers again/state/build.json &&
		cd again && '$PARE' fleet build FLEET.json --state state --json >report.json 2>/dev/null && jq -e '.fleet.registry.uncompressed > 0' report.json >/dev/null &&
		cd .. && [ \"\$(digests one)\" = \"\$(digests again)\" ] &&
		cmp one/out/index.json again/out/index.json"
# The CI examples' steps (as their engines read them), run here with the
# index each job would get: the four map steps at once, then the build,
# then the four verify steps at once.
examples=$(/usr/bin/python3 "$top/tests/e2e/ci_examples.py" "$top"/examples/ci/fleet-*)
check "examples/ci: the three fleet examples read, with the same three steps" \
	bash -c "[ \$(wc -l <<<'$examples') -eq 3 ] && [ \$(jq -c .steps <<<'$examples' | sort -u | wc -l) -eq 1 ] &&
		[ \$(jq -r '.steps | length' <<<'$examples' | head -1) -eq 3 ]"
mapfile -t steps < <(jq -r '.steps[]' <<<"$examples" | head -3)
run_step() { # STEP-COMMAND: as a job runs it, each index at once for an indexed one
	local cmd=${1#pare } i
	if [[ $cmd != *INDEX* ]]; then "$PARE" $cmd 2>>steps.err; return; fi
	local pids=() rc=0 p
	for i in 0 1 2 3; do "$PARE" ${cmd//INDEX/$i} 2>>steps.err & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}
export -f run_step
check "the examples' steps (map steps as four parallel processes, build, verify): the same digests as fleet slim" \
	bash -c "mkdir -p mr && cp one/FLEET.json mr/ && cd mr && for s in \"\$@\"; do run_step \"\$s\" || { cat steps.err; exit 1; }; done &&
		[ -s fleet-report.json ] && [ \$(grep -c 'behaves as its original did' steps.err) -eq 4 ] && cd .. && [ \"\$(digests one)\" = \"\$(digests mr)\" ]" _ "${steps[@]}"
# One map step as the Kubernetes example runs it: in pare's own image, as
# uid 1000 with seccomp and AppArmor unconfined, no capability, no
# privilege escalation, on the shared volume (the image to probe in it,
# named relative to it); its record then builds with the ones made here,
# as map steps on other machines do.
image_tar=$top/build/pare-image.tar
if [ ! -s "$image_tar" ] || [ "$image_tar" -ot "$top/pare" ]; then
	echo "# make image"
	make -s -C "$top" build/image/pare >/dev/null && "$top/scripts/image.sh" >"$work/image.log" 2>&1 || cat "$work/image.log"
fi
check "a map step in pare's own image (uid 1000, unconfined, no capability): its record builds and verifies with the others" \
	bash -c "mkdir -p k8s/state && jq '.images[3].slim[0] = \"oci:src-tz:latest\"' one/FLEET.json >k8s/FLEET.json &&
		cp -r '${fix[tz]}/oci' k8s/src-tz && cp one/state/{perl,web,lighty}.keep.json k8s/state/ &&
		chmod -R a+rwX k8s && docker load -i '$image_tar' >/dev/null &&
		docker run --rm --pull never --user 1000:1000 --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
			--security-opt no-new-privileges --cap-drop ALL -v \"\$PWD/k8s:/work\" -w /work \
			pare:latest fleet probe FLEET.json --index 3 --state state 2>k8s.err || { cat k8s.err; exit 1; }
		cd k8s && '$PARE' fleet build FLEET.json --state state 2>/dev/null && '$PARE' fleet verify FLEET.json --index 3 --state state"
mkdir -p two && fleet_json 2 >two/FLEET.json
check "max_layers 2: every image within it, still verified" \
	bash -c "cd two && '$PARE' fleet slim FLEET.json --state state 2>err; rc=\$?; [ \$rc -eq 0 ] || cat err; [ \$rc -eq 0 ] &&
		jq -e '[.images[].layers | length] | max <= 2' state/build.json"

# ---- bad input ----
printf '{"images": [{"name": "a", "slim": ["x"]}, {"name": "a", "slim": ["y"]}]}\n' >dup.json
printf '{"images": [{"name": "a", "slm": ["x"]}]}\n' >typo.json
printf '{"max_layers": 500, "images": [{"name": "a", "slim": ["x"]}]}\n' >big.json
mkfifo fifo.json
check "a name used twice: one line naming the file, the image and the key" \
	one_line_error 1 "$PARE" fleet build dup.json --state s
check "... the error says which" bash -c "grep -q 'dup.json: image 2 (a): \"name\" is taken' '$work/err'"
check "an unknown key (a typo) is named" \
	bash -c "one_line_error 1 '$PARE' fleet build typo.json --state s && grep -q 'image 1: unknown key \"slm\"' '$work/err'"
check "max_layers out of range is refused" \
	bash -c "one_line_error 1 '$PARE' fleet build big.json --state s && grep -q 'max_layers' '$work/err'"
check "a FIFO for FLEET.json is refused, not waited on" \
	bash -c "timeout 10 bash -c \"one_line_error 1 '$PARE' fleet slim fifo.json\" && grep -q 'FIFO' '$work/err'"
check "fleet probe without --only or --index is a usage error" \
	bash -c "one_line_error 2 '$PARE' fleet probe one/FLEET.json --state s && grep -q -- '--only NAME or --index N' '$work/err'"
check "fleet build of a state whose record was made from other arguments says to probe again" \
	bash -c "mkdir -p other && jq '.images[0].slim += [\"--keep\", \"/etc/hostname\"]' one/FLEET.json >other/FLEET.json &&
		cp -r one/state other/state && cd other && ! '$PARE' fleet build FLEET.json --state state 2>err; cat err;
		grep -q 'perl.keep.json was made for other \"slim\" arguments' err &&
		grep -q \"Hint: run 'pare fleet probe FLEET.json --only perl\" err && [ ! -e out ]"
check "--keep-written in an image's slim arguments is refused, naming the image" \
	bash -c "printf '{\"images\": [{\"name\": \"w\", \"slim\": [\"oci:%s/oci:latest\", \"--keep-written\"]}]}\n' '${fix[perl]}' >kw.json &&
		! '$PARE' fleet probe kw.json --only w --state s 2>err; cat err; grep -q 'image w: \"slim\" has --keep-written' err"
rm -f fifo.json
finish
