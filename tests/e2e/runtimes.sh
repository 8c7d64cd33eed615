#!/usr/bin/env bash
# The runtime profiles on real images (git, ruby and php-cli from
# Debian's packages; a JVM in an image of its own): each is applied by default when the probes ran its
# runtime, and shown needed (the slim image made with --no-profile NAME
# fails a check on a path the probe did not take) and sufficient (the
# default slim image passes it). And the static import closure for Ruby's
# require and Perl's require/use, on a tool added with umoci.
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
# The static import closure for Ruby and Perl: a tool under /srv/tool (no
# package owns it) that requires a library only on one path.
mkdir -p "$work/tool"
cat >"$work/tool/tool.rb" <<'RB'
def order(graph)
  require 'tsort' # only when asked
  each_node = ->(&b) { graph.each_key(&b) }
  each_child = ->(n, &b) { graph[n].each(&b) }
  TSort.tsort(each_node, each_child).join(' ')
end
puts(ARGV[0] == 'order' ? order({ 1 => [2], 2 => [] }) : 'home')
RB
cat >"$work/tool/tool.pl" <<'PL'
use strict;
sub wrapped {
    require Text::Wrap; # only when asked; it uses Text::Tabs
    local $Text::Wrap::columns = 6;
    return join('|', split /\n/, Text::Wrap::wrap('', '', 'aa bb cc'));
}
print(($ARGV[0] // '') eq 'wrap' ? wrapped() : 'home', "\n");
PL
umoci insert --image "$work/rt:latest" --tag tool "$work/tool" /srv/tool >/dev/null
script_closure() { # LANG RUN PAGE WANT
	local lang=$1 run=$2 page=$3 want=$4
	check "$lang: slim a tool probed on its home path (and with --no-import-closure)" \
		bash -c "'$PARE' slim oci:'$work'/rt:tool -o oci:'$work'/rt:$lang-tool --exec '$run' 2>/dev/null &&
			'$PARE' slim oci:'$work'/rt:tool -o oci:'$work'/rt:$lang-noimp --no-import-closure --exec '$run' 2>/dev/null"
	check "$lang: a library required only on another path is kept (the static closure)" \
		bash -c "[ \"\$('$PARE' run --entrypoint /bin/sh oci:'$work'/rt:$lang-tool -c '$run $page' 2>/dev/null)\" = '$want' ]"
	check "$lang: and not without it" \
		bash -c "[ \"\$('$PARE' run --entrypoint /bin/sh oci:'$work'/rt:$lang-noimp -c '$run $page' 2>/dev/null)\" != '$want' ]"
}
script_closure ruby 'ruby /srv/tool/tool.rb' order '2 1'
script_closure perl 'perl /srv/tool/tool.pl' wrap 'aa bb|cc'
check "php: gconv comes in through php's include" \
	jq -e '[.profiles[].name] | index("gconv") != null' "$work/php.json"
check "a runtime the probes did not run gets no profile (git not applied when only ruby ran)" \
	jq -e '[.profiles[].name] | index("git") == null' "$work/ruby.json"
# Java: the JVM reads its own time-zone database (lib/tzdb.dat, not
# /usr/share/zoneinfo) by name, and only once a zone is asked for; the
# probe (the image's command) asks for none.
echo "# building the java fixture (cached)"
jv=$("$top/tests/fixtures/build.sh" java | tail -1) && [ -d "$jv/oci" ] || { echo "fixture build failed"; exit 1; }
cp -r "$jv/oci" "$work/jv"
JAVA_TZ='--entrypoint java oci:'$work'/jv:TAG -cp /app App Asia/Tokyo'
check "java: slim, probing the program as the image runs it (default profiles, and --no-profile java)" \
	bash -c "'$PARE' slim oci:'$work'/jv:latest -o oci:'$work'/jv:java --report '$work/java.json' 2>/dev/null &&
		'$PARE' slim oci:'$work'/jv:latest -o oci:'$work'/jv:no-java --no-profile java 2>/dev/null"
check "java: applied by default because the probe ran it" \
	jq -e '([.profiles[].name] | index("java") != null) and (.probes | all(.ok))' "$work/java.json"
check "java: a zone the probe never asked for works in the default slim image" \
	bash -c "[ \"\$('$PARE' run ${JAVA_TZ//TAG/java} 2>/dev/null)\" = '+09:00' ]"
check "java: and fails without the profile, for want of tzdb.dat" \
	bash -c "! '$PARE' run ${JAVA_TZ//TAG/no-java} >'$work/jv.out' 2>&1 && grep -q 'tzdb.dat' '$work/jv.out'"

finish
