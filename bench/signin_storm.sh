#!/usr/bin/env bash
# Sign-in storm: does a burst of argon2id sign-ins slow everyone else down?
#
#   bench/signin_storm.sh
#
# On a fresh `palisade serve` (HTTPS, every layer on), wrk fetches a static page
# (STORM_PAGE, default /static/app.css) twice with the usual settings (WRK_THREADS, WRK_CONNS,
# WRK_DURATION): once alone, once while STORM_CLIENTS (50) clients sign in over and over
# (bench/storm.py: GET /login, then POST /login with the right password). Target: the page's
# p99 stays under 50 ms during the storm. Writes $RESULTS/storm.txt.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk curl python3 ss awk

RESULTS=${RESULTS:-$BENCH_DIR/results/storm-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
trap stop_all EXIT

PORT=$((${BENCH_PORT_BASE:-18000} + 643))
PAGE=${STORM_PAGE:-/static/app.css}
CLIENTS=${STORM_CLIENTS:-50}
SECONDS_RUN=${WRK_DURATION%s}
[[ $SECONDS_RUN =~ ^[0-9]+$ ]] || die "WRK_DURATION must be whole seconds like 10s for the storm"

build
DATA=$RESULTS/storm-data
create_user "$DATA"
start_palisade storm "$DATA" "$PORT"
URL=https://127.0.0.1:$PORT
wait_http "$URL/healthz"
check_page "$URL$PAGE" ""

ROWS=$RESULTS/storm-rows.tsv
: >"$ROWS"
bench "static page, no storm" "$URL$PAGE"
sleep 1

log "storm: $CLIENTS clients signing in for $((SECONDS_RUN + 2)) s"
python3 "$BENCH_DIR/storm.py" "$URL" "https://localhost:$PORT" "$BENCH_EMAIL" "$BENCH_PASSWORD" \
    "$CLIENTS" "$((SECONDS_RUN + 2))" >"$RESULTS/storm-client.txt" &
STORM_PID=$!
sleep 1 # every client is waiting on argon2 before wrk starts
bench "static page, during the storm" "$URL$PAGE"
wait "$STORM_PID" || die "the storm client failed"
read -r _ signins failures s50 s99 smax <"$RESULTS/storm-client.txt"
read -r storm_rss storm_hwm < <(rss "$PID_storm")
[[ $failures == 0 ]] || log "warning: $failures sign-ins failed during the storm"

{
    echo "Sign-in storm: $CLIENTS concurrent clients signing in (argon2id) over HTTPS while wrk"
    echo "fetches $PAGE (wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION); target p99 < 50 ms."
    echo
    echo "| static page | req/s | p50 ms | p99 ms | errors |"
    echo "|---|---:|---:|---:|---:|"
    awk -F'\t' '{ split($3, m, " "); printf "| %s | %.0f | %.2f | %.2f | %d |\n", $1, m[1], m[2], m[3], m[5] }' "$ROWS"
    awk -F'\t' 'NR == 2 { split($3, m, " "); printf "\nStatic p99 during the storm: %.2f ms (target < 50 ms: %s).\n", m[3], m[3] < 50 ? "met" : "MISSED" }' "$ROWS"
    echo "Sign-ins completed: $signins ($failures failed) in $((SECONDS_RUN + 2)) s; sign-in latency p50 $s50 ms, p99 $s99 ms, max $smax ms."
    echo "Server VmHWM after the storm: $((storm_hwm / 1024)) MiB (VmRSS $((storm_rss / 1024)) MiB)."
} | tee "$RESULTS/storm.txt"
