#!/usr/bin/env bash
# The runtime profiles on a real image (git, ruby and php-cli from
# Debian's packages): each is applied by default when the probes ran its
# runtime, and shown needed (the slim image made with --no-profile NAME
# fails a check on a path the probe did not take) and sufficient (the
# default slim image passes it).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PARE=$top/pare
suite=runtimes
. "$top/tests/e2e/lib.sh"
export PARE_CACHE_DIR=$work/cache

echo "# building the runtimes fixture (cached)"
rt=$("$top/tests/fixtures/build.sh" runtimes | tail -1) && [ -d "$rt/oci" ] || { echo "fixture build failed"; exit 1; }
cp -r "$rt/oci" "$work/rt"

# runtime NAME PROBE CHECK EXPECT: slim with the default profiles and with
# --no-profile NAME, probing PROBE; CHECK prints EXPECT in the first only.
runtime() {
	local name=$1 probe=$2 chk=$3 want=$4
	check "$name: slim, probing '$probe' (default profiles, and --no-profile $name)" \
		bash -c "'$PARE' slim oci:'$work'/rt:latest -o oci:'$work'/rt:$name --report '$work/$name.json' --exec '$probe' 2>/dev/null &&
			'$PARE' slim oci:'$work'/rt:latest -o oci:'$work'/rt:no-$name --no-profile $name --exec '$probe' 2>/dev/null"
	check "$name: applied by default because the probe ran it" \
		jq -e --arg n "$name" '[.profiles[].name] | index($n) != null' "$work/$name.json"
	check "$name: '$chk' works in the default slim image" \
		bash -c "[ \"\$('$PARE' run --entrypoint /bin/sh oci:'$work'/rt:$name -c '$chk' 2>/dev/null)\" = '$want' ]"
	check "$name: and fails without the profile" \
		bash -c "[ \"\$('$PARE' run --entrypoint /bin/sh oci:'$work'/rt:no-$name -c '$chk' 2>/dev/null)\" != '$want' ]"
}
runtime git 'git --version' 'git init -q /r && cd /r && git submodule status && echo submodule-ok' submodule-ok
runtime ruby 'ruby -e "require %q(digest/sha1); puts Digest::SHA1.hexdigest(%q(a))"' \
	'ruby -e "require %q(digest/md5); puts Digest::MD5.hexdigest(%q(a))"' 0cc175b9c0f1b6a831c399e269772661
runtime php 'php -r "echo 1;"' 'php -r "echo bin2hex(iconv(chr(85).chr(84).chr(70).chr(45).chr(56), chr(76).chr(65).chr(84).chr(73).chr(78).chr(49), chr(195).chr(169)));"' e9
check "php: gconv comes in through php's include" \
	jq -e '[.profiles[].name] | index("gconv") != null' "$work/php.json"
check "a runtime the probes did not run gets no profile (git not applied when only ruby ran)" \
	jq -e '[.profiles[].name] | index("git") == null' "$work/ruby.json"
finish
