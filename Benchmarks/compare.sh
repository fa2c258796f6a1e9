#!/usr/bin/env bash
# Benchmarks/compare.sh [--quick]
#
# In one run, on 127.0.0.1 only, the same loads against
#   (a) the mock upstream directly, (b) ccload in front of it, (c) nginx in front of it,
# then prints every figure, the ccload/nginx ratios, and a markdown table for RESULTS.md.
#
#   1. 1 KiB JSON, closed loop, 64 keep-alive connections: req/s and latency percentiles,
#      each target REPS times interleaved (a,b,c,a,b,c,...), medians reported.
#   2. SSE time to first byte, open loop at a modest fixed rate: p50 direct vs ccload
#      (and nginx), and the microseconds ccload adds.
#   3. (full run) one wrk run per target as a cross-check of the load generator.
#   4. ccload RSS idle, and while holding STREAMS concurrent open SSE streams
#      (nginx's RSS under the same streams too, in the full run).
#   5. HTTPS upstream: the mock serving TLS with a certificate from a CA made for the run
#      (openssl, in the temp dir), a second ccload and a second nginx
#      (Benchmarks/nginx-https.conf.template) verifying it with upstream keep-alive; load 1
#      against both, REPS times interleaved; then ccload is stopped and its counters give
#      the share of requests sent on reused upstream connections and its TLS handshakes.
#
# Environment knobs (all optional):
#   BENCH_SCRATCH   swift build scratch path (default .build)     BENCH_SKIP_BUILD=1 reuses it
#   BENCH_THREADS   ccload threads = nginx workers (default: nproc)
#   MOCK_THREADS    mock upstream threads (default: nproc)
#   LOADGEN_THREADS load generator threads (default: nproc)
#   BENCH_CONNS     connections for the JSON case (default 64)
#   BENCH_PIN=1     pin with taskset: load generator on CPU 0, mock + proxy on the rest
# Every wait is bounded; every process started here is stopped on exit.
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCRATCH=${BENCH_SCRATCH:-.build}
NPROC=$(nproc)
THREADS=${BENCH_THREADS:-$NPROC}
MOCK_THREADS=${MOCK_THREADS:-$NPROC}
LG_THREADS=${LOADGEN_THREADS:-$NPROC}
CONNS=${BENCH_CONNS:-64}

if [[ $QUICK == 1 ]]; then
    REPS=1; JSON_SECS=4; SSE_SECS=4; SSE_REPS=1; WARMUP=1; HOLD_SECS=4; WRK=0; NGINX_STREAMS=0
else
    REPS=3; JSON_SECS=10; SSE_SECS=8; SSE_REPS=3; WARMUP=1; HOLD_SECS=6; WRK=1; NGINX_STREAMS=1
fi
SSE_RATE=200          # open-loop SSE requests/s in all
SSE_CONNS=32
SSE_QUERY="stream=1&events=3&delay_ms=5"
JSON_QUERY="size=1024"
HOLD_QUERY="stream=1&events=2&delay_ms=120000"

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need_pkg() {  # need_pkg COMMAND PACKAGE...
    command -v "$1" >/dev/null 2>&1 && return 0
    local cmd=$1; shift
    log "installing $* (for $cmd)"
    local sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
    timeout 300 $sudo apt-get install -y -q "$@" >/dev/null 2>&1 \
        || { timeout 300 $sudo apt-get update -q >/dev/null 2>&1 && timeout 300 $sudo apt-get install -y -q "$@" >/dev/null 2>&1; } \
        || true
    command -v "$cmd" >/dev/null 2>&1
}
NGINX=$(command -v nginx || true)
if [[ -z $NGINX ]]; then
    need_pkg nginx nginx-light || need_pkg nginx nginx || die "nginx is missing and could not be installed"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
need_pkg jq jq || die "jq is missing and could not be installed"
need_pkg openssl openssl || die "openssl is missing and could not be installed"
if [[ $WRK == 1 ]]; then need_pkg wrk wrk || { log "wrk unavailable: skipping the wrk cross-check"; WRK=0; }; fi

# ---------------------------------------------------------------- build
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries (scratch path $SCRATCH)"
    swift build -c release --scratch-path "$SCRATCH" >&2
fi
BIN="$SCRATCH/release"
for b in ccload ccload-mock ccload-loadgen; do [[ -x $BIN/$b ]] || die "$BIN/$b not built"; done

# ---------------------------------------------------------------- processes
WORK=$(mktemp -d /tmp/ccload-bench.XXXXXX)
# Every ccload here gets an admin password, so none prints a generated one on stdout (the report).
export CCLOAD_PASS="bench-admin-$RANDOM$RANDOM"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 30); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [[ ${BENCH_KEEP:-0} == 1 ]] && log "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Raise the open-file limit as far as the hard limit allows (the stream hold needs it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

port_is_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))   # below the ephemeral range
        if port_is_free "$p"; then echo "$p"; return 0; fi
    done
    die "no free port found"
}
wait_listening() {  # wait_listening PORT PID NAME
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || die "$3 exited at start-up (log: $(tail -3 "$WORK/$3.log" 2>/dev/null))"
        ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    die "$3 did not listen on port $1 within 10 s"
}

# The servers every later figure depends on; checked after each section, so a server that
# exits mid-run (crash, or killed from outside) stops the run with its name and log tail
# instead of leaving errors or a silent exit further on.
declare -A WATCH=()   # NAME -> PID
check_alive() {  # check_alive SECTION
    local n
    for n in "${!WATCH[@]}"; do
        kill -0 "${WATCH[$n]}" 2>/dev/null \
            || die "$n (pid ${WATCH[$n]}) exited during $1 (log: $(tail -3 "$WORK/$n.log" 2>/dev/null | tr '\n' ' '))"
    done
}

PIN_LG=(); PIN_SRV=()
if [[ ${BENCH_PIN:-0} == 1 && $NPROC -ge 2 ]]; then
    PIN_LG=(taskset -c 0); PIN_SRV=(taskset -c "1-$((NPROC - 1))")
fi

MOCK_PORT=$(free_port)
"${PIN_SRV[@]}" "$BIN/ccload-mock" --port "$MOCK_PORT" --threads "$MOCK_THREADS" 2>"$WORK/mock.log" &
MOCK_PID=$!; PIDS+=("$MOCK_PID"); WATCH[mock]=$MOCK_PID
wait_listening "$MOCK_PORT" "$MOCK_PID" mock

CCLOAD_PORT=$(free_port)
PORT=$CCLOAD_PORT CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS SQLITE_PATH="$WORK/ccload.db" \
    CCLOAD_UPSTREAM="http://127.0.0.1:$MOCK_PORT" "${PIN_SRV[@]}" "$BIN/ccload" 2>"$WORK/ccload.log" &
CCLOAD_PID=$!; PIDS+=("$CCLOAD_PID"); WATCH[ccload]=$CCLOAD_PID
wait_listening "$CCLOAD_PORT" "$CCLOAD_PID" ccload

# ccload as the relay (issue 4): three channels of one priority in front of the same mock,
# client tokens on, every response read by the usage tap and priced.
RELAY_PORT=$(free_port)
RELAY_TOKEN="bench-token-$RANDOM$RANDOM"
cat >"$WORK/channels.json" <<JSON
[
  {"name": "bench-a", "protocol": "anthropic", "url": "http://127.0.0.1:$MOCK_PORT", "api_key": "sk-bench-a-0000"},
  {"name": "bench-b", "protocol": "anthropic", "url": "http://127.0.0.1:$MOCK_PORT", "api_key": "sk-bench-b-0000"},
  {"name": "bench-c", "protocol": "anthropic", "url": "http://127.0.0.1:$MOCK_PORT", "api_key": "sk-bench-c-0000"}
]
JSON
PORT=$RELAY_PORT CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS CCLOAD_AUTH=$RELAY_TOKEN SQLITE_PATH="$WORK/relay.db" \
    CCLOAD_CHANNELS_FILE="$WORK/channels.json" "${PIN_SRV[@]}" "$BIN/ccload" 2>"$WORK/relay.log" &
RELAY_PID=$!; PIDS+=("$RELAY_PID"); WATCH[relay]=$RELAY_PID
wait_listening "$RELAY_PORT" "$RELAY_PID" relay
# The same relay with request records kept in memory only (issue 5: logging's cost).
NOLOG_PORT=$(free_port)
PORT=$NOLOG_PORT CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS CCLOAD_AUTH=$RELAY_TOKEN SQLITE_PATH="$WORK/nolog.db" \
    CCLOAD_REQUEST_LOG=0 CCLOAD_CHANNELS_FILE="$WORK/channels.json" "${PIN_SRV[@]}" "$BIN/ccload" 2>"$WORK/relay-nolog.log" &
NOLOG_PID=$!; PIDS+=("$NOLOG_PID"); WATCH[relay-nolog]=$NOLOG_PID
wait_listening "$NOLOG_PORT" "$NOLOG_PID" relay-nolog

start_nginx() {  # start_nginx NAME TEMPLATE PORT UPSTREAM_PORT -> sets STARTED_PID
    local name=$1 template=$2 port=$3 upstream_port=$4 prefix="$WORK/$1"
    mkdir -p "$prefix/logs" "$prefix/tmp"
    sed -e "s|@WORKERS@|$THREADS|g" -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" \
        -e "s|@UPSTREAM_PORT@|$upstream_port|g" -e "s|@NOFILE@|$NOFILE|g" \
        -e "s|@CA_FILE@|$WORK/tls/ca.pem|g" \
        "$template" >"$prefix/nginx.conf"
    "$NGINX" -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        2>"$WORK/$name.log" || die "$name: nginx -t failed: $(cat "$WORK/$name.log")"
    "${PIN_SRV[@]}" "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" 2>>"$WORK/$name.log" &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listening "$port" "$STARTED_PID" "$name"
}
NGINX_PORT=$(free_port)
start_nginx nginx Benchmarks/nginx.conf.template "$NGINX_PORT" "$MOCK_PORT"
NGINX_PID=$STARTED_PID; WATCH[nginx]=$NGINX_PID

declare -A PORT_OF=([direct]=$MOCK_PORT [ccload]=$CCLOAD_PORT [relay]=$RELAY_PORT [relay-nolog]=$NOLOG_PORT [nginx]=$NGINX_PORT)
TARGETS=(direct ccload relay relay-nolog nginx)
# Only the relays check client tokens.
declare -A AUTH_OF=([relay]="x-api-key: $RELAY_TOKEN" [relay-nolog]="x-api-key: $RELAY_TOKEN")

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
nginx_rss_kib() {  # master + workers
    local total; total=$(rss_kib "$NGINX_PID")
    for w in $(pgrep -P "$NGINX_PID" || true); do total=$((total + $(rss_kib "$w"))); done
    echo "$total"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
nginx_fds() {
    local total=0
    for w in $(pgrep -P "$NGINX_PID" || true); do total=$((total + $(fds "$w"))); done
    echo "$total"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RSS_IDLE_START=$(rss_kib "$CCLOAD_PID")
NGINX_RSS_IDLE=$(nginx_rss_kib)

log ""
log "machine: $NPROC CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
log "mock :$MOCK_PORT ($MOCK_THREADS threads)   ccload :$CCLOAD_PORT ($THREADS threads)   nginx :$NGINX_PORT ($THREADS workers)"
log "load generator: $LG_THREADS threads; open files limit $NOFILE; pinning: ${BENCH_PIN:-0}"
log "ccload RSS idle at start: $(mib "$RSS_IDLE_START") MiB"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

loadgen() {  # loadgen LABEL TARGET QUERY ARGS... -> appends one JSON line, prints a summary
    local label=$1 target=$2 query=$3; shift 3
    local out
    local auth=()
    [[ -n ${AUTH_OF[$target]:-} ]] && auth=(--header "${AUTH_OF[$target]}")
    out=$("${PIN_LG[@]}" "$BIN/ccload-loadgen" --url "http://127.0.0.1:${PORT_OF[$target]}/v1/messages?$query" \
        --label "$label/$target" --json "${auth[@]}" "$@" 2>"$WORK/loadgen.err") \
        || { log "loadgen failed for $label/$target: $(tail -3 "$WORK/loadgen.err")"; return 0; }
    printf '%s\n' "$out" >>"$RESULTS"
    jq -r '"  \(.label | . + "                  " | .[0:18]) \(.rps | tostring | . + "         " | .[0:10]) req/s"
        + "  ttfb p50 \(.ttfb_us.p50 // "-")  p99 \(.ttfb_us.p99 // "-")"
        + "  full p50 \(.total_us.p50 // "-")  p99 \(.total_us.p99 // "-")  p99.9 \(.total_us["p99.9"] // "-") µs"
        + "  errors \(.errors.total)"' <<<"$out" >&2
}

# ---------------------------------------------------------------- 1. JSON throughput
log ""
log "1. 1 KiB JSON, closed loop, $CONNS connections, ${JSON_SECS}s x $REPS per target (interleaved)"
for rep in $(seq 1 "$REPS"); do
    for t in "${TARGETS[@]}"; do
        loadgen json "$t" "$JSON_QUERY" --connections "$CONNS" --threads "$LG_THREADS" \
            --duration "$JSON_SECS" --warmup "$WARMUP" --body-size 1024 --timeout 10
    done
done

check_alive "the JSON case"
# ---------------------------------------------------------------- 2. SSE time to first byte
log ""
log "2. SSE TTFB, open loop $SSE_RATE req/s on $SSE_CONNS connections, $SSE_QUERY, ${SSE_SECS}s x $SSE_REPS per target"
for rep in $(seq 1 "$SSE_REPS"); do
    for t in "${TARGETS[@]}"; do
        loadgen sse "$t" "$SSE_QUERY" --connections "$SSE_CONNS" --threads 1 --rate "$SSE_RATE" \
            --duration "$SSE_SECS" --warmup "$WARMUP" --body-size 1024 --timeout 10
    done
done

check_alive "the SSE case"
# ---------------------------------------------------------------- 3. wrk cross-check
declare -A WRK_RPS=()
if [[ $WRK == 1 ]]; then
    log ""
    log "3. wrk cross-check: 1 KiB JSON, $CONNS connections, 5 s per target"
    BODY=$(printf '{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"%s"}]}' \
        "$(head -c 2000 /dev/zero | tr '\0' 'a' | head -c 939)")
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "$BODY" >"$WORK/post.lua"
    for t in "${TARGETS[@]}"; do
        [[ -n ${AUTH_OF[$t]:-} ]] && continue  # the wrk script sends no client token
        r=$(timeout 30 "${PIN_LG[@]}" wrk -t "$LG_THREADS" -c "$CONNS" -d 5s -s "$WORK/post.lua" \
            "http://127.0.0.1:${PORT_OF[$t]}/v1/messages?$JSON_QUERY" 2>&1 | awk '/^Requests\/sec/ {print $2}' || true)
        WRK_RPS[$t]=${r:-0}
        log "  wrk $t: ${WRK_RPS[$t]} req/s"
    done
fi

check_alive "the wrk cross-check"
# ---------------------------------------------------------------- 4. RSS under open streams
# The proxy holds two fds per stream (client + upstream), so the hard open-files limit
# caps the streams one process can hold: 10,000 streams need 20,000+ fds.
RSS_IDLE_AFTER=$(rss_kib "$CCLOAD_PID")
STREAMS=$(( (NOFILE - 64) / 2 )); (( STREAMS > 10000 )) && STREAMS=10000
HOLD_RSS=0; HOLD_HELD=0; HOLD_LEFT=0
hold_streams() {  # hold_streams TARGET RSS_FN FDS_FN -> sets HOLD_RSS (KiB), HOLD_HELD, HOLD_LEFT
    local t=$1 rss_fn=$2 fds_fn=$3
    local base_fds; base_fds=$($fds_fn)
    local lgs=() n
    # Two generators of half the streams each; each stops by itself after --duration
    # (the hard cap), and is told to stop (SIGTERM, still reporting) once measured.
    for n in $((STREAMS / 2)) $((STREAMS - STREAMS / 2)); do
        "${PIN_LG[@]}" "$BIN/ccload-loadgen" --url "http://127.0.0.1:${PORT_OF[$t]}/v1/messages?$HOLD_QUERY" \
            --label "hold/$t" --json --connections "$n" --threads 1 --ramp 2 --warmup 0 \
            --duration $((HOLD_SECS + 20)) --body-size 256 --timeout 300 --connect-timeout 10 \
            >>"$WORK/hold-$t.jsonl" 2>>"$WORK/loadgen.err" &
        lgs+=($!); PIDS+=($!)
    done
    # Wait (bounded, 15 s) until the proxy holds both sides of every stream.
    local want=$((base_fds + 2 * STREAMS - 16)) have=0
    for _ in $(seq 1 150); do
        have=$($fds_fn); (( have >= want )) && break
        sleep 0.1
    done
    sleep "$HOLD_SECS"
    HOLD_RSS=$($rss_fn)
    local p
    for p in "${lgs[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${lgs[@]}"; do wait "$p" 2>/dev/null || true; done
    # Streams open (response head received, body still coming) when RSS was read.
    HOLD_HELD=$(jq -s 'map(.open_streams_at_end) | add // 0' "$WORK/hold-$t.jsonl" 2>/dev/null || echo 0)
    # With the clients gone, every upstream connection must be gone too.
    for _ in $(seq 1 50); do
        HOLD_LEFT=$(( $($fds_fn) - base_fds )); (( HOLD_LEFT < 0 )) && HOLD_LEFT=0; (( HOLD_LEFT <= 4 )) && break; sleep 0.1
    done
}
log ""
log "4. RSS: ccload idle, then holding $STREAMS open SSE streams ($HOLD_QUERY)"
ccload_fds() { fds "$CCLOAD_PID"; }
ccload_rss() { rss_kib "$CCLOAD_PID"; }
hold_streams ccload ccload_rss ccload_fds
RSS_STREAMS=$HOLD_RSS; HELD=$HOLD_HELD; FDS_AFTER=$HOLD_LEFT
RSS_AFTER_STREAMS=$(rss_kib "$CCLOAD_PID")
log "  ccload RSS idle: start $(mib "$RSS_IDLE_START") MiB, after the load runs $(mib "$RSS_IDLE_AFTER") MiB"
log "  ccload RSS with $HELD streams held: $(mib "$RSS_STREAMS") MiB;" \
    "fds left after the clients went: $FDS_AFTER; RSS then $(mib "$RSS_AFTER_STREAMS") MiB"
NGINX_RSS_STREAMS=""; NGINX_HELD=""
if [[ $NGINX_STREAMS == 1 ]]; then
    hold_streams nginx nginx_rss_kib nginx_fds
    NGINX_RSS_STREAMS=$HOLD_RSS; NGINX_HELD=$HOLD_HELD
    log "  nginx RSS idle $(mib "$NGINX_RSS_IDLE") MiB, with $NGINX_HELD streams $(mib "$NGINX_RSS_STREAMS") MiB (master + workers)"
fi

check_alive "the stream hold"
# ---------------------------------------------------------------- 5. HTTPS upstream
# The mock again, now serving TLS with a certificate from a CA made for this run (in $WORK,
# removed on exit); a second ccload and a second nginx in front of it, both verifying it.
# The load generator speaks plain HTTP to the proxies only, so there is no direct target.
log ""
log "5. HTTPS upstream: throwaway CA, TLS mock, ccload-https and nginx-https"
TLS_DIR="$WORK/tls"; mkdir -p "$TLS_DIR"
ossl() { timeout 20 openssl "$@"; }
make_certs() {
    local d=$TLS_DIR
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=ccload compare.sh CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$d/server.ext" &&
    ossl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -set_serial "0x$(ossl rand -hex 8)" -days 2 -extfile "$d/server.ext" -out "$d/server.pem" &&
    ossl verify -CAfile "$d/ca.pem" "$d/server.pem"
}
make_certs >"$WORK/openssl.log" 2>&1 || die "making the test certificates failed: $(tail -3 "$WORK/openssl.log")"

MOCK_TLS_PORT=$(free_port)
"${PIN_SRV[@]}" "$BIN/ccload-mock" --port "$MOCK_TLS_PORT" --threads "$MOCK_THREADS" \
    --tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key" 2>"$WORK/mock-https.log" &
MOCK_TLS_PID=$!; PIDS+=("$MOCK_TLS_PID"); WATCH[mock-https]=$MOCK_TLS_PID
wait_listening "$MOCK_TLS_PORT" "$MOCK_TLS_PID" mock-https

CCLOAD_TLS_PORT=$(free_port)
PORT=$CCLOAD_TLS_PORT CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS CCLOAD_DRAIN_SECONDS=5 SQLITE_PATH="$WORK/https.db" \
    CCLOAD_UPSTREAM="https://localhost:$MOCK_TLS_PORT" CCLOAD_CA_FILE="$TLS_DIR/ca.pem" \
    "${PIN_SRV[@]}" "$BIN/ccload" 2>"$WORK/ccload-https.log" &
CCLOAD_TLS_PID=$!; PIDS+=("$CCLOAD_TLS_PID"); WATCH[ccload-https]=$CCLOAD_TLS_PID
wait_listening "$CCLOAD_TLS_PORT" "$CCLOAD_TLS_PID" ccload-https

NGINX_TLS_PORT=$(free_port)
start_nginx nginx-https Benchmarks/nginx-https.conf.template "$NGINX_TLS_PORT" "$MOCK_TLS_PORT"
NGINX_TLS_PID=$STARTED_PID; WATCH[nginx-https]=$NGINX_TLS_PID
PORT_OF[ccload-https]=$CCLOAD_TLS_PORT; PORT_OF[nginx-https]=$NGINX_TLS_PORT
TLS_TARGETS=(ccload-https nginx-https)
log "  mock-https :$MOCK_TLS_PORT   ccload-https :$CCLOAD_TLS_PORT   nginx-https :$NGINX_TLS_PORT"

# nginx has no reuse counter, so for both proxies the script looks at their upstream
# connections themselves: the local addresses of those established to the TLS mock at 1/4
# and at 3/4 of each measured run. Kept = in both samples (the pool held them across half a
# run); a proxy that reopened connections would show few kept. (When the generator stops
# with requests in flight, both proxies close upstream connections that had one -- nginx all
# of them here -- and open new ones in the next run; ccload's "opened" counts those.)
# Plain and HTTPS runs are minutes apart, not interleaved, so no HTTPS/plain ratio is given.
tls_upstream_addrs() {  # PID... -> sorted local addresses of ESTAB connections to the TLS mock
    local re; re=$(IFS='|'; echo "$*")
    { ss -Htnp state established "dport = :$MOCK_TLS_PORT" 2>/dev/null | grep -E "pid=($re)," | awk '{print $3}' | sort; } || true
}
upstream_owner_pids() {  # TARGET
    case $1 in
        ccload-https) echo "$CCLOAD_TLS_PID" ;;
        nginx-https) pgrep -P "$NGINX_TLS_PID" | tr '\n' ' ' ;;
    esac
}
declare -A CONNS_KEPT=()   # TARGET -> "kept/open at 1/4" per run, comma separated
log "  1 KiB JSON, closed loop, $CONNS connections, ${JSON_SECS}s x $REPS per target (interleaved)"
for rep in $(seq 1 "$REPS"); do
    for t in "${TLS_TARGETS[@]}"; do
        owners=$(upstream_owner_pids "$t")
        q1=$(awk -v w="$WARMUP" -v d="$JSON_SECS" 'BEGIN { printf "%.2f", w + d / 4 }')
        half=$(awk -v d="$JSON_SECS" 'BEGIN { printf "%.2f", d / 2 }')
        ( sleep "$q1"; tls_upstream_addrs $owners >"$WORK/addrs-a"
          sleep "$half"; tls_upstream_addrs $owners >"$WORK/addrs-b" ) &
        sampler=$!; PIDS+=("$sampler")
        loadgen json "$t" "$JSON_QUERY" --connections "$CONNS" --threads "$LG_THREADS" \
            --duration "$JSON_SECS" --warmup "$WARMUP" --body-size 1024 --timeout 10
        wait "$sampler" 2>/dev/null || true
        n_a=$(wc -l <"$WORK/addrs-a"); kept=$(comm -12 "$WORK/addrs-a" "$WORK/addrs-b" | wc -l)
        CONNS_KEPT[$t]="${CONNS_KEPT[$t]:+${CONNS_KEPT[$t]}, }$kept/$n_a"
        log "    $t upstream connections at 1/4 of the run: $n_a, still open at 3/4: $kept"
    done
done

check_alive "the HTTPS case"
unset 'WATCH[ccload-https]'
# Stop ccload-https (drain, bounded at 5 s by CCLOAD_DRAIN_SECONDS; we wait up to 15 s)
# and read its counters for the whole case, warm-up included.
kill -TERM "$CCLOAD_TLS_PID" 2>/dev/null || true
for _ in $(seq 1 150); do kill -0 "$CCLOAD_TLS_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CCLOAD_TLS_PID" 2>/dev/null && log "  ccload-https did not exit within 15 s of SIGTERM"
STOP_LINE=$(grep -m1 'stopped; upstream connections opened' "$WORK/ccload-https.log" || true)
TLS_OPENED=-; TLS_REUSED=-; TLS_FULL=-; TLS_RESUMED=-; REUSED_PCT=-
if [[ -n $STOP_LINE ]]; then
    read -r TLS_OPENED TLS_REUSED TLS_FULL TLS_RESUMED < <(sed -E \
        's/.*opened ([0-9]+), pooled reuses ([0-9]+), TLS handshakes full ([0-9]+) resumed ([0-9]+).*/\1 \2 \3 \4/' <<<"$STOP_LINE")
    REUSED_PCT=$(awk -v r="$TLS_REUSED" -v o="$TLS_OPENED" 'BEGIN { if (r + o > 0) printf "%.3f", 100 * r / (r + o); else print "-" }')
    log "  ccload-https: ${STOP_LINE#*info }"
    log "  requests on reused upstream connections: $REUSED_PCT % of $((TLS_OPENED + TLS_REUSED))"
else
    log "  ccload-https left no stop line (log: $(tail -3 "$WORK/ccload-https.log"))"
fi

# ---------------------------------------------------------------- summary
# med LABEL TARGET JQPATH -> median over the runs (middle element; lower middle when even)
med() {
    jq -s -r --arg l "$1/$2" "map(select(.label == \$l) | $3 | select(. != null)) | sort
        | if length == 0 then \"-\" else .[(length - 1) / 2 | floor] end" "$RESULTS"
}
sumerr() { jq -s -r --arg l "$1/$2" 'map(select(.label == $l) | .errors.total) | add // 0' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.1f", a - b }'; }
num() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.0f", a }'; }
num1() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.1f", a }'; }
verdict() { [[ $1 == 1 ]] && echo "**met**" || echo "**not met**"; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "-" && b != "-" && a + 0 <= b + 0) ? 1 : 0 }'; }

declare -A RPS P50 P99 P999 TT50 FB50 FB99 ERR SSEERR
for t in "${TARGETS[@]}"; do
    RPS[$t]=$(med json "$t" .rps); P50[$t]=$(med json "$t" .total_us.p50)
    P99[$t]=$(med json "$t" .total_us.p99); P999[$t]=$(med json "$t" '.total_us["p99.9"]')
    ERR[$t]=$(sumerr json "$t")
    TT50[$t]=$(med sse "$t" .ttfb_us.p50); FB50[$t]=$(med sse "$t" .first_body_us.p50)
    FB99[$t]=$(med sse "$t" .first_body_us.p99); SSEERR[$t]=$(sumerr sse "$t")
done
for t in "${TLS_TARGETS[@]}"; do
    RPS[$t]=$(med json "$t" .rps); P50[$t]=$(med json "$t" .total_us.p50)
    P99[$t]=$(med json "$t" .total_us.p99); P999[$t]=$(med json "$t" '.total_us["p99.9"]')
    ERR[$t]=$(sumerr json "$t")
done
ADDED_TTFB=$(diff_us "${TT50[ccload]}" "${TT50[direct]}")
ADDED_FB=$(diff_us "${FB50[ccload]}" "${FB50[direct]}")
NGINX_ADDED_TTFB=$(diff_us "${TT50[nginx]}" "${TT50[direct]}")
RELAY_ADDED_TTFB=$(diff_us "${TT50[relay]}" "${TT50[direct]}")
RELAY_ADDED_FB=$(diff_us "${FB50[relay]}" "${FB50[direct]}")

T1=$(awk -v a="${RPS[ccload]}" -v b="${RPS[nginx]}" 'BEGIN { print (a != "-" && b != "-" && a + 0 >= b + 0) ? 1 : 0 }')
T1B=$(le "${P99[ccload]}" "${P99[nginx]}")
T2=$(awk -v d="$ADDED_TTFB" 'BEGIN { print (d != "-" && d + 0 <= 100) ? 1 : 0 }')
T3=$(le "$(mib "$RSS_IDLE_AFTER")" 64)
# Linear estimate at exactly 10,000 streams when the fd limit kept the hold below it.
RSS_10K=$(awk -v i="$RSS_IDLE_AFTER" -v r="$RSS_STREAMS" -v h="$HELD" 'BEGIN { if (h > 0) printf "%.0f", i + (r - i) * 10000 / h; else print r }')
T4=$(awk -v r="$(mib "$RSS_10K")" -v h="$HELD" -v s="$STREAMS" 'BEGIN { print (r + 0 <= 256 && h + 0 >= 0.99 * s) ? 1 : 0 }')

T9=$(awk -v a="${RPS[relay]}" -v b="${RPS[relay-nolog]}" 'BEGIN { print (a != "-" && b != "-" && a + 0 >= 0.95 * b) ? 1 : 0 }')
T7=$(awk -v a="${RPS[relay]}" -v b="${RPS[nginx]}" 'BEGIN { print (a != "-" && b != "-" && a + 0 >= b + 0) ? 1 : 0 }')
T8=$(awk -v d="$RELAY_ADDED_FB" 'BEGIN { print (d != "-" && d + 0 <= 100) ? 1 : 0 }')
T5=$(awk -v a="${RPS[ccload-https]}" -v b="${RPS[nginx-https]}" 'BEGIN { print (a != "-" && b != "-" && a + 0 >= b + 0) ? 1 : 0 }')
T6=$(awk -v p="$REUSED_PCT" 'BEGIN { print (p != "-" && p + 0 >= 99) ? 1 : 0 }')

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
MODE=$([[ $QUICK == 1 ]] && echo "--quick" || echo "full")
{
echo ""
echo "### compare.sh ($MODE) — $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo ""
echo "Machine: $NPROC CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)." \
     "ccload $THREADS threads, nginx $THREADS workers, mock $MOCK_THREADS threads, load generator $LG_THREADS threads, all on the same CPUs$([[ ${BENCH_PIN:-0} == 1 ]] && echo ' (load generator pinned to CPU 0, servers to the rest)')." \
     "Load average before the run $LOAD_BEFORE, after $LOAD_AFTER (anything else running shares these CPUs)."
echo ""
echo "1 KiB JSON over keep-alive, closed loop, $CONNS connections, ${JSON_SECS} s per run, median of $REPS interleaved runs, each column's median taken on its own (latency = full response, µs, from the send):"
echo ""
echo "| target | req/s | p50 | p99 | p99.9 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for t in "${TARGETS[@]}"; do
    echo "| $t | $(num "${RPS[$t]}") | $(num1 "${P50[$t]}") | $(num1 "${P99[$t]}") | $(num1 "${P999[$t]}") | ${ERR[$t]} |"
done
echo "| **ccload / nginx** | **$(ratio "${RPS[ccload]}" "${RPS[nginx]}")** | $(ratio "${P50[ccload]}" "${P50[nginx]}") | **$(ratio "${P99[ccload]}" "${P99[nginx]}")** | $(ratio "${P999[ccload]}" "${P999[nginx]}") | |"
echo "| ccload / direct | $(ratio "${RPS[ccload]}" "${RPS[direct]}") | | | | |"
echo "| relay (logging on) / relay-nolog | **$(ratio "${RPS[relay]}" "${RPS[relay-nolog]}")** | | | | |"
echo "| **relay / nginx** | **$(ratio "${RPS[relay]}" "${RPS[nginx]}")** | $(ratio "${P50[relay]}" "${P50[nginx]}") | $(ratio "${P99[relay]}" "${P99[nginx]}") | $(ratio "${P999[relay]}" "${P999[nginx]}") | |"
if [[ $WRK == 1 ]]; then
    echo "| wrk cross-check (1 run, req/s) | direct $(num "${WRK_RPS[direct]}"), ccload $(num "${WRK_RPS[ccload]}"), nginx $(num "${WRK_RPS[nginx]}") — ccload/nginx $(ratio "${WRK_RPS[ccload]}" "${WRK_RPS[nginx]}") | | | | |"
fi
echo ""
echo "SSE, open loop $SSE_RATE req/s on $SSE_CONNS connections, \`$SSE_QUERY\`, ${SSE_SECS} s per run, median of $SSE_REPS (µs from the intended send time):"
echo ""
echo "| target | head p50 | first event p50 | first event p99 | errors |"
echo "|---|---:|---:|---:|---:|"
for t in "${TARGETS[@]}"; do
    echo "| $t | $(num1 "${TT50[$t]}") | $(num1 "${FB50[$t]}") | $(num1 "${FB99[$t]}") | ${SSEERR[$t]} |"
done
echo "| **ccload − direct** | **$ADDED_TTFB** | $ADDED_FB | | |"
echo "| nginx − direct | $NGINX_ADDED_TTFB | $(diff_us "${FB50[nginx]}" "${FB50[direct]}") | | |"
echo "| **relay − direct** | $RELAY_ADDED_TTFB | **$RELAY_ADDED_FB** | | |"
echo ""
echo '`ccload` is the pass-through (one upstream, no tokens); `relay` is ccload routing by a table of three channels of one priority (round-robin) with a client token checked on every request and the usage tap reading every response. The relay holds an event stream until its first content event (the commit point): the mock writes `message_start` and the first delta separately, so the relay answers only after a second upstream read, where the others pass `message_start` on at once. Its first-event column therefore measures a later event than the direct row does.'
echo ""
echo "HTTPS upstream: the mock serving TLS (certificate from a CA made for the run), ccload and nginx verifying it and keeping upstream connections alive; the same 1 KiB JSON load, $CONNS connections, ${JSON_SECS} s per run, median of $REPS interleaved runs (µs from the send):"
echo ""
echo "| target | req/s | p50 | p99 | p99.9 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for t in "${TLS_TARGETS[@]}"; do
    echo "| $t | $(num "${RPS[$t]}") | $(num1 "${P50[$t]}") | $(num1 "${P99[$t]}") | $(num1 "${P999[$t]}") | ${ERR[$t]} |"
done
echo "| **ccload / nginx (HTTPS)** | **$(ratio "${RPS[ccload-https]}" "${RPS[nginx-https]}")** | $(ratio "${P50[ccload-https]}" "${P50[nginx-https]}") | $(ratio "${P99[ccload-https]}" "${P99[nginx-https]}") | $(ratio "${P999[ccload-https]}" "${P999[nginx-https]}") | |"
echo ""
echo "ccload-https's counters at its SIGTERM (whole case, warm-ups included): upstream connections opened $TLS_OPENED, pooled reuses $TLS_REUSED," \
     "so **$REUSED_PCT %** of requests went out on a reused connection; TLS handshakes full $TLS_FULL, resumed $TLS_RESUMED." \
     "Upstream connections open at 1/4 of each run that were still open at 3/4 (kept/open, per run): ccload ${CONNS_KEPT[ccload-https]:--}, nginx ${CONNS_KEPT[nginx-https]:--} (nginx has no counter; this shows its pool held its connections too)."
echo ""
echo "Memory (VmRSS of ccload; nginx = master + workers):"
echo ""
echo "| | ccload | nginx |"
echo "|---|---:|---:|"
echo "| idle at start | $(mib "$RSS_IDLE_START") MiB | $(mib "$NGINX_RSS_IDLE") MiB |"
echo "| idle after the load runs | $(mib "$RSS_IDLE_AFTER") MiB | |"
echo "| holding $HELD open SSE streams | $(mib "$RSS_STREAMS") MiB | ${NGINX_RSS_STREAMS:+$(mib "$NGINX_RSS_STREAMS") MiB ($NGINX_HELD streams)} |"
echo "| after the streams' clients left | $(mib "$RSS_AFTER_STREAMS") MiB, $FDS_AFTER fds more than before the hold | |"
echo ""
echo "| target (issue 2; relay rows issue 4; HTTPS rows issue 3) | figure | verdict |"
echo "|---|---|---|"
echo "| throughput ccload/nginx ≥ 1.0 | $(ratio "${RPS[ccload]}" "${RPS[nginx]}") | $(verdict "$T1") |"
echo "| p99 ccload ≤ nginx | $(num1 "${P99[ccload]}") vs $(num1 "${P99[nginx]}") µs | $(verdict "$T1B") |"
echo "| SSE TTFB added at p50 ≤ 100 µs | $ADDED_TTFB µs | $(verdict "$T2") |"
echo "| RSS idle ≤ 64 MiB | $(mib "$RSS_IDLE_AFTER") MiB | $(verdict "$T3") |"
echo "| RSS with 10,000 streams ≤ 256 MiB | $(mib "$RSS_STREAMS") MiB at $HELD streams$( (( STREAMS < 10000 )) && echo " (open-files limit $NOFILE caps the hold at $STREAMS; linear estimate at 10,000: $(mib "$RSS_10K") MiB)") | $(verdict "$T4") |"
echo "| relay (3 channels, auth, usage tap) throughput / nginx ≥ 1.0 | $(ratio "${RPS[relay]}" "${RPS[nginx]}") | $(verdict "$T7") |"
echo "| relay first SSE event added at p50 ≤ 100 µs | $RELAY_ADDED_FB µs | $(verdict "$T8") |"
echo "| relay throughput with request logging on ≥ 0.95 × off (issue 5) | $(ratio "${RPS[relay]}" "${RPS[relay-nolog]}") | $(verdict "$T9") |"
echo "| HTTPS throughput ccload/nginx ≥ 1.0 | $(ratio "${RPS[ccload-https]}" "${RPS[nginx-https]}") | $(verdict "$T5") |"
echo "| requests on reused upstream connections ≥ 99 % | $REUSED_PCT % ($TLS_REUSED of $( [[ $TLS_OPENED == - ]] && echo - || echo $((TLS_OPENED + TLS_REUSED)) ); TLS handshakes full $TLS_FULL, resumed $TLS_RESUMED) | $(verdict "$T6") |"
}
if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "raw results: $RESULTS"; fi
