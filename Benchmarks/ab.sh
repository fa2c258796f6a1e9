#!/usr/bin/env bash
# Benchmarks/ab.sh BEFORE_BIN_DIR AFTER_BIN_DIR
#
# Side by side, in one run, on 127.0.0.1 only: two ccload builds (say, main before and after
# a change) in front of the cheapest upstream there is, nginx's static `return` (a canned
# Messages answer, JSON or an SSE stream), so the upstream's CPU does not hide the proxy's.
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

[[ $# == 2 ]] || { sed -n '2,17p' "$0"; exit 2; }
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

WORK=$(mktemp -d /tmp/ccload-ab.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [[ ${AB_KEEP:-0} == 1 ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log() { printf '%s\n' "$*" >&2; }
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
    done
    log "no free port"; exit 1
}
wait_listening() {  # PORT PID NAME
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || { log "$3 exited at start-up: $(tail -3 "$WORK/$3.log")"; exit 1; }
        ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    log "$3 did not listen on $1"; exit 1
}

# ---- nginx: canned answers, no upstream of its own
NG_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
JSON_BODY='{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":5}}'
cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
worker_processes $THREADS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NG_PORT reuseport backlog=4096;
        # The relay's channels carry the /json or /sse prefix; the pass-through sends
        # /v1/messages as the client did, with ?sse=1 for the stream.
        location /v1/ {
            if (\$arg_sse) { rewrite ^ /sse/v1/messages last; }
            rewrite ^ /json/v1/messages last;
        }
        location /json/ { default_type application/json; return 200 '$JSON_BODY'; }
        location /sse/ {
            default_type text/event-stream;
            return 200 'event: message_start
data: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":12,"output_tokens":1}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello"}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}

event: message_stop
data: {"type":"message_stop"}

';
        }
    }
}
CONF
"${SRV[@]}" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" 2>"$WORK/nginx.log" &
PIDS+=($!); wait_listening "$NG_PORT" "${PIDS[-1]}" nginx

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

med() { jq -s -r --arg l "$1/$2" "map(select(.label == \$l) | $3 | select(. != null)) | sort
        | if length == 0 then \"-\" else .[(length - 1) / 2 | floor] end" "$RESULTS"; }
errs() { jq -s -r --arg l "$1/$2" 'map(select(.label == $l) | .errors.total) | add // 0' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }
rss() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo -; }

echo "| mode | load | before | after | after / before | errors (before, after) |"
echo "|---|---|---|---|---|---|"
for m in pass relay; do
    b=$(med json "before-$m" .rps); a=$(med json "after-$m" .rps)
    echo "| $m | json req/s | $b | $a | $(ratio "$a" "$b") | $(errs json "before-$m"), $(errs json "after-$m") |"
    b=$(med json "before-$m" .total_us.p50); a=$(med json "after-$m" .total_us.p50)
    echo "| $m | json p50 µs | $b | $a | $(ratio "$a" "$b") | |"
    b=$(med json "before-$m" .total_us.p99); a=$(med json "after-$m" .total_us.p99)
    echo "| $m | json p99 µs | $b | $a | $(ratio "$a" "$b") | |"
    b=$(med sse "before-$m" .first_body_us.p50); a=$(med sse "after-$m" .first_body_us.p50)
    echo "| $m | sse first event p50 µs | $b | $a | $(ratio "$a" "$b") | $(errs sse "before-$m"), $(errs sse "after-$m") |"
    echo "| $m | RSS after the run, MiB | $(rss "${PID_OF[before-$m]}") | $(rss "${PID_OF[after-$m]}") | | |"
done
echo
echo "Medians of $ROUNDS interleaved rounds of ${SECS}s; ccload threads $THREADS; pinned: $PIN; load $(cut -d' ' -f1-3 /proc/loadavg)."
