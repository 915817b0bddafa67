#!/usr/bin/env bash
# Where does the time of `palisade serve` go? A CPU profile of rows A and B (plain HTTP behind
# the "TLS proxy" setting, so TLS does not blur the picture), grouped by what the code does.
#
#   bench/profile.sh
#
# Runs wrk (WRK_THREADS, WRK_CONNS, WRK_DURATION) against / and /account while
# `perf record -e cpu-clock` samples the server process only, then sums the samples by the
# function they were taken in (self time), sorted into groups by crate and module: TLS is off,
# so the groups are the kernel (sockets, scheduling), tokio and hyper, the SQLite store, the
# request log line, templates, HMAC and hashing, and the rest. Writes
# $RESULTS/profile-<row>.txt and prints the summary.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk curl perf ss awk

RESULTS=${RESULTS:-$BENCH_DIR/results/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
trap stop_all EXIT

PORT=$((${BENCH_PORT_BASE:-18000} + 843))
SECONDS_RUN=${WRK_DURATION%s}
[[ $SECONDS_RUN =~ ^[0-9]+$ ]] || die "WRK_DURATION must be whole seconds like 10s"

build
DATA=$RESULTS/profile-data
create_user "$DATA"
start_palisade profile "$DATA" "$PORT" \
    PALISADE_TLS_TERMINATED_BY_PROXY=true PALISADE_TRUSTED_PROXIES=127.0.0.1/32
URL=http://127.0.0.1:$PORT
wait_http "$URL/healthz"
COOKIE=$(palisade_sign_in "$URL" "https://localhost:$PORT")
check_page "$URL/account" "$BENCH_EMAIL" -H "Cookie: $COOKIE"

# profile NAME PATH [wrk options]
profile() {
    local name=$1 path=$2
    shift 2
    log "profiling $name ($path) for $WRK_DURATION"
    perf record -q -e cpu-clock -F 1999 -p "$PID_profile" -o "$RESULTS/perf-$name.data" \
        -- sleep "$((SECONDS_RUN + 1))" 2>"$RESULTS/perf-$name.err" &
    local perf_pid=$!
    sleep 0.5
    ROWS=$RESULTS/profile-rows.tsv bench "profile $name" "$URL$path" "$@"
    wait "$perf_pid" || die "perf record failed (see $RESULTS/perf-$name.err)"
    perf report -i "$RESULTS/perf-$name.data" --no-children --sort dso,sym --stdio \
        2>/dev/null >"$RESULTS/perf-$name-symbols.txt"
    summarize "$RESULTS/perf-$name-symbols.txt" | tee "$RESULTS/profile-$name.txt"
}

# Sums self-time percentages by group. A line of `perf report --sort dso,sym` looks like
#   12.34%  palisade  [.] sqlx_sqlite::connection::worker::...
summarize() {
    awk '
        /^ *[0-9.]+%/ {
            pct = $1; sub("%", "", pct)
            line = $0
            g = "other"
            if (line ~ /\[kernel|\[k\]/) g = "kernel (sockets, scheduling, syscalls)"
            else if (line ~ /sqlite3|sqlx/) g = "SQLite store (sqlx + libsqlite3)"
            else if (line ~ /tracing_subscriber|tracing_core|tracing::|request_log|nu_ansi|fmt::write|core::fmt/) g = "logging and formatting (tracing, fmt)"
            else if (line ~ /minijinja/) g = "templates (minijinja)"
            else if (line ~ /hmac|sha2|Sha256|sha256|ring::|subtle|hkdf|getrandom|rand::|chacha|base64|hex::/) g = "HMAC, hashing, randomness, encodings"
            else if (line ~ /serde_json|serde::/) g = "JSON (session data, template context)"
            else if (line ~ /tokio|hyper|mio::|h2::|http::header|httparse|bytes::/) g = "tokio, hyper, http"
            else if (line ~ /libc\.so|malloc|free|memcpy|memmove|memset|_int_|cfree|realloc/) g = "libc (malloc, memcpy)"
            else g = "other code in the binary (palisade, axum, std)"
            sum[g] += pct
        }
        END { for (g in sum) printf "%6.1f%%  %s\n", sum[g], g }
    ' "$1" | sort -rn
}

profile A /
profile B /account -H "Cookie: $COOKIE"
{
    echo
    echo "Top functions (self time), row B:"
    awk '/^ *[0-9.]+%/ && n++ < 25' "$RESULTS/perf-B-symbols.txt"
} | tee -a "$RESULTS/profile-B.txt"
