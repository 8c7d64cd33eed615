#!/usr/bin/env bash
# Start or stop a private dockerd for the tests: dockerd.sh start DIR | stop DIR
# Prints the DOCKER_HOST to use on start.
set -euo pipefail
cmd=$1 dir=$2
case "$cmd" in
start)
	mkdir -p "$dir"
	dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
		-H "unix://$dir/docker.sock" >"$dir/dockerd.log" 2>&1 &
	for _ in $(seq 100); do
		if DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1; then
			echo "unix://$dir/docker.sock"
			exit 0
		fi
		sleep 0.2
	done
	echo "dockerd did not start; see $dir/dockerd.log" >&2
	tail -5 "$dir/dockerd.log" >&2
	exit 1
	;;
stop)
	[ -f "$dir/dockerd.pid" ] || exit 0
	pid=$(cat "$dir/dockerd.pid")
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# A container on the host's network leaves exec/netns/default bind
	# mounted after dockerd exits: unmount what is below DIR, deepest first.
	findmnt -rn -o TARGET | grep "^$(realpath "$dir")/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	;;
esac
