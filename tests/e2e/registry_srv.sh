#!/usr/bin/env bash
# Start or stop Debian's docker-registry (distribution 2.8) for the tests:
#   registry_srv.sh start DIR PORT [plain|tls|mtls|token TOKEN_PORT]   prints HOST:PORT
#   registry_srv.sh stop DIR
# tls: a private CA signs the certificate for 127.0.0.1 (DIR/certs/ca.crt
# is what --cert-dir reads), htpasswd basic auth for pare:secret.
# mtls: the same, with no password but a client certificate the CA signed
# required (DIR/client-certs is the --cert-dir that has it).
# token: the Bearer flow, tokens from tests/tools/token_server.py on
# TOKEN_PORT, signed by DIR/token.key (its certificate is the root bundle).
# The storage (DIR/data) survives a restart: `start` again after a kill.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cmd=$1 dir=$2
# A private CA (DIR/certs/ca.crt), the server's certificate for 127.0.0.1,
# a client's pair it signed (DIR/client-certs: ca.crt, client.cert and
# client.key, as skopeo's --cert-dir holds them), htpasswd for pare:secret.
make_certs() {
	local d=$1
	mkdir -p "$d/certs" "$d/client-certs"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pare-test-ca \
		-keyout "$d/ca.key" -out "$d/certs/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
	openssl x509 -req -in "$d/srv.csr" -CA "$d/certs/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/ext" -out "$d/srv.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=pare-test-client -keyout "$d/client-certs/client.key" \
		-out "$d/client.csr" 2>/dev/null
	openssl x509 -req -in "$d/client.csr" -CA "$d/certs/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -out "$d/client-certs/client.cert" 2>/dev/null
	cp "$d/certs/ca.crt" "$d/client-certs/"
	htpasswd -Bbn pare secret >"$d/htpasswd"
}
case "$cmd" in
start)
	port=$3 mode=${4:-plain}
	mkdir -p "$dir/data"
	{
		echo "version: 0.1"
		echo "log: { level: error, accesslog: { disabled: true } }"
		echo "storage: { filesystem: { rootdirectory: $dir/data }, delete: { enabled: true } }"
		if [ "$mode" = tls ] || [ "$mode" = mtls ]; then
			[ -f "$dir/certs/ca.crt" ] || make_certs "$dir" >&2
			if [ "$mode" = tls ]; then
				echo "http: { addr: 127.0.0.1:$port, tls: { certificate: $dir/srv.crt, key: $dir/srv.key } }"
				echo "auth: { htpasswd: { realm: pare-test, path: $dir/htpasswd } }"
			else
				echo "http: { addr: 127.0.0.1:$port, tls: { certificate: $dir/srv.crt, key: $dir/srv.key, clientcas: [$dir/certs/ca.crt] } }"
			fi
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
