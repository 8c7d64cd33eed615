#!/usr/bin/env python3
"""A proxy in front of a test registry that breaks things on purpose, for
the registry suite. Usage: fault_proxy.py PORT UPSTREAM_PORT MODE
  pass          forward everything
  fail5xx:N     the first N manifest or blob requests get 503
  cutblob:N     the first blob GET sends N bytes of its body, then hangs up
  killput:FILE  the first blob upload: half its body read, then the registry
                (pid in FILE) is killed and the connection dropped
Every request is logged on stderr as "METHOD PATH STATUS"."""
import http.client, http.server, os, re, signal, sys, threading

port, upstream, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kind, _, arg = mode.partition(":")
lock = threading.Lock()
budget = {"n": int(arg) if kind in ("fail5xx",) else 1}


def take():
    with lock:
        if budget["n"] > 0:
            budget["n"] -= 1
            return True
        return False


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log(self, status):
        sys.stderr.write("%s %s %s\n" % (self.command, self.path, status))
        sys.stderr.flush()

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        api = re.match(r"^/v2/.+/(blobs|manifests)/", self.path)
        if kind == "fail5xx" and api and take():
            self.log(503)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "killput" and self.command == "PUT" and "/blobs/uploads/" in self.path and n > 1 and take():
            self.rfile.read(n // 2)
            os.kill(int(open(arg).read()), signal.SIGKILL)
            self.log("killed")
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        try:
            c.request(self.command, self.path, body=body, headers={k: v for k, v in self.headers.items()})
            r = c.getresponse()
        except OSError:
            self.log("upstream-down")
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = r.read()
        cut = kind == "cutblob" and self.command == "GET" and "/blobs/sha256:" in self.path and r.status == 200 and len(data) > int(arg) and take()
        self.log(("%d cut" % r.status) if cut else r.status)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[: int(arg)] if cut else data)
        if cut:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = relay

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
