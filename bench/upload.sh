#!/usr/bin/env bash
# Upload benchmark for Drop: one large plain-text upload over HTTPS on 127.0.0.1, with curl.
#
# Starts `palisade serve` (release build) on a fresh temporary data directory, creates a user
# with `palisade user create --password-stdin`, signs in with curl (cookie jar, CSRF token read
# from the sign-in form), uploads the file through POST /files (multipart, csrf_token first), and
# reports the throughput and the server's resident memory: idle, peak while uploading (VmRSS
# polled every 50 ms) and the kernel's high-water mark (VmHWM). A `dd` of the same file with
# fsync is the disk baseline (the server fsyncs each upload before committing it), and the same
# curl upload to `axum-bare`'s /upload-sink (same TLS policy and certificate, same hyper, the body
# streamed unparsed to a file and fsynced) is the transport ceiling: what any Rust server on this
# stack gets before doing anything with the upload.
#
# Usage: bench/upload.sh            # 1 GiB
#        SIZE_MIB=256 bench/upload.sh
# Environment: SIZE_MIB (default 1024), PORT (default 18443), CARGO_TARGET_DIR (where the
# release binary is or will be built), HTTP (curl's protocol flag, default --http2; try
# --http1.1), KEEP=1 to keep the temporary directory.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
PORT=${PORT:-18443}
HTTP=${HTTP:---http2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/palisade
BARE=$TARGET/release/axum-bare

if [[ ! -x $BIN || ! -x $BARE ]]; then
    echo "building the release binaries…" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -p palisade-cli -p axum-bare)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/drop-bench.XXXXXX")
SERVER_PID=
POLL_PID=
BARE_PID=
cleanup() {
    [[ -n $POLL_PID ]] && kill "$POLL_PID" 2>/dev/null || true
    [[ -n $BARE_PID ]] && kill "$BARE_PID" 2>/dev/null || true
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

BYTES=$((SIZE_MIB * 1024 * 1024))
export PALISADE_MODE=development
export PALISADE_DATA_DIR=$WORK/data
export PALISADE_HTTPS_ADDR=127.0.0.1:$PORT
export PALISADE_HTTP_ADDR=off
export PALISADE_PUBLIC_URL=https://localhost:$PORT
export PALISADE_UPLOAD_MAX_FILE=$((BYTES + 1024 * 1024))
export PALISADE_USER_QUOTA=$((BYTES * 2))
EMAIL=uploader@example.com
PASSWORD=Bench-Lantern-Orbit-4471
BASE=https://localhost:$PORT

# The file: plain text, which Drop accepts (typed by content, not by name).
{ yes "Drop upload benchmark: a line of plain text, repeated." || true; } | head -c "$BYTES" >"$WORK/upload.txt"
SHA=$(sha256sum "$WORK/upload.txt" | cut -d' ' -f1)

printf '%s\n' "$PASSWORD" | "$BIN" user create --email "$EMAIL" --password-stdin >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

CURL=(curl -sS "$HTTP" --cacert "$PALISADE_DATA_DIR/tls/dev-cert.pem"
    --resolve "localhost:$PORT:127.0.0.1" -b "$WORK/jar" -c "$WORK/jar")
for _ in $(seq 1 100); do
    "${CURL[@]}" -o /dev/null "$BASE/healthz" 2>/dev/null && break
    sleep 0.1
done

token_of() { sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1; }
rss_kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$SERVER_PID/status"; }

TOKEN=$("${CURL[@]}" "$BASE/login" | token_of)
STATUS=$("${CURL[@]}" -o /dev/null -w '%{http_code}' \
    --data-urlencode "csrf_token=$TOKEN" --data-urlencode "email=$EMAIL" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "next=/files" "$BASE/login")
[[ $STATUS == 303 ]] || { echo "sign-in failed: $STATUS" >&2; exit 1; }
TOKEN=$("${CURL[@]}" "$BASE/files" | token_of)

sleep 1
IDLE_KIB=$(rss_kib VmRSS)
(
    peak=0
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        now=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
        now=${now:-0}
        ((now > peak)) && peak=$now && echo "$peak" >"$WORK/peak"
        sleep 0.05
    done
) &
POLL_PID=$!

RESULT=$("${CURL[@]}" -o "$WORK/answer.json" -w '%{http_code} %{time_total} %{http_version}' \
    -H 'Accept: application/json' -H "X-CSRF-Token: $TOKEN" \
    -F "csrf_token=$TOKEN" -F "title=benchmark" -F "description=" \
    -F "file=@$WORK/upload.txt;type=text/plain;filename=bench.txt" "$BASE/files")
read -r CODE SECONDS_TOTAL HTTP_VERSION <<<"$RESULT"
sleep 0.2
kill "$POLL_PID" 2>/dev/null || true
wait "$POLL_PID" 2>/dev/null || true
POLL_PID=
[[ $CODE == 201 ]] || { echo "upload failed: $CODE $(cat "$WORK/answer.json")" >&2; exit 1; }

PEAK_KIB=$(cat "$WORK/peak" 2>/dev/null || echo 0)
HWM_KIB=$(rss_kib VmHWM)
URL=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$WORK/answer.json")
PAGE=$("${CURL[@]}" "$BASE$URL")
if [[ $PAGE == *"$SHA"* ]]; then CHECK="SHA-256 matches"; else CHECK="SHA-256 MISMATCH"; fi
STORED=$(find "$PALISADE_DATA_DIR/files" -maxdepth 1 -type f | wc -l)

# Transport ceiling: the same upload to axum-bare's /upload-sink, on the next port.
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
BARE_PORT=$((PORT + 1))
TMPDIR=$WORK "$BARE" "127.0.0.1:$BARE_PORT" "$PALISADE_DATA_DIR/tls/dev-cert.pem" \
    "$PALISADE_DATA_DIR/tls/dev-key.pem" >"$WORK/bare.log" 2>&1 &
BARE_PID=$!
BARE_CURL=(curl -sS "$HTTP" --cacert "$PALISADE_DATA_DIR/tls/dev-cert.pem"
    --resolve "localhost:$BARE_PORT:127.0.0.1")
for _ in $(seq 1 100); do
    "${BARE_CURL[@]}" -o /dev/null "https://localhost:$BARE_PORT/healthz" 2>/dev/null && break
    sleep 0.1
done
BARE_RESULT=$("${BARE_CURL[@]}" -o "$WORK/bare-answer.txt" -w '%{http_code} %{time_total}' \
    -F "csrf_token=$TOKEN" -F "title=benchmark" -F "description=" \
    -F "file=@$WORK/upload.txt;type=text/plain;filename=bench.txt" \
    "https://localhost:$BARE_PORT/upload-sink")
read -r BARE_CODE BARE_SECONDS <<<"$BARE_RESULT"
[[ $BARE_CODE == 201 ]] || { echo "axum-bare upload failed: $BARE_CODE" >&2; exit 1; }
kill "$BARE_PID" 2>/dev/null || true
wait "$BARE_PID" 2>/dev/null || true
BARE_PID=

# Baseline: the same bytes through dd, fsynced, on the same file system.
DD_START=$(date +%s.%N)
dd if="$WORK/upload.txt" of="$WORK/dd.bin" bs=1M conv=fsync status=none
DD_END=$(date +%s.%N)
rm -f "$WORK/dd.bin"

awk -v mib="$SIZE_MIB" -v t="$SECONDS_TOTAL" -v d0="$DD_START" -v d1="$DD_END" \
    -v idle="$IDLE_KIB" -v peak="$PEAK_KIB" -v hwm="$HWM_KIB" -v http="$HTTP_VERSION" \
    -v check="$CHECK" -v stored="$STORED" -v bare="$BARE_SECONDS" 'BEGIN {
    printf "upload:   %d MiB in %.2f s = %.1f MiB/s (HTTP/%s over TLS, 127.0.0.1; %s; %d file stored)\n", mib, t, mib / t, http, check, stored
    printf "ceiling:  %d MiB in %.2f s = %.1f MiB/s (axum-bare /upload-sink, same TLS and curl)\n", mib, bare, mib / bare
    printf "Drop / ceiling: %.2f\n", bare / t
    printf "dd+fsync: %d MiB in %.2f s = %.1f MiB/s\n", mib, d1 - d0, mib / (d1 - d0)
    printf "server RSS: idle %.1f MiB, peak while uploading %.1f MiB (VmHWM %.1f MiB), growth %.1f MiB\n", idle / 1024, peak / 1024, hwm / 1024, (peak - idle) / 1024
}'
