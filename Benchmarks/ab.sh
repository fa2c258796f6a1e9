#!/usr/bin/env bash
# Benchmarks/ab.sh BEFORE_BIN_DIR AFTER_BIN_DIR
#
# Side by side, in one run, on 127.0.0.1 only: two ccload builds (say, main before and after
# a change) in front of the cheapest upstream there is, nginx's static `return` (a canned
# 1 KiB Messages answer, JSON or an SSE stream: Benchmarks/nginx-static.conf.template, started
# by Benchmarks/lib.sh), so the upstream's CPU does not hide the proxy's.
# Each build runs twice: `pass` (CCLOAD_UPSTREAM, no tokens) and `relay` (a channel table of
# three channels, a client token on every request, the usage tap, request records written to
# SQLite). Loads, interleaved round by round (before, after, before, after, ...):
#   json  closed loop, CONNS keep-alive connections, SECS seconds: req/s and latency
#   sse   open loop at SSE_RATE req/s: time to the first body byte (the first event)
# Medians over ROUNDS rounds, and after/before ratios. With AB_PIN=1 everything is pinned:
# the load generator on CPU 0, nginx and ccload (one thread) on CPU 1 — a one-core-each figure.
#
# Knobs: ROUNDS (5), SECS (6), CONNS (64), SSE_RATE (200), AB_THREADS (ccload threads and nginx
# workers; nproc, or 1 when pinned), AB_KEEP=1 keeps the temp dir. The load generator is
# AFTER_BIN_DIR's ccload-loadgen. Every wait is bounded; every process is stopped on exit.
set -euo pipefail

[[ $# == 2 ]] || { sed -n '2,18p' "$0"; exit 2; }
BEFORE=$(cd "$1" && pwd); AFTER=$(cd "$2" && pwd)
for d in "$BEFORE" "$AFTER"; do [[ -x $d/ccload ]] || { echo "no ccload in $d" >&2; exit 2; }; done
LOADGEN=$AFTER/ccload-loadgen
[[ -x $LOADGEN ]] || { echo "no ccload-loadgen in $AFTER" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "nginx is needed (apt-get install nginx)" >&2; exit 2; }

ROUNDS=${ROUNDS:-5}; SECS=${SECS:-6}; CONNS=${CONNS:-64}; SSE_RATE=${SSE_RATE:-200}
PIN=${AB_PIN:-0}
if [[ $PIN == 1 ]]; then THREADS=${AB_THREADS:-1}; LG=(taskset -c 0); SRV=(taskset -c 1)
else THREADS=${AB_THREADS:-$(nproc)}; LG=(); SRV=(); fi

BENCH_NAME=ab.sh
# shellcheck source=Benchmarks/lib.sh
source "$ROOT/Benchmarks/lib.sh"
BENCH_KEEP_WORK=${AB_KEEP:-0}
bench_workdir ccload-ab
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- nginx: canned answers (a 1 KiB JSON message, or an SSE stream), no upstream of its own
NG_PORT=$(free_port)
start_nginx_static nginx "$NG_PORT" "$THREADS" 1024 "${SRV[@]}"

# ---- two ccloads per build
TOKEN="ab-token-$RANDOM$RANDOM"
cat >"$WORK/channels.json" <<JSON
[
  {"name": "json-a", "protocol": "anthropic", "url": "http://127.0.0.1:$NG_PORT/json", "api_key": "sk-ab-a-0000", "models": ["bench-json"]},
  {"name": "json-b", "protocol": "anthropic", "url": "http://127.0.0.1:$NG_PORT/json", "api_key": "sk-ab-b-0000", "models": ["bench-json"]},
  {"name": "json-c", "protocol": "anthropic", "url": "http://127.0.0.1:$NG_PORT/json", "api_key": "sk-ab-c-0000", "models": ["bench-json"]},
  {"name": "sse", "protocol": "anthropic", "url": "http://127.0.0.1:$NG_PORT/sse", "api_key": "sk-ab-d-0000", "models": ["bench-sse"]}
]
JSON
export CCLOAD_PASS="ab-admin-$RANDOM$RANDOM"
declare -A PORT_OF PID_OF
start() {  # NAME BIN_DIR MODE(pass|relay)
    local name=$1 dir=$2 mode=$3 port; port=$(free_port)
    if [[ $mode == pass ]]; then
        PORT=$port CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS SQLITE_PATH="$WORK/$name.db" \
            CCLOAD_UPSTREAM="http://127.0.0.1:$NG_PORT" "${SRV[@]}" "$dir/ccload" 2>"$WORK/$name.log" >/dev/null &
    else
        PORT=$port CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS SQLITE_PATH="$WORK/$name.db" CCLOAD_AUTH=$TOKEN \
            CCLOAD_CHANNELS_FILE="$WORK/channels.json" "${SRV[@]}" "$dir/ccload" 2>"$WORK/$name.log" >/dev/null &
    fi
    PIDS+=($!); PID_OF[$name]=$!; PORT_OF[$name]=$port
    wait_listening "$port" "$!" "$name"
}
TARGETS=(before-pass after-pass before-relay after-relay)
start before-pass "$BEFORE" pass; start after-pass "$AFTER" pass
start before-relay "$BEFORE" relay; start after-relay "$AFTER" relay

RESULTS=$WORK/results.jsonl; : >"$RESULTS"
run() {  # KIND TARGET
    local kind=$1 t=$2 path model stream args=()
    if [[ $t == *pass ]]; then path="/v1/messages"; [[ $kind == json ]] || path="/v1/messages?sse=1"
    else path="/v1/messages"; args+=(--header "x-api-key: $TOKEN"); fi
    if [[ $kind == json ]]; then model=bench-json; stream=false; else model=bench-sse; stream=true; fi
    local body="{\"model\":\"$model\",\"max_tokens\":16,\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}"
    if [[ $kind == json ]]; then args+=(--connections "$CONNS" --threads "$( [[ $PIN == 1 ]] && echo 1 || nproc )")
    else args+=(--connections 32 --threads 1 --rate "$SSE_RATE"); fi
    local out
    out=$("${LG[@]}" "$LOADGEN" --url "http://127.0.0.1:${PORT_OF[$t]}$path" --body "$body" --header "content-type: application/json" \
        --duration "$SECS" --warmup 1 --timeout 10 --json --label "$kind/$t" "${args[@]}" 2>>"$WORK/loadgen.err") \
        || { log "loadgen failed: $kind/$t"; return 0; }
    printf '%s\n' "$out" >>"$RESULTS"
    jq -r '"  \(.label)  \(.rps) req/s  full p50 \(.total_us.p50) µs  first body p50 \(.first_body_us.p50 // "-") µs  errors \(.errors.total)"' <<<"$out" >&2
}
log "nginx :$NG_PORT; ccload threads $THREADS; pinned $PIN; $ROUNDS rounds of ${SECS}s"
for r in $(seq 1 "$ROUNDS"); do
    log "round $r"
    for t in "${TARGETS[@]}"; do run json "$t"; done
    for t in "${TARGETS[@]}"; do run sse "$t"; done
done
for t in "${TARGETS[@]}"; do kill -0 "${PID_OF[$t]}" 2>/dev/null || { log "$t died during the run"; exit 1; }; done

rss() { awk -v k="$(rss_kib "$1")" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "| mode | load | before | after | after / before | errors (before, after) |"
echo "|---|---|---|---|---|---|"
for m in pass relay; do
    b=$(med "json/before-$m" .rps); a=$(med "json/after-$m" .rps)
    echo "| $m | json req/s | $b | $a | $(ratio "$a" "$b" 3) | $(errs "json/before-$m"), $(errs "json/after-$m") |"
    b=$(med "json/before-$m" .total_us.p50); a=$(med "json/after-$m" .total_us.p50)
    echo "| $m | json p50 µs | $b | $a | $(ratio "$a" "$b" 3) | |"
    b=$(med "json/before-$m" .total_us.p99); a=$(med "json/after-$m" .total_us.p99)
    echo "| $m | json p99 µs | $b | $a | $(ratio "$a" "$b" 3) | |"
    b=$(med "sse/before-$m" .first_body_us.p50); a=$(med "sse/after-$m" .first_body_us.p50)
    echo "| $m | sse first event p50 µs | $b | $a | $(ratio "$a" "$b" 3) | $(errs "sse/before-$m"), $(errs "sse/after-$m") |"
    echo "| $m | RSS after the run, MiB | $(rss "${PID_OF[before-$m]}") | $(rss "${PID_OF[after-$m]}") | | |"
done
echo
echo "Medians of $ROUNDS interleaved rounds of ${SECS}s; ccload threads $THREADS; pinned: $PIN; load $(cut -d' ' -f1-3 /proc/loadavg)."
