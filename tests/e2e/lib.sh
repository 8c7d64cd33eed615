# Shared by the end-to-end scripts (sourced after setting $top and
# $suite): a work directory kept when a test fails, TAP-style checks.
work=$(mktemp -d "/var/tmp/pare-$suite.XXXXXX")
pass=0 fail=0 skipped=0
cleanup_hooks=()

cleanup() {
	local h
	for h in "${cleanup_hooks[@]}"; do "$h" || true; done
	if [ $fail -eq 0 ]; then rm -rf "$work"; else echo "kept for inspection: $work"; fi
}
trap cleanup EXIT

# Numbered TAP ("ok N - name", the plan "1..N" at the end): `prove
# tests/e2e/cli.sh` runs a suite; other output is a "#" comment or ignored.
check() { # check NAME CMD... : pass when CMD succeeds
	local name=$1; shift
	# a name no check's command uses: they see check's locals (bash scoping)
	local tap_number=$((pass + fail + skipped + 1))
	if "$@" >"$work/last.out" 2>&1; then
		pass=$((pass + 1)); echo "ok $tap_number - $name"
	else
		fail=$((fail + 1)); echo "not ok $tap_number - $name"; sed 's/^/#   /' "$work/last.out" | tail -15
	fi
}

skip() { # skip NAME REASON : reported, counted, not run
	skipped=$((skipped + 1)); echo "ok $((pass + fail + skipped)) - $1 # SKIP $2"
}

one_line_error_n() { # one_line_error_n EXPECTED_RC MAX_LINES CMD... : fails with a short "pare: " message
	local want=$1 max=$2; shift 2
	local rc=0
	"$@" >/dev/null 2>"$work/err" || rc=$?
	cat "$work/err"
	[ "$rc" -eq "$want" ] && [ "$(grep -c . "$work/err")" -le "$max" ] && grep -q '^pare: ' "$work/err"
}
same_tree() { # same_tree A B
	"$top/tests/tools/treelist.sh" "$1" >"$work/a.list" && "$top/tests/tools/treelist.sh" "$2" >"$work/b.list" &&
		diff "$work/a.list" "$work/b.list" | head -20 && cmp -s "$work/a.list" "$work/b.list"
}

one_line_error() { # one_line_error EXPECTED_RC CMD... : fails with one "pare: " line
	local want=$1; shift
	local rc=0
	"$@" >/dev/null 2>"$work/err" || rc=$?
	cat "$work/err"
	[ "$rc" -eq "$want" ] && [ "$(grep -c . "$work/err")" -le 2 ] && grep -q '^pare: ' "$work/err"
}

# For the checks that run in `bash -c`.
export -f one_line_error one_line_error_n
export work

build_fixtures() { # sets fixtures=(...) to the five cached fixture images
	echo "# building fixture images (cached)"
	mapfile -t fixtures < <("$top/tests/fixtures/build.sh")
	[ ${#fixtures[@]} -eq 5 ] || { echo "fixture build failed"; exit 1; }
}

fixture() { # fixture NAME: the cached directory of that fixture (after build_fixtures)
	printf '%s\n' "${fixtures[@]}" | grep "/$1-"
}

start_dockerd() { # the run's shared dockerd (tests/e2e/all.sh), else a private one, stopped at exit
	if [ -n "${PARE_TEST_DOCKER_HOST:-}" ]; then
		export DOCKER_HOST=$PARE_TEST_DOCKER_HOST
		return
	fi
	dockerdir=$work/docker
	cleanup_hooks+=(stop_dockerd)
	echo "# starting a private dockerd"
	DOCKER_HOST=$("$top/tests/e2e/dockerd.sh" start "$dockerdir") || exit 1
	export DOCKER_HOST
}
# A free port from the kernel, not a fixed list: CI may run other suites.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stop_dockerd() { "$top/tests/e2e/dockerd.sh" stop "$dockerdir"; }

finish() {
	echo "1..$((pass + fail + skipped))"
	echo "$suite: $pass passed, $fail failed, $skipped skipped"
	[ $fail -eq 0 ]
}
