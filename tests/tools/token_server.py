#!/usr/bin/env python3
"""A token server for distribution's `auth: token`, for the tests: GET
/token?service=S&scope=repository:NAME:ACTIONS... with basic auth
pare:secret grants what is asked; an anonymous request gets nothing (the
registry then refuses it). Tokens are RS256 JWTs signed by `openssl dgst`
with KEY, whose certificate CERT goes in the x5c header (the registry's
rootcertbundle holds it). Usage: token_server.py PORT KEY CERT"""
import base64, http.server, json, os, subprocess, sys, time, urllib.parse

port, key, cert = int(sys.argv[1]), sys.argv[2], sys.argv[3]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims):
    head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    msg = (b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg, capture_output=True, check=True).stdout
    return msg.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            if base64.b64decode(auth[6:]).decode(errors="replace") != "pare:secret":
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad user name or password"}]}')
                return
            user = "pare"
        access = []
        for s in q.get("scope", []):
            kind, _, rest = s.partition(":")
            name, _, actions = rest.rpartition(":")
            if user and kind == "repository":
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": "pare-test-issuer", "sub": user or "", "aud": q.get("service", [""])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": b64url(os.urandom(12)), "access": access}
        body = json.dumps({"token": sign(claims), "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write("token %s %s\n" % (user or "anonymous", q.get("scope", [])))

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
