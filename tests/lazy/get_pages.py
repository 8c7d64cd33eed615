# tests/e2e/lazy.sh: once the server on 127.0.0.1:PORT answers, GET each
# PATH and print "PATH STATUS BODY" (or "PATH STATUS" for an HTTP error).
import sys, time, urllib.error, urllib.request

port, paths = sys.argv[1], sys.argv[2:]
for _ in range(150):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        time.sleep(0.1)
for p in paths:
    try:
        r = urllib.request.urlopen(f"http://127.0.0.1:{port}{p}", timeout=5)
        print(p, r.status, r.read().decode().strip())
    except urllib.error.HTTPError as e:
        print(p, e.code)
    except OSError as e:
        print(p, "no-answer", e)
