#!/usr/bin/env bash
# One command, one table: Drop (`palisade serve`, every layer on) against bare axum
# rendering the same template (the ceiling) and against the Flask stack (flask-talisman,
# flask-seasurf, flask-login under gunicorn), then the sign-in storm and the memory check.
#
#   bench/run.sh
#
# Settings (environment): WRK_THREADS (2), WRK_CONNS (32), WRK_DURATION (10s) for every row;
# BENCH_PORT_BASE (18000); BENCH_SKIP_BUILD=1 to reuse the release binaries; BENCH_EXTRAS=0 to
# skip the storm and memory parts; FLASK_WORKER_CLASS (gthread) and FLASK_THREADS (2).
# Results go to bench/results/<time>/ (and bench/results/latest); everything listens on
# 127.0.0.1 only and every load run stops by itself after WRK_DURATION.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk curl python3 ss awk openssl

RESULTS=$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
ln -sfn "$RESULTS" "$BENCH_DIR/results/latest"
trap stop_all EXIT

BASE=${BENCH_PORT_BASE:-18000}
P_PAL_TLS=$((BASE + 443))      # palisade serve, HTTPS (its default transport)
P_PAL_HTTP=$((BASE + 80))      # palisade serve behind a "TLS proxy": plain HTTP, all layers on
P_PAL_QUIET=$((BASE + 81))     # the same with the per-request log line filtered out
P_BARE_HTTP=$((BASE + 90))
P_BARE_TLS=$((BASE + 493))
P_FLASK_HTTP=$((BASE + 100))
P_FLASK_TLS=$((BASE + 543))
CORES=$(nproc)
FLASK_WORKERS=$((2 * CORES + 1))
FLASK_WORKER_CLASS=${FLASK_WORKER_CLASS:-gthread}
FLASK_THREADS=${FLASK_THREADS:-2}
[[ $FLASK_WORKER_CLASS == sync ]] && FLASK_THREADS=1 # gunicorn turns sync with threads into gthread

build
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- Flask in bench/.venv ------------------------------------------------------------------
VENV=$BENCH_DIR/.venv
if [[ ! -x $VENV/bin/gunicorn ]]; then
    log "installing Flask, flask-talisman, flask-seasurf, flask-login and gunicorn in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet flask flask-talisman flask-seasurf flask-login gunicorn
fi
"$VENV/bin/pip" freeze 2>/dev/null |
    grep -iE '^(flask|flask-talisman|flask-seasurf|flask-login|gunicorn|jinja2|werkzeug)=' \
        >"$RESULTS/python-packages.txt" || true

# --- Servers ---------------------------------------------------------------------------------
DATA=$RESULTS/data
log "creating the bench account in $DATA"
create_user "$DATA"
start_palisade pal_tls "$DATA" "$P_PAL_TLS"
wait_http "https://127.0.0.1:$P_PAL_TLS/healthz"
CERT=$DATA/tls/dev-cert.pem
KEY=$DATA/tls/dev-key.pem
start_palisade pal_http "$DATA" "$P_PAL_HTTP" \
    PALISADE_TLS_TERMINATED_BY_PROXY=true PALISADE_TRUSTED_PROXIES=127.0.0.1/32
start_palisade pal_quiet "$DATA" "$P_PAL_QUIET" \
    PALISADE_TLS_TERMINATED_BY_PROXY=true PALISADE_TRUSTED_PROXIES=127.0.0.1/32 \
    PALISADE_LOG="warn,sqlx=warn"

for port in "$P_BARE_HTTP" "$P_BARE_TLS" "$P_FLASK_HTTP" "$P_FLASK_TLS"; do port_free "$port"; done
"$AXUM_BARE" "127.0.0.1:$P_BARE_HTTP" >"$RESULTS/bare_http.log" 2>&1 &
PIDS+=($!)
"$AXUM_BARE" "127.0.0.1:$P_BARE_TLS" "$CERT" "$KEY" >"$RESULTS/bare_tls.log" 2>&1 &
PIDS+=($!)

start_flask() { # NAME PORT HTTPS(0|1) [gunicorn options...]
    local name=$1 port=$2 https=$3
    shift 3
    env BENCH_FLASK_DB="$RESULTS/flask.db" BENCH_HTTPS="$https" BENCH_EMAIL="$BENCH_EMAIL" \
        BENCH_PASSWORD="$BENCH_PASSWORD" \
        "$VENV/bin/gunicorn" --chdir "$BENCH_DIR/flask" --preload --workers "$FLASK_WORKERS" \
        --worker-class "$FLASK_WORKER_CLASS" --threads "$FLASK_THREADS" \
        --bind "127.0.0.1:$port" --log-level warning "$@" app:app >"$RESULTS/$name.log" 2>&1 &
    PIDS+=($!)
}
start_flask flask_http "$P_FLASK_HTTP" 0
wait_http "http://127.0.0.1:$P_FLASK_HTTP/healthz" # the first one creates the database
start_flask flask_tls "$P_FLASK_TLS" 1 --certfile "$CERT" --keyfile "$KEY"

wait_http "http://127.0.0.1:$P_PAL_HTTP/healthz"
wait_http "http://127.0.0.1:$P_PAL_QUIET/healthz"
wait_http "http://127.0.0.1:$P_BARE_HTTP/healthz"
wait_http "https://127.0.0.1:$P_BARE_TLS/healthz"
wait_http "https://127.0.0.1:$P_FLASK_TLS/healthz"

# --- Sign in and check every page once -------------------------------------------------------
log "signing in with curl"
C_PAL_TLS=$(palisade_sign_in "https://127.0.0.1:$P_PAL_TLS" "https://localhost:$P_PAL_TLS")
C_PAL_HTTP=$(palisade_sign_in "http://127.0.0.1:$P_PAL_HTTP" "https://localhost:$P_PAL_HTTP")
C_PAL_QUIET=$(palisade_sign_in "http://127.0.0.1:$P_PAL_QUIET" "https://localhost:$P_PAL_QUIET")
C_FLASK_HTTP=$(flask_sign_in "http://127.0.0.1:$P_FLASK_HTTP")
C_FLASK_TLS=$(flask_sign_in "https://127.0.0.1:$P_FLASK_TLS")

HERO="Share files with your team, safely."
check_page "https://127.0.0.1:$P_PAL_TLS/" "$HERO"
check_page "http://127.0.0.1:$P_PAL_HTTP/" "$HERO"
check_page "http://127.0.0.1:$P_BARE_HTTP/" "$HERO"
check_page "https://127.0.0.1:$P_BARE_TLS/" "$HERO"
check_page "http://127.0.0.1:$P_FLASK_HTTP/" "$HERO"
check_page "https://127.0.0.1:$P_FLASK_TLS/" "$HERO"
for pair in "https://127.0.0.1:$P_PAL_TLS|$C_PAL_TLS" "http://127.0.0.1:$P_PAL_HTTP|$C_PAL_HTTP" \
    "http://127.0.0.1:$P_PAL_QUIET|$C_PAL_QUIET" "http://127.0.0.1:$P_FLASK_HTTP|$C_FLASK_HTTP" \
    "https://127.0.0.1:$P_FLASK_TLS|$C_FLASK_TLS"; do
    check_page "${pair%%|*}/account" 'name="csrf_token"' -H "Cookie: ${pair#*|}"
    check_page "${pair%%|*}/account" "$BENCH_EMAIL" -H "Cookie: ${pair#*|}"
done

# --- The rows --------------------------------------------------------------------------------
# row KEY DESCRIPTION URL [wrk options]: a wrk run plus the size one curl request gets, so a
# run that was answered by redirects or errors shows up in the table instead of passing.
: >"$RESULTS/rows.tsv"
row() {
    local key=$1 desc=$2 url=$3 expected curl_opts=()
    shift 3
    local args=("$@") i
    for ((i = 0; i < ${#args[@]}; i++)); do
        [[ ${args[i]} == -H ]] && curl_opts+=(-H "${args[i + 1]}")
    done
    expected=$(page_bytes "$url" "${curl_opts[@]}")
    bench "$key" "$url" "$@"
    # rows.tsv: key, url, "rps p50 p99 bytes errors" -> add description and expected size.
    local last
    last=$(tail -1 "$RESULTS/rows.tsv")
    sed -i '$d' "$RESULTS/rows.tsv"
    printf '%s\t%s\t%s\n' "$last" "$desc" "$expected" >>"$RESULTS/rows.tsv"
    sleep 1
}

CLOSE=(-H "Connection: close")
row "D http" "bare axum, same template, HTTP" "http://127.0.0.1:$P_BARE_HTTP/"
row "A http" "palisade serve, anonymous /, HTTP" "http://127.0.0.1:$P_PAL_HTTP/"
row "B http" "palisade serve, signed-in /account, HTTP" "http://127.0.0.1:$P_PAL_HTTP/account" \
    -H "Cookie: $C_PAL_HTTP"
row "E/ http" "Flask stack, anonymous /, HTTP" "http://127.0.0.1:$P_FLASK_HTTP/"
row "E/account http" "Flask stack, signed-in /account, HTTP" \
    "http://127.0.0.1:$P_FLASK_HTTP/account" -H "Cookie: $C_FLASK_HTTP"
row "D https" "bare axum, same template, HTTPS keep-alive" "https://127.0.0.1:$P_BARE_TLS/"
row "A https" "palisade serve, anonymous /, HTTPS keep-alive" "https://127.0.0.1:$P_PAL_TLS/"
row "B https" "palisade serve, signed-in /account, HTTPS keep-alive" \
    "https://127.0.0.1:$P_PAL_TLS/account" -H "Cookie: $C_PAL_TLS"
row "E/ https" "Flask stack, anonymous /, HTTPS keep-alive" "https://127.0.0.1:$P_FLASK_TLS/"
row "E/account https" "Flask stack, signed-in /account, HTTPS keep-alive" \
    "https://127.0.0.1:$P_FLASK_TLS/account" -H "Cookie: $C_FLASK_TLS"
row "C A" "palisade serve, /, new TLS handshake per request" \
    "https://127.0.0.1:$P_PAL_TLS/" "${CLOSE[@]}"
row "C B" "palisade serve, /account, new TLS handshake per request" \
    "https://127.0.0.1:$P_PAL_TLS/account" -H "Cookie: $C_PAL_TLS" "${CLOSE[@]}"
row "C D" "bare axum, /, new TLS handshake per request" \
    "https://127.0.0.1:$P_BARE_TLS/" "${CLOSE[@]}"
row "C A tcp" "palisade serve, /, new TCP connection per request, HTTP" \
    "http://127.0.0.1:$P_PAL_HTTP/" "${CLOSE[@]}"
row "A' http" "attribution: A http with the request log line filtered (PALISADE_LOG=warn)" \
    "http://127.0.0.1:$P_PAL_QUIET/"
row "B' http" "attribution: B http with the request log line filtered (PALISADE_LOG=warn)" \
    "http://127.0.0.1:$P_PAL_QUIET/account" -H "Cookie: $C_PAL_QUIET"

# Still signed in after the runs (a 303 to /login would have been counted as a response).
check_page "http://127.0.0.1:$P_PAL_HTTP/account" "$BENCH_EMAIL" -H "Cookie: $C_PAL_HTTP"
check_page "https://127.0.0.1:$P_PAL_TLS/account" "$BENCH_EMAIL" -H "Cookie: $C_PAL_TLS"
for name in pal_tls pal_http; do
    pid_var=PID_$name
    read -r rss_kib hwm_kib < <(rss "${!pid_var}")
    printf '%s after load: VmRSS %d KiB, VmHWM %d KiB\n' "$name" "$rss_kib" "$hwm_kib" \
        >>"$RESULTS/memory-after-load.txt"
done
stop_all

# --- Storm and memory, each on a fresh server ------------------------------------------------
if [[ ${BENCH_EXTRAS:-1} == 1 ]]; then
    RESULTS=$RESULTS BENCH_SKIP_BUILD=1 "$BENCH_DIR/signin_storm.sh"
    RESULTS=$RESULTS BENCH_SKIP_BUILD=1 "$BENCH_DIR/memory.sh"
fi

# --- The report --------------------------------------------------------------------------------
{
    printf '# %s, %s cores, %s, wrk -t%s -c%s -d%s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
        "$CORES" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
        "$WRK_THREADS" "$WRK_CONNS" "$WRK_DURATION"
    printf 'Load average (1, 5, 15 min) just before the servers started: %s. The machine is\n' \
        "$LOAD_BEFORE"
    printf 'shared; a load above ~1 means other work competed with these runs.\n\n'
    printf '| row | what | req/s | p50 ms | p99 ms | bytes/resp (one curl) | errors |\n'
    printf '|---|---|---:|---:|---:|---:|---:|\n'
    awk -F'\t' '{
        split($3, m, " ")
        flag = ($5 > 0 && (m[4] < 0.95 * $5 || m[4] > 1.05 * $5)) ? " ⚠" : ""
        printf "| %s | %s | %.0f | %.2f | %.2f | %d (%d)%s | %d |\n", $1, $4, m[1], m[2], m[3], m[4], $5, flag, m[5]
    }' "$RESULTS/rows.tsv"
    echo
    awk -F'\t' -v flask_class="$FLASK_WORKER_CLASS" -v flask_workers="$FLASK_WORKERS" '
        { split($3, m, " "); rps[$1] = m[1] }
        function ratio(name, a, b, target, cmp) {
            if (!(a in rps) || !(b in rps) || rps[b] == 0) return
            r = rps[a] / rps[b]
            met = target == "" ? "" : (cmp == ">=" ? (r >= target ? "met" : "MISSED") : "")
            printf "| %s | %s / %s | %.2f | %s | %s |\n", name, a, b, r,
                target == "" ? "-" : ">= " target, met == "" ? "-" : met
        }
        END {
            print "| ratio | rows | value | target | |"
            print "|---|---|---:|---|---|"
            ratio("A/D (cost of security, anonymous)", "A http", "D http", 0.85, ">=")
            ratio("B/D (cost of security, signed in)", "B http", "D http")
            ratio("A/D over HTTPS", "A https", "D https", 0.85, ">=")
            ratio("B/D over HTTPS", "B https", "D https")
            ratio("A/E (vs Flask, anonymous)", "A http", "E/ http")
            ratio("B/E (vs Flask, signed in)", "B http", "E/account http", 20, ">=")
            ratio("A/E over HTTPS", "A https", "E/ https")
            ratio("B/E over HTTPS", "B https", "E/account https")
            ratio("new TLS handshake vs keep-alive, /", "C A", "A https")
            ratio("request log line: A with it / without", "A http", "A\x27 http")
            ratio("request log line: B with it / without", "B http", "B\x27 http")
            printf "\nFlask: gunicorn %d workers (%s)\n", flask_workers, flask_class
        }' "$RESULTS/rows.tsv"
    for extra in storm.txt memory.txt memory-after-load.txt; do
        [[ -f $RESULTS/$extra ]] && { echo; cat "$RESULTS/$extra"; }
    done
} | tee "$RESULTS/report.md"
log "report: $RESULTS/report.md"
