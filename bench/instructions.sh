#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: rows D (bare axum), A (anonymous /)
# and B (signed-in /account) over plain HTTP, with what the main parts of each cost.
#
#   bench/instructions.sh
#
# Throughput on a shared 2-core machine moves from run to run; instruction counts do not (the
# same binary and requests give the same count whatever else the machine does). Each server
# runs under callgrind, its counters are zeroed after a warm-up, wrk sends requests over 4
# connections for CG_DURATION (10s), the counters are dumped, and every count is divided by the
# number of requests answered. The parts are inclusive counts of one function each: the
# template render, the request log (event and span), the security headers, the SQLite worker
# threads of sqlx, and HMAC-SHA-256 (cookie signatures, CSRF tokens, session keys). valgrind
# does not emulate the CPU's SHA instructions, so SHA-256 runs in software here and that column
# is several times what it costs natively. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need valgrind callgrind_annotate callgrind_control wrk curl awk

RESULTS=${RESULTS:-$BENCH_DIR/results/instructions-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
trap stop_all EXIT
CG_DURATION=${CG_DURATION:-10s}
PORT=$((${BENCH_PORT_BASE:-18000} + 900))

build

# count NAME URL [wrk options...]: runs wrk against the server in PIDS' last entry, which runs
# under callgrind writing $RESULTS/NAME.cg; prints the number of requests.
count() {
    local name=$1 url=$2 pid=${PIDS[-1]} out n
    shift 2
    for _ in 1 2 3; do curl -s -o /dev/null "$@" "$url"; done
    callgrind_control -z "$pid" >/dev/null
    out=$(wrk -t1 -c4 -d"$CG_DURATION" "$@" "$url")
    callgrind_control -d "$pid" >/dev/null
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    [[ -n $n && $n -gt 0 ]] || die "wrk answered nothing for $name: $out"
    grep -q "Non-2xx" <<<"$out" && die "$name: some answers were not 2xx: $out"
    echo "$n"
}

# inclusive FILE TEXT: the largest inclusive count of a function whose line contains TEXT.
inclusive() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v pat="$2" 'index($0, pat) { gsub(",", "", $1); if ($1 + 0 > max) max = $1 + 0 } END { print max + 0 }'
}

total() {
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}

under_callgrind() { # NAME COMMAND...
    local name=$1
    shift
    # --trace-children follows `env` into the program it starts (same process id).
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$RESULTS/$name.cg" "$@" \
        >"$RESULTS/$name.log" 2>&1 &
    PIDS+=($!)
}

last_dump() { # NAME: the newest dump written by callgrind_control -d (NAME.cg.N)
    ls -t "$RESULTS/$1.cg".* | head -1
}

ROWS=$RESULTS/rows.tsv
: >"$ROWS"
row() { # LABEL DUMP REQUESTS
    local label=$1 dump=$2 n=$3
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$n" \
        "$(total "$dump")" \
        "$(inclusive "$dump" 'minijinja::template::Template::_render [')" \
        "$(($(inclusive "$dump" 'Subscriber>::event [') + $(inclusive "$dump" 'Subscriber>::new_span [') + $(inclusive "$dump" 'Subscriber>::try_close [')))" \
        "$(($(inclusive "$dump" 'palisade::headers::Shared::apply [') + $(inclusive "$dump" 'palisade::headers::CspNonce::generate [')))" \
        "$(inclusive "$dump" 'src/connection/worker.rs:std::sys::backtrace::__rust_begin_short_backtrace')" \
        "$(inclusive "$dump" 'palisade::secret::mac [')" \
        >>"$ROWS"
}

log "D: axum-bare under callgrind"
under_callgrind bare "$AXUM_BARE" "127.0.0.1:$PORT"
wait_http "http://127.0.0.1:$PORT/"
n=$(count bare "http://127.0.0.1:$PORT/")
row "D bare axum, /" "$(last_dump bare)" "$n"
stop_all

log "A and B: palisade serve under callgrind"
DATA=$RESULTS/data
create_user "$DATA"
port_free "$((PORT + 1))"
under_callgrind pal env PALISADE_DATA_DIR="$DATA" PALISADE_HTTPS_ADDR="127.0.0.1:$((PORT + 1))" \
    PALISADE_HTTP_ADDR=off PALISADE_TLS_TERMINATED_BY_PROXY=true \
    PALISADE_TRUSTED_PROXIES=127.0.0.1/32 "$PALISADE" serve
URL=http://127.0.0.1:$((PORT + 1))
wait_http "$URL/healthz"
n=$(count pal_a "$URL/")
row "A palisade serve, anonymous /" "$(last_dump pal)" "$n"
mv "$(last_dump pal)" "$RESULTS/pal-A.cg"
COOKIE=$(palisade_sign_in "$URL" "https://localhost:$((PORT + 1))")
check_page "$URL/account" "$BENCH_EMAIL" -H "Cookie: $COOKIE"
n=$(count pal_b "$URL/account" -H "Cookie: $COOKIE")
row "B palisade serve, signed-in /account" "$(last_dump pal)" "$n"
mv "$(last_dump pal)" "$RESULTS/pal-B.cg"
stop_all

{
    echo "| row | requests | instructions / request | template | log line and span | security headers | SQLite threads | HMAC-SHA-256 | rest |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{
        n = $2
        rest = $3 - $4 - $5 - $6 - $7 - $8
        printf "| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", $1, n, $3 / n, $4 / n, $5 / n, $6 / n, $7 / n, $8 / n, rest / n
    }' "$ROWS"
    echo
    awk -F'\t' '{ per[NR] = $3 / $2 } END {
        printf "Instructions per request, A/D: %.2f; B/D: %.2f (D/A as a throughput bound: %.2f)\n", per[2] / per[1], per[3] / per[1], per[1] / per[2]
    }' "$ROWS"
} | tee "$RESULTS/report.md"
log "callgrind dumps in $RESULTS (callgrind_annotate --inclusive=yes FILE)"
