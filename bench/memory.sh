#!/usr/bin/env bash
# Memory: the RSS of `palisade serve` idle, then with 10,000 sessions in its store.
#
#   bench/memory.sh
#
# Starts a fresh server (HTTPS), reads VmRSS and VmHWM from /proc/PID/status once it is idle,
# then makes MEMORY_SESSIONS (10000) anonymous sessions cheaply (each GET /login without a
# cookie starts one: wrk over keep-alive, stopped after exactly that many responses), counts
# them in the SQLite store, and reads the memory again. Target: idle RSS < 30 MiB.
# Writes $RESULTS/memory.txt.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk curl ss awk sqlite3

RESULTS=${RESULTS:-$BENCH_DIR/results/memory-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
trap stop_all EXIT

PORT=$((${BENCH_PORT_BASE:-18000} + 743))
SESSIONS=${MEMORY_SESSIONS:-10000}
(( SESSIONS % 2 == 0 )) || die "MEMORY_SESSIONS must be even (two wrk threads share it)"

build
DATA=$RESULTS/memory-data
create_user "$DATA"
start_palisade memory "$DATA" "$PORT"
URL=https://127.0.0.1:$PORT
wait_http "$URL/healthz"
sleep 3
read -r idle_rss idle_hwm < <(rss "$PID_memory")
count() { sqlite3 "$DATA/palisade.db" 'SELECT count(*) FROM palisade_sessions'; }
before=$(count)

log "making $SESSIONS sessions with GET /login"
wrk -t2 -c2 -d120s -s "$BENCH_DIR/lua/count.lua" "$URL/login" -- "$((SESSIONS / 2))" \
    >"$RESULTS/memory-wrk.txt" 2>&1 || die "wrk failed (see $RESULTS/memory-wrk.txt)"
read -r _ responses bad < <(grep '^COUNT ' "$RESULTS/memory-wrk.txt")
sleep 3
after=$(count)
read -r full_rss full_hwm < <(rss "$PID_memory")

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
{
    echo "Memory of palisade serve (HTTPS, fresh data directory), from /proc/PID/status:"
    echo
    echo "| state | sessions in the store | VmRSS MiB | VmHWM MiB |"
    echo "|---|---:|---:|---:|"
    echo "| idle after start | $before | $(mib "$idle_rss") | $(mib "$idle_hwm") |"
    echo "| idle after $responses GET /login ($bad errors) | $after | $(mib "$full_rss") | $(mib "$full_hwm") |"
    echo
    awk -v k="$idle_rss" 'BEGIN { printf "Idle RSS target < 30 MiB: %s.\n", k / 1024 < 30 ? "met" : "MISSED" }'
} | tee "$RESULTS/memory.txt"
