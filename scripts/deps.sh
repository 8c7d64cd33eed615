#!/usr/bin/env bash
# Install what pare needs to build and test, from Debian packages, when it
# is missing. Idempotent and quiet when everything is there.
set -euo pipefail
pkgs=(
	# build
	gcc make pkg-config libcurl4-openssl-dev libarchive-dev libjansson-dev libseccomp-dev libcap-dev libssl-dev libelf-dev zlib1g-dev libzstd-dev
	# gzip layers inflated by ISA-L (x86_64), several times zlib's speed
	libisal-dev
	# the slim layer's gzip, compressed in parallel blocks (image/pgzip.c)
	libdeflate-dev
	# the eBPF recorder: compiled by clang for the BPF target, embedded by bpftool
	clang libbpf-dev bpftool
	# test images and independent readers
	mmdebstrap umoci skopeo jq podman
	# registries for the docker:// suite: a real one (plain, and TLS + htpasswd), certificates
	docker-registry apache2-utils openssl
	# a real engine for the end-to-end tests
	docker.io
	# tools: fuzzing (clang + libFuzzer runtime), benchmarks, checks
	clang libclang-rt-14-dev valgrind strace hyperfine time
	# the sandbox: a static busybox for shell sessions in images without one;
	# tracer tests: a reference strace run needs ip, unshare, setpriv, script
	busybox-static iproute2 util-linux bsdutils python3
	# the container suite reads the CI examples as YAML
	python3-yaml
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "pare: missing packages: ${missing[*]} (run 'make deps' as root, or install them)" >&2
	exit 1
fi
echo "installing: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
