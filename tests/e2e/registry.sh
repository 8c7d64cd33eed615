#!/usr/bin/env bash
# docker://: pare against Debian's docker-registry (distribution 2.8) on
# 127.0.0.1, four times: plain http, TLS from a private CA with htpasswd
# basic auth, TLS that wants a client certificate, and the Bearer flow with tests/tools/token_server.py signing
# tokens the registry checks. skopeo is the independent client both ways,
# the dockerd runs what pare pushed. Faults come from the real registry
# (killed mid-push, a blob corrupted in its storage) and from
# tests/tools/fault_proxy.py (503s, a blob cut mid-body).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
export PATH=$top:$PATH
suite=registry
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache
# The credential lookup below must see only what each check sets.
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR
export HOME=$work/home
mkdir -p "$HOME"

start_dockerd
build_fixtures
bb=$(fixture busybox) py=$(fixture python)
declare -A fleet
for n in perl web lighty tz; do
	fleet[$n]=$("$top/tests/fixtures/build.sh" "fleet$n" | tail -1) || exit 1
done
web=${fleet[web]}
cd "$work" || exit 1

srv=$top/tests/e2e/registry_srv.sh
stop_all() { for d in "$work"/reg-*; do [ -d "$d" ] && "$srv" stop "$d"; done; for p in "$work"/proxy-*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; true; }
cleanup_hooks+=(stop_all)
P=$("$srv" start "$work/reg-plain" "$(free_port)" plain) || exit 1
tport=$(free_port)
T=$("$srv" start "$work/reg-tls" "$(free_port)" tls) || exit 1
K=$("$srv" start "$work/reg-token" "$(free_port)" token "$tport") || exit 1
MT=$("$srv" start "$work/reg-mtls" "$(free_port)" mtls) || exit 1
certs=$work/reg-tls/certs
proxy() { # proxy NAME UPSTREAM MODE: a fault proxy's HOST:PORT
	local port; port=$(free_port)
	python3 "$top/tests/tools/fault_proxy.py" "$port" "${2#*:}" "$3" >/dev/null 2>"$work/proxy-$1.log" &
	echo $! >"$work/proxy-$1.pid"
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
	echo "127.0.0.1:$port"
}
plain=(--tls-verify=false)
proxy pass "$P" pass >pass.addr
echo "# registries: plain $P, TLS + basic $T, Bearer tokens $K, TLS + client certificates $MT"

# ---- plain http: push, pull, the independent client
check "copy oci -> docker://: the registry holds the same manifest, config and layer blobs (skopeo inspect)" \
	bash -c "'$PARE' copy ${plain[*]} oci:$bb/oci:latest docker://$P/pare/bb:1 &&
		[ \"\$(skopeo inspect --tls-verify=false docker://$P/pare/bb:1 | jq -c .Layers)\" = \"\$(skopeo inspect oci:$bb/oci:latest | jq -c .Layers)\" ] &&
		[ \"\$(skopeo inspect --config --tls-verify=false docker://$P/pare/bb:1 | sha256sum)\" = \"\$(skopeo inspect --config oci:$bb/oci:latest | sha256sum)\" ] &&
		[ \"\$(skopeo inspect --raw --tls-verify=false docker://$P/pare/bb:1 | sha256sum)\" = \"\$(skopeo inspect --raw oci:$bb/oci:latest | sha256sum)\" ]"
check "what pare pushed, skopeo pulls into the dockerd, and it runs" \
	bash -c "skopeo copy -q --src-tls-verify=false docker://$P/pare/bb:1 docker-archive:sk-bb.tar:pare-reg/bb:1 && docker load -q -i sk-bb.tar &&
		docker run --rm --pull never --entrypoint /bin/busybox pare-reg/bb:1 echo hello | grep -qx hello"
check "what skopeo pushed, pare pulls and unpacks identically to umoci" \
	bash -c "$(declare -f same_tree); top='$top'; skopeo copy -q --dest-tls-verify=false oci:$py/oci:latest docker://$P/sk/py:3.11 &&
		'$PARE' unpack ${plain[*]} docker://$P/sk/py:3.11 from-reg && umoci unpack --image $py/oci:latest umoci-py >/dev/null &&
		same_tree umoci-py/rootfs from-reg"
check "a pull by digest, checked against it; inspect --json names the transport and the manifest's digest" \
	bash -c "d=\$(skopeo inspect --tls-verify=false docker://$P/sk/py:3.11 | jq -r .Digest) &&
		'$PARE' inspect --json ${plain[*]} docker://$P/sk/py@\$d | jq -e --arg d \$d '.transport == \"docker\" and (.layers | length) >= 1 and .manifest_digest == \$d'"
# ---- an image index: two platforms (the second's config says arm64; its
# layer is the same) and an attestation manifest, pushed by skopeo --all
multi_layout() { # multi_layout DIR: an OCI layout whose tag "multi" is an index; prints the two manifests' digests
	local d=$1 b m cfg arm_cfg arm_man att idx
	cp -r "$bb/oci" "$d" && b=$d/blobs/sha256
	put() { # stdin as a blob; prints its hex digest
		cat >"$b/put.tmp" && local h; h=$(sha256sum <"$b/put.tmp" | cut -c1-64) && mv "$b/put.tmp" "$b/$h" && echo "$h"
	}
	desc() { # desc MEDIA-TYPE HEX [PLATFORM]
		printf '{"mediaType":"%s","digest":"sha256:%s","size":%s%s}' "$1" "$2" "$(stat -c %s "$b/$2")" "${3:+,\"platform\":$3}"
	}
	local oci_m=application/vnd.oci.image.manifest.v1+json
	m=$(jq -r '.manifests[0].digest' "$d/index.json" | cut -c8-)
	cfg=$(jq -r '.config.digest' "$b/$m" | cut -c8-)
	arm_cfg=$(jq -c '.architecture = "arm64" | .variant = "v8"' "$b/$cfg" | tr -d '\n' | put)
	arm_man=$(jq -c --argjson c "$(desc application/vnd.oci.image.config.v1+json "$arm_cfg")" '.config = $c' "$b/$m" | tr -d '\n' | put)
	att=$(jq -c '.annotations = {"vnd.docker.reference.type": "attestation-manifest"}' "$b/$m" | tr -d '\n' | put)
	idx=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s,%s]}' \
		"$(desc $oci_m "$m" '{"architecture":"amd64","os":"linux"}')" \
		"$(desc $oci_m "$arm_man" '{"architecture":"arm64","os":"linux","variant":"v8"}')" \
		"$(desc $oci_m "$att" '{"architecture":"unknown","os":"unknown"}')" | put)
	printf '{"schemaVersion":2,"manifests":[%s]}' \
		"$(desc application/vnd.oci.image.index.v1+json "$idx" | sed 's/}$/,"annotations":{"org.opencontainers.image.ref.name":"multi"}}/')" >"$d/index.json"
	echo "sha256:$m sha256:$arm_man"
}
read -r amd_man arm_man < <(multi_layout "$work/multi")
check "an index pushed by skopeo --all: linux/amd64 by default, the index's and that manifest's digests named and kept" \
	bash -c "skopeo copy -q --all --dest-tls-verify=false oci:$work/multi:multi docker://$P/multi/bb:1 &&
		'$PARE' inspect --json ${plain[*]} docker://$P/multi/bb:1 >multi.json &&
		jq -e --arg c \"\$(skopeo inspect --raw oci:$bb/oci:latest | jq -r .config.digest)\" '.config_digest == \$c and .platform.architecture == \"amd64\" and .manifest_digest == \"$amd_man\"' multi.json >/dev/null &&
		[ \"\$(jq -r .index_digest multi.json)\" = \"\$(skopeo inspect --tls-verify=false docker://$P/multi/bb:1 | jq -r .Digest)\" ] &&
		[ \"\$('$PARE' inspect --json oci:$work/multi:multi | jq -r .index_digest)\" = \"\$(jq -r '.manifests[0].digest' $work/multi/index.json)\" ] ||
		{ jq -c . multi.json; exit 1; }
		'$PARE' copy ${plain[*]} docker://$P/multi/bb:1 docker://$P/multi/amd64:1 &&
		[ \"\$(skopeo inspect --raw --tls-verify=false docker://$P/multi/amd64:1 | sha256sum | cut -c1-64)\" = '${amd_man#sha256:}' ]"
check "... --platform linux/arm64/v8 picks the other; one that is not there lists those that are (not the attestation)" \
	bash -c "'$PARE' inspect --json ${plain[*]} --platform linux/arm64/v8 docker://$P/multi/bb:1 | jq -e '.platform.architecture == \"arm64\" and .platform.variant == \"v8\"' >/dev/null &&
		one_line_error 1 '$PARE' inspect ${plain[*]} --platform linux/s390x docker://$P/multi/bb:1 &&
		grep -q 'linux/amd64' \$work/err && grep -q 'linux/arm64/v8' \$work/err && ! grep -q unknown \$work/err"
check "copy docker:// -> docker:// on one registry mounts the layers: none downloaded, none uploaded" \
	bash -c "M=\$(cat $work/pass.addr); '$PARE' copy ${plain[*]} docker://\$M/sk/py:3.11 docker://\$M/other/py:1 &&
		[ \"\$(skopeo inspect --tls-verify=false docker://$P/other/py:1 | jq -c .Layers)\" = \"\$(skopeo inspect --tls-verify=false docker://$P/sk/py:3.11 | jq -c .Layers)\" ] &&
		grep -q 'POST /v2/other/py/blobs/uploads/?mount=sha256:.*&from=sk/py 201' $work/proxy-pass.log && ! grep -q '^PUT /v2/other/py/blobs/' $work/proxy-pass.log &&
		for l in \$(skopeo inspect --tls-verify=false docker://$P/sk/py:3.11 | jq -r '.Layers[]'); do ! grep -q \"^GET /v2/sk/py/blobs/\$l\" $work/proxy-pass.log || exit 1; done"
check "run and probe take docker:// too: the program runs from the pulled image, the trace names its files" \
	bash -c "[ \"\$('$PARE' run ${plain[*]} --entrypoint /bin/busybox docker://$P/pare/bb:1 echo hi)\" = hi ] &&
		'$PARE' probe ${plain[*]} -o bb-trace.json --entrypoint /bin/busybox docker://$P/pare/bb:1 cat /etc/passwd >/dev/null &&
		jq -e --arg i docker://$P/pare/bb:1 '.image == \$i and ([.paths[].path] | index(\"/etc/passwd\"))' bb-trace.json >/dev/null"
check "a second push of the same image finds every blob there (HEAD) and only writes the manifest" \
	bash -c "'$PARE' copy ${plain[*]} oci:$bb/oci:latest docker://$P/pare/bb:1 && skopeo inspect --tls-verify=false docker://$P/pare/bb:1 >/dev/null"

# ---- slim from a registry to a registry, verified, then run on what no probe asked
check "slim docker://.../web:1 -o docker://.../web:1-slim --verify, end to end; the summary names the pushed manifest's digest" \
	bash -c "'$PARE' copy ${plain[*]} oci:$web/oci:latest docker://$P/app/web:1 &&
		'$PARE' slim ${plain[*]} docker://$P/app/web:1 -o docker://$P/app/web:1-slim --http GET:/ --verify 2>err; rc=\$?; cat err; [ \$rc -eq 0 ] &&
		grep -q 'behaves the same' err && d=\$(skopeo inspect --tls-verify=false docker://$P/app/web:1-slim | jq -r .Digest) &&
		grep -qx \"  digest: \$d\" err"
check "without -o, slim pushes TAG-slim beside the input" \
	bash -c "'$PARE' slim ${plain[*]} docker://$P/pare/bb:1 --exec 'ls /' 2>err; rc=\$?; cat err; [ \$rc -eq 0 ] &&
		grep -q -- '-> docker://$P/pare/bb:1-slim' err && skopeo inspect --tls-verify=false docker://$P/pare/bb:1-slim >/dev/null"
serve_web() { # serve_web IMAGE PATH EXPECTED
	local c
	c=$(docker run --pull never -d --network none "$1") || return 1
	for _ in $(seq 50); do
		out=$(docker run --rm --pull never --network "container:$c" --entrypoint python3 pare-reg/web:orig -c \
			"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000$2').read().decode())" 2>/dev/null) && break
		sleep 0.2
	done
	docker rm -f "$c" >/dev/null
	grep -qF "$3" <<<"$out" || { echo "got: $out"; return 1; }
}
check "the pushed slim image, pulled by skopeo into the dockerd, serves a page no probe asked for (/about)" \
	bash -c "$(declare -f serve_web); skopeo copy -q --src-tls-verify=false docker://$P/app/web:1 docker-archive:sk-web.tar:pare-reg/web:orig &&
		skopeo copy -q --src-tls-verify=false docker://$P/app/web:1-slim docker-archive:sk-web-slim.tar:pare-reg/web:slim &&
		docker load -q -i sk-web.tar && docker load -q -i sk-web-slim.tar &&
		serve_web pare-reg/web:slim / '<h1>web: /</h1>' && serve_web pare-reg/web:slim /about '<p>about page at /about</p>'"

# ---- a fleet whose outputs are a registry's repositories: a layer the
# images share is uploaded once, then mounted into the others
fleet_to_registry() {
	local M i d; M=$(cat "$work/pass.addr")
	mkdir -p fl && cat >fl/FLEET.json <<EOF
{ "images": [
    { "name": "perl", "slim": ["oci:${fleet[perl]}/oci:latest", "-o", "docker://$M/fleet/perl:slim", "--tls-verify=false", "--run", "/app/tool.pl '{\"a\":[1,2,3]}'", "--verify"] },
    { "name": "web", "slim": ["oci:${fleet[web]}/oci:latest", "-o", "docker://$M/fleet/web:slim", "--tls-verify=false", "--http", "GET:/", "--verify"] },
    { "name": "lighty", "slim": ["oci:${fleet[lighty]}/oci:latest", "-o", "docker://$M/fleet/lighty:slim", "--tls-verify=false", "--http", "GET:/", "--verify"] },
    { "name": "tz", "slim": ["oci:${fleet[tz]}/oci:latest", "-o", "docker://$M/fleet/tz:slim", "--tls-verify=false", "--verify"] } ] }
EOF
	(cd fl && "$PARE" fleet slim FLEET.json -j 2 --state state 2>err); local rc=$?
	cat fl/err; [ $rc -eq 0 ] && [ "$(grep -c 'behaves as its original did' fl/err)" -eq 4 ] || return 1
	for i in perl web lighty tz; do
		skopeo inspect --tls-verify=false "docker://$P/fleet/$i:slim" | jq -r '.Layers[]' || return 1
	done | sort -u >fl/layers
	[ "$(wc -l <fl/layers)" -ge 2 ] || return 1
	for i in perl web lighty tz; do # the report names each pushed manifest
		[ "$(jq -r --arg n $i '.images[] | select(.name == $n) | .manifest' fl/state/build.json)" = \
			"$(skopeo inspect --tls-verify=false "docker://$P/fleet/$i:slim" | jq -r .Digest)" ] || { echo "$i: manifest digest"; return 1; }
	done
	while read -r d; do # each layer's bytes went up once; the other repositories mounted it
		local put="^PUT /v2/fleet/.*digest=sha256%3a${d#sha256:} 201"
		[ "$(grep -c "$put" "$work/proxy-pass.log")" -eq 1 ] ||
			{ echo "$d: uploaded $(grep -c "$put" "$work/proxy-pass.log") times"; return 1; }
	done <fl/layers
	grep -q '^POST /v2/fleet/.*mount=sha256:.*&from=fleet/.* 201' "$work/proxy-pass.log"
}
check "fleet slim with docker:// outputs: four images verified from the registry, each shared layer uploaded once and mounted, each manifest in the report" \
	fleet_to_registry
check "... the fleet's perl tool, pulled by skopeo into the dockerd, on an input no probe used" \
	bash -c "skopeo copy -q --src-tls-verify=false docker://$P/fleet/perl:slim docker-archive:fl-perl.tar:pare-reg/fleet-perl:slim &&
		docker load -q -i fl-perl.tar >/dev/null &&
		[ \"\$(docker run --rm --pull never pare-reg/fleet-perl:slim --sorted '[5,1,3]')\" = '{\"max\":5,\"sorted\":[1,3,5]}' ]"

# ---- progress on a terminal (script(1) gives pare one), none when piped
progress_lines() { # progress_lines CMD...: run under a terminal, print what it drew
	script -qfec "$(printf '%q ' "$@")" /dev/null | tr '\r' '\n'
}
check "on a terminal a push and a pull draw byte progress per blob, cleared when done; piped, nothing" \
	bash -c "$(declare -f progress_lines); progress_lines '$PARE' copy ${plain[*]} oci:$py/oci:latest docker://$P/prog/py:1 >push.tty &&
		progress_lines '$PARE' unpack ${plain[*]} docker://$P/prog/py:1 prog-py >pull.tty &&
		grep -Eq '^push [0-9a-f]{12}: [0-9.]+ [kMG]?B / [0-9.]+ [kMG]?B \([0-9]+%\)' push.tty &&
		grep -Eq '^pull [0-9a-f]{12}: [0-9.]+ [kMG]?B / [0-9.]+ [kMG]?B \([0-9]+%\)' pull.tty &&
		'$PARE' unpack ${plain[*]} docker://$P/prog/py:1 prog-py2 2>piped.err && ! grep -q 'pull ' piped.err"

# ---- TLS from a private CA, htpasswd basic auth
check "TLS + basic: --cert-dir with the CA and --creds: push, then pull back the same layers" \
	bash -c "'$PARE' copy --cert-dir $certs --creds pare:secret oci:$bb/oci:latest docker://$T/sec/bb:1 &&
		[ \"\$(skopeo inspect --cert-dir $certs --creds pare:secret docker://$T/sec/bb:1 | jq -c .Layers)\" = \"\$(skopeo inspect oci:$bb/oci:latest | jq -c .Layers)\" ]"
check "TLS: a CA the system does not trust is one line naming the host and the way out" \
	bash -c "one_line_error 1 '$PARE' inspect --creds pare:secret docker://$T/sec/bb:1 && grep -q '$T: TLS' \$work/err && grep -q -- --cert-dir \$work/err"
check "TLS: --tls-verify=false reads it without the CA" \
	"$PARE" inspect --tls-verify=false --creds pare:secret "docker://$T/sec/bb:1"
check "basic: a wrong password is a 401 naming where the credential came from" \
	bash -c "one_line_error 1 '$PARE' inspect --cert-dir $certs --creds pare:wrong docker://$T/sec/bb:1 && grep -q 'authentication failed with credentials from --creds' \$work/err"
check "basic: no credentials anywhere says so and where it looked" \
	bash -c "one_line_error 1 '$PARE' inspect --cert-dir $certs docker://$T/sec/bb:1 && grep -q 'none was found' \$work/err && grep -q config.json \$work/err"
mcerts=$work/reg-mtls/client-certs
check "TLS client certificates: client.cert and client.key in --cert-dir: push, pull, and skopeo reads it with the same directory" \
	bash -c "'$PARE' copy --cert-dir $mcerts oci:$bb/oci:latest docker://$MT/mtls/bb:1 &&
		'$PARE' unpack --cert-dir $mcerts docker://$MT/mtls/bb:1 mtls-bb && test -x mtls-bb/bin/busybox &&
		[ \"\$(skopeo inspect --cert-dir $mcerts docker://$MT/mtls/bb:1 | jq -c .Layers)\" = \"\$(skopeo inspect oci:$bb/oci:latest | jq -c .Layers)\" ]"
check "... without one: at once (no retries), one line saying the registry wants a client certificate" \
	bash -c "s=\$(date +%s); one_line_error 1 '$PARE' inspect --cert-dir $work/reg-mtls/certs docker://$MT/mtls/bb:1 &&
		grep -q '$MT: TLS: the registry wants a client certificate' \$work/err && [ \$((\$(date +%s) - s)) -lt 5 ]"
authjson() { printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$T" "$(printf '%s' "$1" | base64 -w0)"; }
authjson pare:secret >good.json; authjson pare:wrong >bad.json
lookup() { # lookup EXPECT(ok|fail) ENV... : inspect with only those sources set
	local want=$1; shift
	env -u REGISTRY_AUTH_FILE -u XDG_RUNTIME_DIR "$@" "$PARE" inspect --cert-dir "$certs" ${LOOKUP_FLAGS:-} "docker://$T/sec/bb:1" >/dev/null 2>"$work/lookup.err"
	local rc=$?; cat "$work/lookup.err"
	[ "$want" = ok ] && [ $rc -eq 0 ] || { [ "$want" = fail ] && [ $rc -ne 0 ]; }
}
mkdir -p xdg/containers home-good/.docker home-bad/.docker
cp good.json home-good/.docker/config.json; cp bad.json home-bad/.docker/config.json
check "credentials: ~/.docker/config.json alone" lookup ok HOME="$work/home-good"
check "credentials: \$XDG_RUNTIME_DIR/containers/auth.json before ~/.docker/config.json" \
	bash -c "cp good.json xdg/containers/auth.json; $(declare -f lookup); PARE='$PARE' certs='$certs' T='$T' lookup ok XDG_RUNTIME_DIR='$work/xdg' HOME='$work/home-bad' &&
		cp bad.json xdg/containers/auth.json && PARE='$PARE' certs='$certs' T='$T' lookup fail XDG_RUNTIME_DIR='$work/xdg' HOME='$work/home-good'"
check "credentials: \$REGISTRY_AUTH_FILE before \$XDG_RUNTIME_DIR" \
	bash -c "$(declare -f lookup); PARE='$PARE' certs='$certs' T='$T' lookup ok REGISTRY_AUTH_FILE='$work/good.json' XDG_RUNTIME_DIR='$work/xdg' &&
		PARE='$PARE' certs='$certs' T='$T' lookup fail REGISTRY_AUTH_FILE='$work/bad.json' HOME='$work/home-good'"
check "credentials: --authfile before \$REGISTRY_AUTH_FILE, and alone when given" \
	bash -c "$(declare -f lookup); LOOKUP_FLAGS='--authfile $work/good.json' PARE='$PARE' certs='$certs' T='$T' lookup ok REGISTRY_AUTH_FILE='$work/bad.json' &&
		LOOKUP_FLAGS='--authfile $work/bad.json' PARE='$PARE' certs='$certs' T='$T' lookup fail REGISTRY_AUTH_FILE='$work/good.json' HOME='$work/home-good' &&
		grep -q 'credentials from $work/bad.json' \$work/lookup.err"
check "credentials: --creds before all of them" \
	bash -c "$(declare -f lookup); LOOKUP_FLAGS='--creds pare:secret --authfile $work/bad.json' PARE='$PARE' certs='$certs' T='$T' lookup ok &&
		LOOKUP_FLAGS='--creds pare:wrong --authfile $work/good.json' PARE='$PARE' certs='$certs' T='$T' lookup fail"
check "--src-creds/--dest-creds: copy from the plain registry to the TLS one, each side its own" \
	bash -c "'$PARE' copy --src-tls-verify=false --dest-cert-dir $certs --dest-creds pare:secret docker://$P/sk/py:3.11 docker://$T/sec/py:1 &&
		skopeo inspect --cert-dir $certs --creds pare:secret docker://$T/sec/py:1 >/dev/null"

# ---- the Bearer flow
check "Bearer: push and pull with a token from the token server (basic credentials to it)" \
	bash -c "'$PARE' copy ${plain[*]} --creds pare:secret oci:$bb/oci:latest docker://$K/tok/bb:1 &&
		'$PARE' unpack ${plain[*]} --creds pare:secret docker://$K/tok/bb:1 tok-bb && test -x tok-bb/bin/busybox &&
		grep -q \"token pare \\['repository:tok/bb:pull,push'\\]\" $work/reg-token/token.log"
check "Bearer: an anonymous request gets a token without rights, and the refusal says so" \
	bash -c "one_line_error 1 '$PARE' inspect ${plain[*]} docker://$K/tok/bb:1 && grep -q 'no credentials' \$work/err &&
		grep -q 'token anonymous' $work/reg-token/token.log"
check "Bearer: skopeo reads what pare pushed through the same token server" \
	skopeo inspect --tls-verify=false --creds pare:secret "docker://$K/tok/bb:1"

# ---- faults
F=$(proxy fail "$P" fail5xx:2)
check "503 twice: retried with backoff, the pull succeeds" \
	bash -c "'$PARE' unpack ${plain[*]} docker://$F/pare/bb:1 f503 && test -x f503/bin/busybox && [ \$(grep -c ' 503\$' $work/proxy-fail.log) -eq 2 ]"
C=$(proxy cut "$P" cutblob:100000)
check "a blob cut mid-body: resumed with Range where it stopped, and the tree is whole" \
	bash -c "$(declare -f same_tree); top='$top'; '$PARE' unpack ${plain[*]} docker://$C/sk/py:3.11 cut-py && grep -q ' 200 cut' $work/proxy-cut.log &&
		grep -q ' 206\$' $work/proxy-cut.log && same_tree umoci-py/rootfs cut-py"
check "a missing tag: one line, the repository and tag named" \
	bash -c "one_line_error 1 '$PARE' inspect ${plain[*]} docker://$P/pare/bb:nope && grep -q 'pare/bb:nope: no such image' \$work/err"
check "a blob corrupted in the registry's storage is refused, nothing written" \
	bash -c "'$PARE' copy ${plain[*]} oci:$bb/oci:latest docker://$P/bad/bb:1 && l=\$(skopeo inspect oci:$bb/oci:latest | jq -r '.Layers[0]' | cut -c8-) &&
		f=$work/reg-plain/data/docker/registry/v2/blobs/sha256/\${l:0:2}/\$l/data && cp \$f blob.orig && printf X | dd of=\$f bs=1 seek=1000 conv=notrunc 2>/dev/null &&
		one_line_error 1 '$PARE' unpack ${plain[*]} docker://$P/bad/bb:1 corrupt; rc=\$?; cp blob.orig \$f; [ \$rc -eq 0 ] && grep -q 'digest mismatch' \$work/err && [ ! -e corrupt ]"
# The registry is killed by the proxy when the upload's body is half in,
# and started again (the same storage) after a second: the push retries
# and lands, or fails, but never leaves a tag on a half-pushed image.
kill_and_restart() {
	local pidf=$work/reg-plain/registry.pid port=${P#*:}
	X=$(proxy kill "$P" "killput:$pidf")
	( while kill -0 "$(cat "$pidf")" 2>/dev/null; do sleep 0.1; done; sleep 1; "$srv" start "$work/reg-plain" "$port" plain >/dev/null ) &
	local watcher=$!
	"$PARE" copy "${plain[@]}" "oci:$py/oci:latest" "docker://$X/killed/py:1" 2>"$work/kill.err"; local rc=$?
	wait "$watcher"; cat "$work/kill.err"
	grep -q killed "$work/proxy-kill.log" || { echo "the registry was not killed"; return 1; }
	if [ $rc -eq 0 ]; then
		[ "$(skopeo inspect --tls-verify=false "docker://$P/killed/py:1" | jq -c .Layers)" = "$(skopeo inspect "oci:$py/oci:latest" | jq -c .Layers)" ]
	else
		! skopeo inspect --tls-verify=false "docker://$P/killed/py:1" >/dev/null 2>&1
	fi
}
check "the registry killed mid-push and restarted: the push retries and lands whole (or fails with no tag)" kill_and_restart
dead_registry() {
	local rc=0
	kill -9 "$(cat "$work/reg-plain/registry.pid")"; sleep 0.3
	one_line_error 1 timeout 60 "$PARE" copy "${plain[@]}" "oci:$bb/oci:latest" "docker://$P/dead/bb:1" || rc=1
	"$srv" start "$work/reg-plain" "${P#*:}" plain >/dev/null || return 1
	[ $rc -eq 0 ] && grep -q "$P" "$work/err" && ! skopeo inspect --tls-verify=false "docker://$P/dead/bb:1" >/dev/null 2>&1
}
check "killed and not restarted: after the retries, a clean failure naming the registry, and no tag" dead_registry

# ---- oci-archive
check "oci-archive: pare writes one skopeo and umoci read, and reads one skopeo wrote" \
	bash -c "$(declare -f same_tree); top='$top'; '$PARE' copy oci:$bb/oci:latest oci-archive:bb.tar:v1 && tar -tf bb.tar | grep -qx index.json &&
		skopeo inspect oci-archive:bb.tar:v1 >/dev/null && mkdir -p x && tar -xf bb.tar -C x && umoci unpack --image x:v1 umoci-bb >/dev/null &&
		skopeo copy -q oci:$py/oci:latest oci-archive:sk-py.tar:3.11 && '$PARE' unpack oci-archive:sk-py.tar:3.11 from-oa && same_tree umoci-py/rootfs from-oa"
check "oci-archive: slim in and out, named next to the input" \
	bash -c "'$PARE' slim oci-archive:bb.tar:v1 --exec 'ls /' 2>err; rc=\$?; cat err; [ \$rc -eq 0 ] && skopeo inspect oci-archive:bb-slim.tar:v1-slim >/dev/null"
check "an unknown transport says so, listing the known ones" \
	bash -c "one_line_error 2 '$PARE' inspect containers-storage:/x || one_line_error 1 '$PARE' inspect containers-storage:/x; grep -q \"unknown transport 'containers-storage'\" \$work/err && grep -q 'docker://' \$work/err"
check "bad references and flags: one line each" \
	bash -c "one_line_error 1 '$PARE' inspect docker://$P/UPPER:1 && one_line_error 2 '$PARE' inspect --tls-verify=maybe docker://$P/a:1 &&
		one_line_error 1 '$PARE' copy ${plain[*]} oci:$bb/oci:latest docker://$P/a@sha256:$(printf %064d 0) && grep -q 'name a tag' \$work/err &&
		mkfifo fifo && one_line_error 1 timeout 10 '$PARE' inspect --authfile fifo --cert-dir $certs docker://$T/sec/bb:1"
finish
