#!/usr/bin/env bash
# pare as a pipeline step: its own image (make image), and pare in that
# image slimming a fixture under the suite's dockerd in each way a CI job
# may run it: non-root with seccomp and AppArmor unconfined, root with
# docker's default capabilities, root with CAP_SYS_ADMIN added; and where
# docker's default seccomp profile refuses the sandbox, one line that says
# what to set, exit 1. The CI examples (examples/ci/) are read as their
# engines would (ci_examples.py) and run the same way; their pare command
# line is the one the rows run.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
suite=container
. "$top/tests/e2e/lib.sh"
start_dockerd

echo "# make image"
make -s -C "$top" build/image/pare >/dev/null && "$top/scripts/image.sh" >"$work/image.log" 2>&1 ||
	{ cat "$work/image.log"; echo "make image failed"; exit 1; }
img=$top/build/pare-image
check "make image: an OCI layout and a docker-archive tagged pare:latest, read by skopeo and GNU tar, entrypoint pare" \
	bash -c "skopeo inspect --config 'oci:$img:latest' | jq -e '.config.Entrypoint == [\"pare\"]' &&
		skopeo inspect 'docker-archive:$top/build/pare-image.tar' | jq -e '(.Layers | length) >= 1' &&
		tar -xOf '$top/build/pare-image.tar' manifest.json | jq -e '.[0].RepoTags == [\"pare:latest\"]'"
compressed=$(skopeo inspect --raw "oci:$img:latest" | jq '[.layers[].size] | add')
echo "# pare's image: $compressed bytes of compressed layers"
check "make image: under 15 MB compressed ($compressed bytes)" test "$compressed" -lt 15000000
check "docker loads pare:latest" docker load -i "$top/build/pare-image.tar"
check "pare's image runs pare" bash -c "docker run --rm --pull never pare:latest --version | grep -q '^pare '"

# The job's workspace: a fixture as a docker-archive, writable by any uid.
py=$("$top/tests/fixtures/build.sh" python | tail -1)
wd=$work/wd
mkdir -p "$wd" && cp "$py/image.tar" "$wd/app.tar" && chmod 777 "$wd" && chmod 644 "$wd/app.tar"
CMD=(slim docker-archive:app.tar -o docker-archive:app-slim.tar:app:slim --verify)
UNCONFINED=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined)

# slims NAME [DOCKER-RUN OPTION...] [-- ENTRYPOINT ARG...]: pare in its image
# slims app.tar, and the result loads into docker and runs as the original.
slims() {
	local name=$1; shift
	local opts=() run=("${CMD[@]}")
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	if [ "${1:-}" = -- ]; then shift; opts+=(--entrypoint "$1"); shift; run=("$@"); fi
	rm -f "$wd/app-slim.tar"
	check "$name: pare slims the fixture" \
		docker run --rm --pull never "${opts[@]}" -v "$wd:/work" -w /work pare:latest "${run[@]}"
	check "$name: the slim image loads and runs as the original does" \
		bash -c "docker rmi -f app:slim >/dev/null 2>&1; docker load -i '$wd/app-slim.tar' >/dev/null &&
			[ \"\$(docker run --rm --pull never app:slim)\" = 1 ]"
}
slims "non-root (--user 1000:1000, no home), seccomp and AppArmor unconfined" --user 1000:1000 "${UNCONFINED[@]}"
check "non-root: the slim image is the user's" bash -c "[ \$(stat -c %u '$wd/app-slim.tar') = 1000 ]"
slims "root, docker's default capabilities, unconfined" "${UNCONFINED[@]}"
check "root without CAP_SYS_ADMIN: pare says it took the rootless path and what that costs" \
	bash -c "docker run --rm --pull never ${UNCONFINED[*]} -v '$wd:/work' -w /work pare:latest ${CMD[*]} 2>&1 >/dev/null |
		grep -q 'root with no CAP_SYS_ADMIN: the sandbox takes the rootless path .*fanotify and the eBPF recorder need CAP_SYS_ADMIN'"
slims "root, --cap-add SYS_ADMIN, unconfined" --cap-add SYS_ADMIN "${UNCONFINED[@]}"

# Docker's default seccomp profile (Kubernetes' RuntimeDefault): clone3 is
# answered ENOSYS (pare falls back to clone), clone with namespace flags
# EPERM. With CAP_SYS_ADMIN the namespaces are made and pivot_root refused.
blocked() { # blocked NAME EXACT OPTION...: exit 1, the error line naming what to set, nothing written;
	# EXACT=1: that line alone (refused before any work), else after pare's warnings
	local name=$1 exact=$2; shift 2
	rm -f "$wd/app-slim.tar"
	check "$name: exit 1, $([ "$exact" = 1 ] && echo "one line alone" || echo "one error line after the warnings") naming the settings, nothing written" \
		bash -c "docker run --rm --pull never $* -v '$wd:/work' -w /work pare:latest ${CMD[*]} 2>'$work/blocked.err';
			rc=\$?; cat '$work/blocked.err'; [ \$rc -eq 1 ] && [ ! -e '$wd/app-slim.tar' ] &&
			if [ $exact = 1 ]; then [ \$(wc -l <'$work/blocked.err') -eq 1 ]; else
				[ \$(grep -c '^pare: ' '$work/blocked.err') -eq \$((\$(grep -c '^pare: warning: ' '$work/blocked.err') + 1)) ]; fi &&
			grep -v '^pare: warning: ' '$work/blocked.err' | grep -q 'seccomp=unconfined --security-opt apparmor=unconfined; in Kubernetes, securityContext.seccompProfile.type: Unconfined and appArmorProfile.type: Unconfined)\$'"
}
blocked "docker's default profile, root" 1
blocked "docker's default profile, non-root" 1 --user 1000:1000
blocked "docker's default profile with CAP_SYS_ADMIN (namespaces made, pivot_root refused)" 0 --cap-add SYS_ADMIN
check "docker's default profile: the reason comes before the hint" \
	bash -c "docker run --rm --pull never -v '$wd:/work' -w /work pare:latest ${CMD[*]} 2>&1 | grep -q 'cannot create the sandbox namespaces: Operation not permitted (Hint: '"

# The CI examples, as their engines would run them (the fleet's are
# tests/e2e/fleet.sh's).
want="pare ${CMD[*]}"
single=("$top"/examples/ci/{kubernetes-job.yaml,gitlab-ci.yml,github-actions.yml})
while read -r ex; do
	name=$(jq -r .name <<<"$ex")
	check "examples/ci/$name: runs the command line the rows run" test "$(jq -r .command <<<"$ex")" = "$want"
	mapfile -t opts < <(jq -r '.options[]' <<<"$ex")
	mapfile -t args < <(jq -r '.args[]' <<<"$ex")
	ep=$(jq -r '.entrypoint // empty' <<<"$ex")
	if [ -n "$ep" ]; then slims "examples/ci/$name" "${opts[@]}" -- "$ep" "${args[@]}"
	else slims "examples/ci/$name" "${opts[@]}"; fi
done < <(/usr/bin/python3 "$top/tests/e2e/ci_examples.py" "${single[@]}")
check "examples/ci: all three read" test "$(/usr/bin/python3 "$top/tests/e2e/ci_examples.py" "${single[@]}" | wc -l)" -eq 3

# The registry example: pare in its image pulls from a registry with a
# private CA and htpasswd (Debian's docker-registry on the host's
# loopback: the job gets the host's network), slims, verifies and pushes
# TAG-slim beside the input; the CA where the example says to mount it.
srv=$top/tests/e2e/registry_srv.sh
T=$("$srv" start "$work/reg" "$(free_port)" tls) || exit 1
stop_reg() { "$srv" stop "$work/reg"; }
cleanup_hooks+=(stop_reg)
mkdir -p "$work/certs.d/$T" && cp "$work/reg/certs/ca.crt" "$work/certs.d/$T/"
CI_ENV=(-e "CI_REGISTRY_IMAGE=$T/group/app" -e CI_COMMIT_SHORT_SHA=0a1b2c3d -e CI_REGISTRY_USER=pare -e CI_REGISTRY_PASSWORD=secret)
# (in the environment: its JSON holds quotes of every kind)
export CI_EX; CI_EX=$(/usr/bin/python3 "$top/tests/e2e/ci_examples.py" "$top/examples/ci/gitlab-ci-registry.yml") || exit 1
check "examples/ci/gitlab-ci-registry.yml: its job runs the line the README shows" \
	bash -c "readme=\$(python3 '$top/tests/e2e/readme_commands.py' '$top/README.md' | jq -r 'select(.cmd | startswith(\"pare slim docker://\")) | .cmd') &&
		[ \"\$(python3 -c 'import shlex, sys; print(shlex.join(shlex.split(sys.argv[1])))' \"\$readme\")\" = \"\$(jq -r .command <<<\"\$CI_EX\")\" ]"
check "examples/ci/gitlab-ci-registry.yml: its job slims from the registry, verifies, and pushes TAG-slim (TLS with a private CA, basic auth)" \
	bash -c "'$top/pare' copy --cert-dir '$work/reg/certs' --creds pare:secret 'oci:$py/oci:latest' docker://$T/group/app:0a1b2c3d &&
		mapfile -t opts < <(jq -r '.options[]' <<<\"\$CI_EX\") && mapfile -t args < <(jq -r '.args[]' <<<\"\$CI_EX\") &&
		docker run --rm --pull never --network host \"\${opts[@]}\" ${CI_ENV[*]} \
			--mount type=bind,src='$work/certs.d',dst=/etc/containers/certs.d,readonly \
			--entrypoint \"\$(jq -r .entrypoint <<<\"\$CI_EX\")\" pare:latest \"\${args[@]}\" 2>'$work/ci-reg.err'; rc=\$?; cat '$work/ci-reg.err';
		[ \$rc -eq 0 ] && grep -q 'behaves the same' '$work/ci-reg.err' && grep -q -- '-> docker://$T/group/app:0a1b2c3d-slim' '$work/ci-reg.err'"
check "... the pushed slim image, pulled by skopeo into the dockerd, runs as the original does" \
	bash -c "skopeo copy -q --src-cert-dir '$work/reg/certs' --src-creds pare:secret docker://$T/group/app:0a1b2c3d-slim docker-archive:$work/ci-reg.tar:app:regslim &&
		docker load -q -i '$work/ci-reg.tar' >/dev/null && [ \"\$(docker run --rm --pull never app:regslim)\" = 1 ]"
docker rmi -f app:regslim >/dev/null 2>&1
docker rmi -f app:slim >/dev/null 2>&1
finish
