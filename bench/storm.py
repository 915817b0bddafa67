"""A sign-in storm: N clients sign in to Drop over and over until a deadline.

Each client keeps one HTTPS connection to 127.0.0.1 and loops: GET /login (a fresh anonymous
session and CSRF token), then POST /login with the right password (an argon2id verification on
the server). Prints one line: STORM <sign-ins> <failures> <p50 ms> <p99 ms> <max ms>.

Usage: storm.py BASE_URL ORIGIN EMAIL PASSWORD CLIENTS SECONDS  (stdlib only)
"""

import http.client
import re
import ssl
import sys
import threading
import time
import urllib.parse

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def main():
    base, origin, email, password = sys.argv[1:5]
    clients, seconds = int(sys.argv[5]), float(sys.argv[6])
    url = urllib.parse.urlsplit(base)
    if url.hostname != "127.0.0.1":
        sys.exit("storm.py only talks to 127.0.0.1")
    deadline = time.monotonic() + seconds
    latencies, failures, lock = [], [0], threading.Lock()
    # The development certificate is self-signed and we only talk to loopback.
    context = ssl._create_unverified_context()

    def connect():
        if url.scheme == "https":
            return http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=60)
        return http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def client():
        conn = connect()
        while time.monotonic() < deadline:
            try:
                conn.request("GET", "/login")
                response = conn.getresponse()
                page = response.read().decode()
                cookie = next(
                    v.split(";")[0]
                    for k, v in response.getheaders()
                    if k.lower() == "set-cookie" and v.startswith("__Host-palisade=")
                )
                token = TOKEN.search(page).group(1)
                body = urllib.parse.urlencode(
                    {"email": email, "password": password, "csrf_token": token, "next": "/"}
                )
                headers = {
                    "Cookie": cookie,
                    "Origin": origin,
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                start = time.monotonic()
                conn.request("POST", "/login", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                took = (time.monotonic() - start) * 1000
                ok = response.status == 303
            except (OSError, http.client.HTTPException, StopIteration, AttributeError):
                ok, took = False, 0.0
                conn.close()
                conn = connect()
            with lock:
                if ok:
                    latencies.append(took)
                else:
                    failures[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else 0.0

    top = latencies[-1] if latencies else 0.0
    print(f"STORM {len(latencies)} {failures[0]} {pct(0.5):.1f} {pct(0.99):.1f} {top:.1f}")


if __name__ == "__main__":
    main()
