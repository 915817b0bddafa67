# Helpers shared by the benchmark scripts (sourced, not run). Everything here talks only to
# 127.0.0.1, and every load run is bounded by wrk's -d.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
PALISADE=$CARGO_TARGET_DIR/release/palisade
AXUM_BARE=$CARGO_TARGET_DIR/release/axum-bare

# The same wrk settings for every row.
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-32}
WRK_DURATION=${WRK_DURATION:-10s}

BENCH_EMAIL=${BENCH_EMAIL:-bench@example.com}
BENCH_PASSWORD=${BENCH_PASSWORD:-Quiet-lantern-orbit-7-harvest}

PIDS=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Stops the processes this script started, by their ids only.
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install -y $tool)"
    done
}

build() {
    if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
        [[ -x $PALISADE && -x $AXUM_BARE ]] || die "BENCH_SKIP_BUILD=1 but the binaries are missing"
        return
    fi
    log "building release binaries into $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release --quiet -p palisade-cli -p axum-bare) ||
        die "cargo build failed"
}

# Refuses a port that something else already listens on: we never load another's server.
port_free() {
    if ss -Hltn "sport = :$1" | grep -q .; then
        die "port $1 is in use; set BENCH_PORT_BASE to use other ports"
    fi
}

# wait_http URL [curl options...]: until URL answers, at most 30 s.
wait_http() {
    local url=$1 i
    shift
    for i in $(seq 150); do
        curl -ks -o /dev/null --max-time 1 "$@" "$url" && return 0
        sleep 0.2
    done
    die "$url did not answer within 30 s"
}

# start_palisade NAME DATA_DIR PORT [ENV=VALUE...]: serves Drop, records its pid in the
# variable PID_<NAME> and in PIDS. Logs go to $RESULTS/NAME.log.
start_palisade() {
    local name=$1 data=$2 port=$3
    shift 3
    port_free "$port"
    env PALISADE_DATA_DIR="$data" PALISADE_HTTPS_ADDR="127.0.0.1:$port" PALISADE_HTTP_ADDR=off \
        "$@" "$PALISADE" serve >"$RESULTS/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}

# create_user DATA_DIR: the bench account, verified (argon2id hash made by the CLI).
create_user() {
    printf '%s\n' "$BENCH_PASSWORD" |
        "$PALISADE" user create --data-dir "$1" --email "$BENCH_EMAIL" --password-stdin >/dev/null ||
        die "palisade user create failed"
}

# palisade_sign_in BASE_URL ORIGIN: signs in with curl and prints the session cookie
# (`__Host-palisade=…`). The cookie is passed by hand, as wrk will, so it also works over the
# plain-HTTP "behind a TLS proxy" listener, where curl would not send a Secure cookie itself.
palisade_sign_in() {
    local base=$1 origin=$2 headers page cookie token
    headers=$(mktemp)
    page=$(curl -ks -D "$headers" "$base/login")
    cookie=$(session_cookie "$headers" __Host-palisade)
    token=$(printf '%s' "$page" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
    [[ -n $cookie && -n $token ]] || die "no session or CSRF token from $base/login"
    curl -ks -o /dev/null -D "$headers" -H "Cookie: $cookie" -H "Origin: $origin" \
        --data-urlencode "email=$BENCH_EMAIL" --data-urlencode "password=$BENCH_PASSWORD" \
        --data-urlencode "csrf_token=$token" --data-urlencode "next=/account" "$base/login"
    grep -qi '^location: /account' "$headers" || die "sign-in at $base was refused"
    session_cookie "$headers" __Host-palisade
    rm -f "$headers"
}

# session_cookie HEADER_FILE NAME: `NAME=value` from the last Set-Cookie for NAME.
session_cookie() {
    grep -i "^set-cookie: $2=" "$1" | tail -1 | sed 's/^[^:]*: *//; s/;.*//' | tr -d '\r'
}

# flask_sign_in BASE_URL: signs in to the Flask app with a cookie jar; prints a Cookie value.
flask_sign_in() {
    local base=$1 jar token
    jar=$(mktemp)
    token=$(curl -ks -c "$jar" -b "$jar" "$base/login" |
        sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
    [[ -n $token ]] || die "no CSRF token from $base/login"
    curl -ks -o /dev/null -c "$jar" -b "$jar" -H "Referer: $base/login" \
        --data-urlencode "email=$BENCH_EMAIL" --data-urlencode "password=$BENCH_PASSWORD" \
        --data-urlencode "csrf_token=$token" "$base/login"
    # Netscape jar: name in column 6, value in 7.
    awk '!/^#/ || /^#HttpOnly_/ { if (NF >= 7) printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }' "$jar"
    rm -f "$jar"
}

# check_page URL NEEDLE [curl options...]: the page answers 200 and contains NEEDLE.
check_page() {
    local url=$1 needle=$2 status body
    shift 2
    body=$(curl -ks -w '\n%{http_code}' "$@" "$url")
    status=${body##*$'\n'}
    [[ $status == 200 ]] || die "$url answered $status, not 200"
    grep -qF -- "$needle" <<<"$body" || die "$url does not contain \`$needle\`"
}

# page_bytes URL [curl options...]: size of one response, headers included, as wrk counts it.
page_bytes() {
    local url=$1
    shift
    curl -ks -D - -o - "$@" "$url" | wc -c
}

# bench LABEL URL [wrk options...]: one wrk run; appends a TSV line to $RESULTS/rows.tsv:
# label, url, "req/s p50-ms p99-ms bytes-per-response errors" (to $ROWS if set).
bench() {
    local label=$1 url=$2 out
    shift 2
    out="$RESULTS/wrk-$(tr -c 'A-Za-z0-9' '_' <<<"$label").txt"
    log "wrk $label: $url"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency -s "$BENCH_DIR/lua/report.lua" \
        "$@" "$url" >"$out" 2>&1 || die "wrk failed for $label (see $out)"
    local line
    line=$(grep '^BENCH ' "$out") || die "no result line from wrk for $label (see $out)"
    printf '%s\t%s\t%s\n' "$label" "$url" "${line#BENCH }" >>"${ROWS:-$RESULTS/rows.tsv}"
}

# rss PID: "VmRSS VmHWM" in KiB.
rss() {
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$1/status"
}
