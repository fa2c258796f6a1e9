#!/usr/bin/env bash
# Benchmarks/cluster.sh BIN_DIR
#
# Issue 15's figures, in one run, on 127.0.0.1 only, in front of nginx's static `return` (a
# canned 1 KiB Messages answer, so the upstream's CPU does not hide the proxy's):
#   sqlite   one ccload relaying (a 1-channel table, a client token, the usage tap, request
#            records) with its records going to its SQLite file
#   pg       the same ccload build with its store on PostgreSQL (a throwaway cluster made by
#            Tests/Support/pg-cluster.sh in the temp dir)
#   ha-1     haproxy in front of that one PostgreSQL ccload (the balancer's own hop)
#   ha-2     haproxy in front of two PostgreSQL ccloads on the same database
# POST /v1/messages, closed loop, CONNS keep-alive connections, SECS seconds per run, ROUNDS
# rounds interleaved target by target, medians; ratios pg/sqlite and ha-2/ha-1. At the end
# each instance's writer counters say whether every record reached its database.
#
# This machine has two cores: PostgreSQL, haproxy, nginx, the load generator and the ccloads
# share them, so ha-2/ha-1 measures what a second instance costs and gains on one small
# machine, not the scaling across machines.
#
# Knobs: ROUNDS (3), SECS (8), CONNS (64), CL_THREADS (ccload threads per instance, 1),
# CL_PIN=1 (every ccload on CPU 1; PostgreSQL, nginx, haproxy and the load generator on CPU
# 0: the proxy's own core, apart from the database's), CL_KEEP=1 keeps the temp dir. Every
# wait is bounded; every process is stopped on exit.
set -euo pipefail

[[ $# == 1 ]] || { sed -n '2,22p' "$0"; exit 2; }
BIN=$(cd "$1" && pwd)
[[ -x $BIN/ccload && -x $BIN/ccload-loadgen ]] || { echo "no ccload and ccload-loadgen in $BIN" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for c in jq haproxy; do command -v $c >/dev/null || { echo "$c is needed (apt-get install $c)" >&2; exit 2; }; done

ROUNDS=${ROUNDS:-3}; SECS=${SECS:-8}; CONNS=${CONNS:-64}; THREADS=${CL_THREADS:-1}
if [[ ${CL_PIN:-0} == 1 ]]; then SRV=(taskset -c 1); OTHER=(taskset -c 0); else SRV=(); OTHER=(); fi
BENCH_NAME=cluster.sh
# shellcheck source=Benchmarks/lib.sh
source "$ROOT/Benchmarks/lib.sh"
BENCH_KEEP_WORK=${CL_KEEP:-0}
bench_workdir ccload-cluster
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Its own folder under /tmp (the work dir is private, and the server may run as another user).
PGDIR=$(mktemp -d /tmp/ccload-cluster-pg-XXXXXX)
PGURL=$("${OTHER[@]}" bash "$ROOT/Tests/Support/pg-cluster.sh" start "$PGDIR" 2>"$WORK/pg.log") || die "PostgreSQL did not start: $(cat "$WORK/pg.log")"
stop_pg() { bash "$ROOT/Tests/Support/pg-cluster.sh" stop "$PGDIR" >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap 'stop_pg; bench_cleanup' EXIT

NG_PORT=$(free_port)
start_nginx_static nginx "$NG_PORT" 1 1024 "${OTHER[@]}"

TOKEN="cl-token-$RANDOM$RANDOM"
cat >"$WORK/channels.json" <<JSON
[{"name": "json", "protocol": "anthropic", "url": "http://127.0.0.1:$NG_PORT/json", "api_key": "sk-cl-0000", "models": ["bench-json"]}]
JSON
export CCLOAD_PASS="cl-admin-$RANDOM$RANDOM"
KEY=$(openssl rand -hex 32)
declare -A PORT_OF PID_OF
start() {  # NAME sqlite|pg
    local name=$1 store=$2 port; port=$(free_port)
    local env=(PORT="$port" CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS="$THREADS" CCLOAD_AUTH="$TOKEN"
               CCLOAD_CHANNELS_FILE="$WORK/channels.json" CCLOAD_INSTANCE_NAME="$name")
    if [[ $store == pg ]]; then env+=(CCLOAD_DATABASE_URL="$PGURL" CCLOAD_SECRET_KEY="$KEY")
    else env+=(SQLITE_PATH="$WORK/$name.db"); fi
    "${SRV[@]}" env "${env[@]}" "$BIN/ccload" 2>"$WORK/$name.log" >/dev/null &
    PIDS+=($!); PID_OF[$name]=$!; PORT_OF[$name]=$port
    wait_listening "$port" "$!" "$name"
}
start sqlite sqlite
start pg-a pg
start pg-b pg

haproxy_for() {  # NAME PORT SERVER_PORT...
    local name=$1 port=$2; shift 2
    {
        printf 'global\n    nbthread 1\n    maxconn 9000\ndefaults\n    mode http\n    option http-keep-alive\n    http-reuse always\n'
        printf '    timeout connect 5s\n    timeout client 300s\n    timeout server 300s\n    timeout http-keep-alive 120s\n'
        printf 'frontend f\n    bind 127.0.0.1:%s\n    default_backend b\nbackend b\n    balance roundrobin\n' "$port"
        local i=0; for p in "$@"; do printf '    server s%s 127.0.0.1:%s\n' "$i" "$p"; i=$((i + 1)); done
    } >"$WORK/$name.cfg"
    "${OTHER[@]}" haproxy -db -f "$WORK/$name.cfg" 2>"$WORK/$name.log" &
    PIDS+=($!); PORT_OF[$name]=$port
    wait_listening "$port" "$!" "$name"
}
haproxy_for ha-1 "$(free_port)" "${PORT_OF[pg-a]}"
haproxy_for ha-2 "$(free_port)" "${PORT_OF[pg-a]}" "${PORT_OF[pg-b]}"

RESULTS=$WORK/results.jsonl; : >"$RESULTS"
BODY='{"model":"bench-json","max_tokens":16,"messages":[{"role":"user","content":"hello"}]}'
run() {  # LABEL PORT
    local out
    out=$("${OTHER[@]}" "$BIN/ccload-loadgen" --url "http://127.0.0.1:$2/v1/messages" --body "$BODY" --header "content-type: application/json" \
        --header "x-api-key: $TOKEN" --connections "$CONNS" --threads 1 --duration "$SECS" --warmup 1 --timeout 10 \
        --json --label "$1" 2>>"$WORK/loadgen.err") || { log "loadgen failed: $1"; return 0; }
    printf '%s\n' "$out" >>"$RESULTS"
    jq -r '"  \(.label)  \(.rps) req/s  p50 \(.total_us.p50) µs  p99 \(.total_us.p99) µs  errors \(.errors.total)"' <<<"$out" >&2
}
TARGETS=(sqlite pg ha-1 ha-2)
port_of() { case $1 in sqlite) echo "${PORT_OF[sqlite]}" ;; pg) echo "${PORT_OF[pg-a]}" ;; *) echo "${PORT_OF[$1]}" ;; esac; }
log "nginx :$NG_PORT; PostgreSQL in $PGDIR; ccload threads $THREADS; $ROUNDS rounds of ${SECS}s"
for r in $(seq 1 "$ROUNDS"); do
    log "round $r"
    for t in "${TARGETS[@]}"; do run "$t" "$(port_of "$t")"; done
done
for n in sqlite pg-a pg-b; do kill -0 "${PID_OF[$n]}" 2>/dev/null || die "$n died during the run"; done

writer() {  # NAME -> its request-log writer counters (GET /admin/metrics)
    local port=${PORT_OF[$1]} tok
    tok=$(curl -s -X POST "http://127.0.0.1:$port/login" -H 'content-type: application/json' \
        -d "{\"password\":\"$CCLOAD_PASS\"}" | jq -r .token)
    curl -s "http://127.0.0.1:$port/admin/metrics" -H "authorization: Bearer $tok" \
        | jq -r '"\(.request_log_writer.written) written, \(.request_log_writer.dropped) dropped, \(.request_log_writer.queued) queued"'
}
sleep 1
echo "| target | req/s | p50 µs | p99 µs | errors |"
echo "|---|---:|---:|---:|---:|"
for t in "${TARGETS[@]}"; do
    echo "| $t | $(med "$t" .rps) | $(med "$t" .total_us.p50) | $(med "$t" .total_us.p99) | $(errs "$t") |"
done
echo
echo "| ratio | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
echo "| pg / sqlite | $(ratio "$(med pg .rps)" "$(med sqlite .rps)" 3) | $(ratio "$(med pg .total_us.p50)" "$(med sqlite .total_us.p50)" 3) | $(ratio "$(med pg .total_us.p99)" "$(med sqlite .total_us.p99)" 3) |"
echo "| ha-2 / ha-1 | $(ratio "$(med ha-2 .rps)" "$(med ha-1 .rps)" 3) | $(ratio "$(med ha-2 .total_us.p50)" "$(med ha-1 .total_us.p50)" 3) | $(ratio "$(med ha-2 .total_us.p99)" "$(med ha-1 .total_us.p99)" 3) |"
echo
for n in sqlite pg-a pg-b; do echo "- $n's writer: $(writer "$n")"; done
echo
echo "Medians of $ROUNDS interleaved rounds of ${SECS}s, $CONNS connections; ccload threads $THREADS per instance; pinned ${CL_PIN:-0}; load $(cut -d' ' -f1-3 /proc/loadavg)."
