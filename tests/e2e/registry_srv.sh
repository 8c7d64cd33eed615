#!/usr/bin/env bash
# Start or stop Debian's docker-registry (distribution 2.8) for the tests:
#   registry_srv.sh start DIR PORT [plain|tls|token TOKEN_PORT]   prints HOST:PORT
#   registry_srv.sh stop DIR
# tls: a private CA signs the certificate for 127.0.0.1 (DIR/certs/ca.crt
# is what --cert-dir reads), htpasswd basic auth for pare:secret.
# token: the Bearer flow, tokens from tests/tools/token_server.py on
# TOKEN_PORT, signed by DIR/token.key (its certificate is the root bundle).
# The storage (DIR/data) survives a restart: `start` again after a kill.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cmd=$1 dir=$2
case "$cmd" in
start)
	port=$3 mode=${4:-plain}
	mkdir -p "$dir/data"
	{
		echo "version: 0.1"
		echo "log: { level: error, accesslog: { disabled: true } }"
		echo "storage: { filesystem: { rootdirectory: $dir/data }, delete: { enabled: true } }"
		if [ "$mode" = tls ]; then
			if [ ! -f "$dir/certs/ca.crt" ]; then
				mkdir -p "$dir/certs"
				openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pare-test-ca \
					-keyout "$dir/ca.key" -out "$dir/certs/ca.crt" 2>/dev/null
				openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$dir/srv.key" -out "$dir/srv.csr" 2>/dev/null
				printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/ext"
				openssl x509 -req -in "$dir/srv.csr" -CA "$dir/certs/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
					-days 2 -extfile "$dir/ext" -out "$dir/srv.crt" 2>/dev/null
				htpasswd -Bbn pare secret >"$dir/htpasswd"
			fi
			echo "http: { addr: 127.0.0.1:$port, tls: { certificate: $dir/srv.crt, key: $dir/srv.key } }"
			echo "auth: { htpasswd: { realm: pare-test, path: $dir/htpasswd } }"
		elif [ "$mode" = token ]; then
			tport=$5
			if [ ! -f "$dir/token.crt" ]; then
				openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pare-test-token \
					-keyout "$dir/token.key" -out "$dir/token.crt" 2>/dev/null
			fi
			echo "http: { addr: 127.0.0.1:$port }"
			echo "auth: { token: { realm: 'http://127.0.0.1:$tport/token', service: pare-test-registry, issuer: pare-test-issuer, rootcertbundle: $dir/token.crt } }"
		else
			echo "http: { addr: 127.0.0.1:$port }"
		fi
	} >"$dir/config.yml"
	docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 &
	echo $! >"$dir/registry.pid"
	if [ "$mode" = token ] && ! [ -f "$dir/token.pid" ]; then
		python3 "$top/tests/tools/token_server.py" "$tport" "$dir/token.key" "$dir/token.crt" >>"$dir/token.log" 2>&1 &
		echo $! >"$dir/token.pid"
	fi
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "127.0.0.1:$port"
			exit 0
		fi
		sleep 0.1
	done
	echo "docker-registry did not start; see $dir/registry.log" >&2
	tail -5 "$dir/registry.log" >&2
	exit 1
	;;
stop)
	for f in registry token; do
		[ -f "$dir/$f.pid" ] || continue
		pid=$(cat "$dir/$f.pid")
		rm -f "$dir/$f.pid"
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	;;
esac
