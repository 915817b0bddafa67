#!/usr/bin/env bash
# Audit benchmark: `palisade audit --active` against Drop, and wapiti3 against the
# same running Drop, in one run, on 127.0.0.1 only.
#
# Needs an existing palisade binary; build it first:
#     cargo build --release -p palisade-cli
# then:
#     bench/audit.sh
#     PALISADE_BIN=/path/to/palisade bench/audit.sh
#
# What it does: starts `palisade serve` on a fresh temporary data directory (HTTPS on
# 127.0.0.1:$HTTPS_PORT, redirect-only HTTP on 127.0.0.1:$HTTP_PORT, self-signed development
# certificate), creates a verified user, signs in with curl and uploads two small text files so
# that there are file pages to crawl, then times
#   (a) palisade audit --active (signs in itself; at most 50 pages, 50 requests/s, 5 min budget)
#   (b) wapiti3 (from PyPI, installed into bench/.venv-wapiti on first use) with the modules that
#       match the practices, given a signed-in session cookie (-C), and --max-scan-time 300.
# Both are bounded in time and stop by themselves. The server is killed on exit (trap).
#
# Environment: PALISADE_BIN (default target/release/palisade), HTTPS_PORT (9643), HTTP_PORT
# (9680), WAPITI_MODULES, WAPITI_MAX_SCAN_TIME (300), OUT (results directory, default
# bench/results/audit-<timestamp>), KEEP=1 keeps the temporary data directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${PALISADE_BIN:-$ROOT/target/release/palisade}
HTTPS_PORT=${HTTPS_PORT:-9643}
HTTP_PORT=${HTTP_PORT:-9680}
BASE=https://127.0.0.1:$HTTPS_PORT
EMAIL=bench@example.com
PASSWORD='correct horse battery staple 9'
# Not ssrf/log4shell/wapp (they call outside hosts), not ssl/https_redirect (TLS is palisade's
# TLS check, not web-app testing). exec/file are cheap injection checks on the same inputs.
WAPITI_MODULES=${WAPITI_MODULES:-xss,permanentxss,sql,exec,file,csrf,redirect,http_headers,cookieflags,csp,upload}
WAPITI_MAX_SCAN_TIME=${WAPITI_MAX_SCAN_TIME:-300}
VENV=$ROOT/bench/.venv-wapiti
OUT=${OUT:-$ROOT/bench/results/audit-$(date +%Y%m%d-%H%M%S)}

[[ -x $BIN ]] || { echo "no palisade binary at $BIN; run: cargo build --release -p palisade-cli (or set PALISADE_BIN)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }
for port in "$HTTPS_PORT" "$HTTP_PORT"; do
    if ss -Hltn "sport = :$port" | grep -q .; then
        echo "port $port is in use; set HTTPS_PORT/HTTP_PORT" >&2
        exit 1
    fi
done

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/palisade-audit-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

# wapiti3 from PyPI, in its own virtualenv.
if [[ ! -x $VENV/bin/wapiti ]]; then
    echo "installing wapiti3 into $VENV…" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q wapiti3
fi
WAPITI_VERSION=$("$VENV/bin/pip" show wapiti3 2>/dev/null | awk '/^Version:/ {print $2}')

export PALISADE_DATA_DIR=$WORK/data
export PALISADE_HTTPS_ADDR=127.0.0.1:$HTTPS_PORT
export PALISADE_HTTP_ADDR=127.0.0.1:$HTTP_PORT
export PALISADE_PUBLIC_URL=$BASE

printf '%s\n' "$PASSWORD" | "$BIN" user create --email "$EMAIL" --password-stdin >/dev/null
"$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
CERT=$PALISADE_DATA_DIR/tls/dev-cert.pem
for _ in $(seq 1 150); do
    curl -ks -o /dev/null --max-time 1 "$BASE/healthz" && break
    sleep 0.2
done
curl -ks -o /dev/null --max-time 2 "$BASE/healthz" || { echo "server did not start; see $OUT/server.log" >&2; exit 1; }

# sign_in JAR: a fresh signed-in session in the curl cookie jar JAR.
token_of() { sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1; }
sign_in() {
    local jar=$1 token status
    token=$(curl -sS --cacert "$CERT" -b "$jar" -c "$jar" "$BASE/login" | token_of)
    status=$(curl -sS --cacert "$CERT" -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' \
        --data-urlencode "csrf_token=$token" --data-urlencode "email=$EMAIL" \
        --data-urlencode "password=$PASSWORD" --data-urlencode "next=/files" "$BASE/login")
    [[ $status == 303 ]] || { echo "sign-in failed: HTTP $status" >&2; exit 1; }
}

# Seed: two small files, so there are file pages, comment and share forms to crawl.
sign_in "$WORK/seed.jar"
TOKEN=$(curl -sS --cacert "$CERT" -b "$WORK/seed.jar" -c "$WORK/seed.jar" "$BASE/files" | token_of)
for n in 1 2; do
    printf 'Audit benchmark seed file %s.\n' "$n" >"$WORK/seed$n.txt"
    code=$(curl -sS --cacert "$CERT" -b "$WORK/seed.jar" -c "$WORK/seed.jar" -o /dev/null -w '%{http_code}' \
        -H 'Accept: application/json' -H "X-CSRF-Token: $TOKEN" \
        -F "csrf_token=$TOKEN" -F "title=seed $n" -F "description=seed file $n" \
        -F "file=@$WORK/seed$n.txt;type=text/plain;filename=seed$n.txt" "$BASE/files")
    [[ $code == 201 ]] || echo "warning: seeding file $n answered HTTP $code" >&2
done

# (a) palisade audit
echo "running palisade audit --active…" >&2
START=$(date +%s.%N)
set +e
printf '%s\n' "$PASSWORD" | "$BIN" audit "$BASE/" --insecure-tls-ok --active \
    --http-url "http://127.0.0.1:$HTTP_PORT/" --login "$BASE/login" --user "$EMAIL" \
    --password-stdin --max-pages 50 --rate 50/s --max-time 5m --format json \
    --output "$OUT/palisade.json" 2>"$OUT/palisade.stderr"
PALISADE_RC=$?
set -e
PALISADE_SECONDS=$(echo "$(date +%s.%N) - $START" | bc)

# (b) wapiti, signed in through a session cookie from a fresh curl sign-in.
sign_in "$WORK/wapiti.jar"
COOKIE=$(awk -F'\t' 'NF >= 7 && $1 !~ /^# / || $1 ~ /^#HttpOnly_/ { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$WORK/wapiti.jar")
echo "running wapiti $WAPITI_VERSION (modules $WAPITI_MODULES, max $WAPITI_MAX_SCAN_TIME s)…" >&2
START=$(date +%s.%N)
set +e
"$VENV/bin/wapiti" -u "$BASE/" --scope folder -m "$WAPITI_MODULES" \
    --max-scan-time "$WAPITI_MAX_SCAN_TIME" -f json -o "$OUT/wapiti.json" --flush-session \
    --store-session "$WORK/wapiti-session" --verify-ssl 0 --no-bugreport -v 1 \
    -C "$COOKIE" -x "$BASE/logout" -x "$BASE/account/sessions/*" -x "$BASE/account/password" \
    -x "$BASE/account/2fa" >"$OUT/wapiti.log" 2>&1 </dev/null
WAPITI_RC=$?
set -e
WAPITI_SECONDS=$(echo "$(date +%s.%N) - $START" | bc)

python3 - "$OUT" "$PALISADE_SECONDS" "$PALISADE_RC" "$WAPITI_SECONDS" "$WAPITI_RC" "$WAPITI_VERSION" <<'PY'
import collections, json, os, sys
out, p_s, p_rc, w_s, w_rc, w_ver = sys.argv[1:]

def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except Exception as e:
        return e

p = load("palisade.json")
w = load("wapiti.json")
print(f"\n{'tool':<22} {'wall s':>7} {'exit':>4}  findings")
if isinstance(p, dict):
    by_sev = ", ".join(f"{k} {v}" for k, v in p["summary"].items() if v)
    print(f"{'palisade audit':<22} {float(p_s):7.1f} {p_rc:>4}  {len(p['findings'])} ({by_sev or 'none'}); "
          f"pages {p.get('pages_crawled')}, requests {p.get('requests_sent')}, signed in {p.get('signed_in')}")
    cats = collections.Counter(f.get("practice", "?") for f in p["findings"])
    for practice in p.get("practices", []):
        if isinstance(practice, dict):
            pid = practice.get("id") or practice.get("practice") or practice.get("name")
            print(f"    practice {pid}: {practice.get('status', '')} {cats.get(pid, 0) or ''}".rstrip())
    for f in p["findings"]:
        print(f"    - [{f.get('severity')}] {f.get('practice')} {f.get('id', '')} {f.get('title', '')}".rstrip())
else:
    print(f"{'palisade audit':<22} {float(p_s):7.1f} {p_rc:>4}  no report: {p}")
if isinstance(w, dict):
    total = 0
    lines = []
    for section in ("vulnerabilities", "anomalies", "additionals"):
        for cat, items in (w.get(section) or {}).items():
            if items:
                total += len(items)
                lines.append(f"    {section[:-1] if section != 'vulnerabilities' else 'vulnerability'}: {cat}: {len(items)}")
    info = w.get("infos", {})
    print(f"{'wapiti ' + w_ver:<22} {float(w_s):7.1f} {w_rc:>4}  {total} "
          f"(crawled {info.get('crawled_pages_nbr', len(info.get('crawled_pages', []) or []))} pages, auth {info.get('auth')!r})")
    print("\n".join(lines) if lines else "    none")
else:
    print(f"{'wapiti ' + w_ver:<22} {float(w_s):7.1f} {w_rc:>4}  no report: {w}")
print(f"\nreports and logs: {out}")
PY
