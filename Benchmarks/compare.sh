#!/usr/bin/env bash
# Benchmarks/compare.sh [--quick]
#
# In one run, on 127.0.0.1 only, each proxy against the same loads, and a markdown table for
# RESULTS.md with issue 12's targets (ratios in one run; medians of interleaved rounds).
#
#   1. JSON throughput in front of an upstream that costs almost nothing: nginx's static
#      `return 200` with a 1 KiB Anthropic Messages answer (Benchmarks/nginx-static.conf.template).
#      Targets: direct (that upstream), nginx (proxy: keepalive pool, proxy_buffering off,
#      HTTP/1.1; Benchmarks/nginx.conf.template), haproxy (`http-reuse always`;
#      Benchmarks/haproxy.cfg.template; skipped with a line when not installed), pass
#      (ccload, CCLOAD_UPSTREAM), relay (ccload, a 1-channel table, a client token as
#      x-api-key, usage tap, request log on), relay-nolog (the same, CCLOAD_REQUEST_LOG=0),
#      relay-1k (the relay with a 1,000-channel table: 999 channels for other models and
#      protocols, at ten priorities, and the one serving the benchmark model, listed last).
#      POST /v1/messages, 1 KiB body, closed loop, CONNS keep-alive connections, each target
#      REPS times interleaved round by round (a,b,c,...,a,b,c,...), medians. Two modes:
#        unpinned  every proxy with nproc threads/workers, nothing pinned
#        pinned    (taskset) every proxy one thread/worker on CPU 1; the load generator
#                  (one thread) and the upstream (one worker) on CPU 0
#      Ratios per mode: relay/nginx, relay log on/off, pass/nginx, relay p99/nginx p99,
#      1,000 channels/1, haproxy/nginx. (Full run: one wrk run per target as a cross-check.)
#   2. SSE time to the first *content* event (the first `content_block_delta`, the same
#      event for every target; ccload-loadgen --first-match), open loop at a modest rate, in
#      front of the Swift mock (ccload-mock), which sends message_start, ping and
#      content_block_start at once and the first content event FIRST_DELAY_MS later, so the
#      first body byte and the first content event differ. Targets: direct (the mock),
#      floor (Benchmarks/Floor/forward.c: one thread copying bytes, nothing parsed; the least
#      any proxy hop adds here; skipped with a line when no C compiler), pass, relay
#      (1 channel, token), nginx. p50 relay − direct, nginx − direct and floor − direct.
#   3. RSS (VmRSS) of the relay (1 channel, token, request log on) idle, and while holding
#      STREAMS open SSE streams through it (10,000 in the full run, or what the hard
#      open-files limit allows: a proxy holds two fds per stream); nginx's under the same.
#   4. HTTPS upstream: the mock serving TLS with a certificate from a CA made for the run
#      (openssl, in the temp dir), a ccload pass-through and an nginx
#      (Benchmarks/nginx-https.conf.template) verifying it with upstream keep-alive; the JSON
#      load against both, REPS times interleaved; then ccload is stopped and its counters give
#      the share of requests sent on reused upstream connections and its TLS handshakes.
#
# Environment knobs (all optional):
#   BENCH_SCRATCH   swift build scratch path (default .build)     BENCH_SKIP_BUILD=1 reuses it
#   BENCH_THREADS   unpinned: proxy threads = nginx/haproxy workers (default: nproc)
#   MOCK_THREADS    mock upstream threads, cases 2-4 (default: nproc)
#   LOADGEN_THREADS unpinned: load generator threads (default: nproc)
#   BENCH_CONNS     connections for the JSON loads (default 64)
#   BENCH_MODES     case 1's modes (default "unpinned pinned")
#   BENCH_STREAMS   streams held in case 3 (default 10000; --quick 2000)
#   BENCH_KEEP=1    keep the temp dir (logs, raw JSON lines)
# Every wait is bounded; every process started here is stopped on exit. Progress goes to
# stderr, the markdown to stdout.
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=compare.sh
# shellcheck source=Benchmarks/lib.sh
source Benchmarks/lib.sh
SCRATCH=${BENCH_SCRATCH:-.build}
NPROC=$(nproc)
THREADS=${BENCH_THREADS:-$NPROC}
MOCK_THREADS=${MOCK_THREADS:-$NPROC}
LG_THREADS=${LOADGEN_THREADS:-$NPROC}
CONNS=${BENCH_CONNS:-64}
read -r -a MODES <<<"${BENCH_MODES:-unpinned pinned}"

if [[ $QUICK == 1 ]]; then
    REPS=1; JSON_SECS=3; SSE_SECS=3; SSE_REPS=1; WARMUP=1; HOLD_SECS=3; WRK=0; STREAMS_WANTED=${BENCH_STREAMS:-2000}
else
    REPS=3; JSON_SECS=10; SSE_SECS=8; SSE_REPS=5; WARMUP=1; HOLD_SECS=6; WRK=1; STREAMS_WANTED=${BENCH_STREAMS:-10000}
fi
SSE_RATE=200          # open-loop SSE requests/s in all
SSE_CONNS=32
FIRST_DELAY_MS=2
SSE_QUERY="events=3&first_delay_ms=$FIRST_DELAY_MS&delay_ms=2"
SSE_BODY='{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hello"}]}'
FIRST_MATCH="content_block_delta"
HOLD_QUERY="events=2&delay_ms=120000"
MODEL=claude-sonnet-4-5   # the model of ccload-loadgen's --body-size body

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
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    need_pkg nginx nginx-light || need_pkg nginx nginx || die "nginx is missing and could not be installed"
fi
need_pkg jq jq || die "jq is missing and could not be installed"
need_pkg openssl openssl || die "openssl is missing and could not be installed"
if [[ $WRK == 1 ]]; then need_pkg wrk wrk || { log "wrk unavailable: skipping the wrk cross-check"; WRK=0; }; fi
HAPROXY=$(command -v haproxy || { [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy; } || true)
[[ -n $HAPROXY ]] || log "haproxy is not installed (apt-get install haproxy): the haproxy target is skipped"
if [[ " ${MODES[*]} " == *" pinned "* && $NPROC -lt 2 ]]; then
    log "only $NPROC CPU: the pinned mode needs 2, skipped"
    read -r -a MODES <<<"${MODES[*]/pinned/}"
fi

# ---------------------------------------------------------------- build
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries (scratch path $SCRATCH)"
    for p in ccload ccload-mock ccload-loadgen; do
        swift build -c release --scratch-path "$SCRATCH" --product "$p" >&2
    done
fi
BIN="$SCRATCH/release"
for b in ccload ccload-mock ccload-loadgen; do [[ -x $BIN/$b ]] || die "$BIN/$b not built"; done
CC=$(command -v cc || command -v gcc || true)
[[ -n $CC ]] || log "no C compiler (apt-get install gcc): the SSE case's floor target is skipped"

# ---------------------------------------------------------------- processes
BENCH_KEEP_WORK=${BENCH_KEEP:-0}
bench_workdir ccload-bench
# Every ccload here gets an admin password, so none prints a generated one on stdout (the report).
export CCLOAD_PASS="bench-admin-$RANDOM$RANDOM"
TOKEN="bench-token-$RANDOM$RANDOM"

# Raise the open-file limit as far as the hard limit allows (the stream hold needs it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

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

# Processes start under PIN (a taskset prefix, or nothing); each start_* sets STARTED_PID.
PIN=()
start_ccload() {  # start_ccload NAME PORT THREADS ENV=VALUE...
    local name=$1 port=$2 threads=$3; shift 3
    env PORT="$port" CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS="$threads" SQLITE_PATH="$WORK/$name.db" "$@" \
        "${PIN[@]}" "$BIN/ccload" >/dev/null 2>"$WORK/$name.log" &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listening "$port" "$STARTED_PID" "$name"
}
start_nginx() {  # start_nginx NAME TEMPLATE PORT UPSTREAM_PORT WORKERS
    local name=$1 template=$2 port=$3 upstream_port=$4 workers=$5 prefix="$WORK/$1"
    mkdir -p "$prefix/logs" "$prefix/tmp"
    fill_template "$template" "$prefix/nginx.conf" "WORKERS=$workers" "PREFIX=$prefix" "PORT=$port" \
        "UPSTREAM_PORT=$upstream_port" "NOFILE=$NOFILE" "CA_FILE=$WORK/tls/ca.pem"
    run_nginx "$name" "$prefix" "$port" "${PIN[@]}"
}
start_haproxy() {  # start_haproxy NAME PORT UPSTREAM_PORT THREADS
    local name=$1 port=$2 upstream_port=$3 threads=$4
    fill_template Benchmarks/haproxy.cfg.template "$WORK/$name.cfg" "THREADS=$threads" "PORT=$port" "UPSTREAM_PORT=$upstream_port"
    "$HAPROXY" -c -q -f "$WORK/$name.cfg" >"$WORK/$name.log" 2>&1 || die "$name: haproxy -c failed: $(cat "$WORK/$name.log")"
    "${PIN[@]}" "$HAPROXY" -db -f "$WORK/$name.cfg" >>"$WORK/$name.log" 2>&1 &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listening "$port" "$STARTED_PID" "$name"
}

# Channel tables: bench_channel, write_channels_1 and write_channels_1k (Benchmarks/lib.sh).

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
PIN_LG=()
LOADGEN_TIMEOUT=0
loadgen() {  # loadgen LABEL PORT AUTH(0|1) PATH ARGS... -> appends one JSON line, prints a summary
    local label=$1 port=$2 auth=$3 path=$4; shift 4
    local out hdr=()
    [[ $auth == 1 ]] && hdr=(--header "x-api-key: $TOKEN")
    out=$(timeout 600 "${PIN_LG[@]}" "$BIN/ccload-loadgen" --url "http://127.0.0.1:$port$path" \
        --label "$label" --json "${hdr[@]}" "$@" 2>"$WORK/loadgen.err") \
        || { log "loadgen failed for $label: $(tail -3 "$WORK/loadgen.err")"; return 0; }
    printf '%s\n' "$out" >>"$RESULTS"
    jq -r '"  \(.label | . + "                        " | .[0:24]) \(.rps | tostring | . + "         " | .[0:10]) req/s"
        + "  head p50 \(.ttfb_us.p50 // "-")"
        + (if .first_match_us.count > 0 then "  content p50 \(.first_match_us.p50) p99 \(.first_match_us.p99)" else "" end)
        + "  full p50 \(.total_us.p50 // "-")  p99 \(.total_us.p99 // "-")  p99.9 \(.total_us["p99.9"] // "-") µs"
        + "  errors \(.errors.total)"' <<<"$out" >&2
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
children_sum() {  # children_sum FN PID: FN over the master and its workers
    local total; total=$($1 "$2")
    for w in $(pgrep -P "$2" || true); do total=$((total + $($1 "$w"))); done
    echo "$total"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
log ""
log "machine: $NPROC CPUs ($CPU_MODEL), kernel $(uname -r); open files limit $NOFILE; load $LOAD_BEFORE"

# ---------------------------------------------------------------- 1. JSON, fast upstream
FAST_TARGETS=(direct nginx haproxy pass relay relay-nolog relay-1k)
[[ -n $HAPROXY ]] || FAST_TARGETS=(direct nginx pass relay relay-nolog relay-1k)
declare -A FAST_AUTH=([relay]=1 [relay-nolog]=1 [relay-1k]=1)
declare -A WRK_RPS=()
declare -A MODE_DESC=()
run_fast_mode() {  # run_fast_mode MODE
    local mode=$1 threads lg_threads up_workers first=${#PIDS[@]} t rep
    local pin_proxy=() pin_up=()
    if [[ $mode == pinned ]]; then
        threads=1; lg_threads=1; up_workers=1
        pin_proxy=(taskset -c 1); pin_up=(taskset -c 0); PIN_LG=(taskset -c 0)
        MODE_DESC[$mode]="every proxy 1 thread/worker on CPU 1; load generator (1 thread) and upstream (1 worker) on CPU 0"
    else
        threads=$THREADS; lg_threads=$LG_THREADS; up_workers=$THREADS
        PIN_LG=()
        MODE_DESC[$mode]="every proxy $THREADS threads/workers, load generator $LG_THREADS threads, upstream $THREADS workers, nothing pinned"
    fi
    declare -gA FAST_PORT=()
    local up; up=$(free_port)
    PIN=("${pin_up[@]}"); start_nginx_static "up-$mode" "$up" "$up_workers" 1024 "${PIN[@]}"
    FAST_PORT[direct]=$up; WATCH[up-$mode]=$STARTED_PID
    PIN=("${pin_proxy[@]}")
    FAST_PORT[nginx]=$(free_port)
    start_nginx "nginx-$mode" Benchmarks/nginx.conf.template "${FAST_PORT[nginx]}" "$up" "$threads"; WATCH[nginx-$mode]=$STARTED_PID
    if [[ -n $HAPROXY ]]; then
        FAST_PORT[haproxy]=$(free_port)
        start_haproxy "haproxy-$mode" "${FAST_PORT[haproxy]}" "$up" "$threads"; WATCH[haproxy-$mode]=$STARTED_PID
    fi
    write_channels_1 "$WORK/channels-fast.json" "http://127.0.0.1:$up"
    write_channels_1k "$WORK/channels-fast-1k.json" "http://127.0.0.1:$up"
    FAST_PORT[pass]=$(free_port)
    start_ccload "pass-$mode" "${FAST_PORT[pass]}" "$threads" CCLOAD_UPSTREAM="http://127.0.0.1:$up"; WATCH[pass-$mode]=$STARTED_PID
    FAST_PORT[relay]=$(free_port)
    start_ccload "relay-$mode" "${FAST_PORT[relay]}" "$threads" CCLOAD_AUTH="$TOKEN" \
        CCLOAD_CHANNELS_FILE="$WORK/channels-fast.json"; WATCH[relay-$mode]=$STARTED_PID
    FAST_PORT[relay-nolog]=$(free_port)
    start_ccload "relay-nolog-$mode" "${FAST_PORT[relay-nolog]}" "$threads" CCLOAD_AUTH="$TOKEN" CCLOAD_REQUEST_LOG=0 \
        CCLOAD_CHANNELS_FILE="$WORK/channels-fast.json"; WATCH[relay-nolog-$mode]=$STARTED_PID
    FAST_PORT[relay-1k]=$(free_port)
    start_ccload "relay-1k-$mode" "${FAST_PORT[relay-1k]}" "$threads" CCLOAD_AUTH="$TOKEN" \
        CCLOAD_CHANNELS_FILE="$WORK/channels-fast-1k.json"; WATCH[relay-1k-$mode]=$STARTED_PID
    PIN=()

    log ""
    log "1. ($mode) 1 KiB JSON in front of nginx static, closed loop, $CONNS connections, ${JSON_SECS}s x $REPS per target (interleaved)"
    log "   ${MODE_DESC[$mode]}"
    local ccloads=("${WATCH[pass-$mode]}" "${WATCH[relay-$mode]}" "${WATCH[relay-nolog-$mode]}" "${WATCH[relay-1k-$mode]}")
    for rep in $(seq 1 "$REPS"); do
        for t in "${FAST_TARGETS[@]}"; do
            loadgen "json-$mode/$t" "${FAST_PORT[$t]}" "${FAST_AUTH[$t]:-0}" /v1/messages \
                --connections "$CONNS" --threads "$lg_threads" --duration "$JSON_SECS" --warmup "$WARMUP" \
                --body-size 1024 --timeout 10
            # The request-log writer moves what it packed during the run once the load stops:
            # done here, before the next target, and reported (CPU ms after the run).
            local deferred; deferred=$(settle "${ccloads[@]}")
            (( deferred > 20 )) && log "     $t: ${deferred} ms of ccload CPU after the run (deferred work, before the next target)"
            printf '{"label":"deferred-json-%s/%s","deferred_cpu_ms":%d}\n' "$mode" "$t" "$deferred" >>"$RESULTS"
        done
    done
    check_alive "the $mode JSON case"

    if [[ $WRK == 1 && $mode == unpinned ]]; then
        log "   wrk cross-check: the same load, 5 s per target"
        local body; body=$(printf '{"model":"%s","max_tokens":256,"messages":[{"role":"user","content":"%s"}]}' \
            "$MODEL" "$(head -c 2000 /dev/zero | tr '\0' 'a' | head -c 939)")
        write_wrk_post "$WORK/post.lua" "$TOKEN" "$body"
        for t in "${FAST_TARGETS[@]}"; do
            local r
            r=$(timeout 30 "${PIN_LG[@]}" wrk -t "$lg_threads" -c "$CONNS" -d 5s -s "$WORK/post.lua" \
                "http://127.0.0.1:${FAST_PORT[$t]}/v1/messages" 2>&1 | awk '/^Requests\/sec/ {print $2}' || true)
            WRK_RPS[$t]=${r:-0}
            log "     wrk $t: ${WRK_RPS[$t]} req/s"
        done
        check_alive "the wrk cross-check"
    fi
    for t in up nginx haproxy pass relay relay-nolog relay-1k; do unset "WATCH[$t-$mode]"; done
    stop_pids "${PIDS[@]:$first}"
    PIDS=("${PIDS[@]:0:$first}")
    PIN_LG=()
}
for mode in "${MODES[@]}"; do run_fast_mode "$mode"; done

# ---------------------------------------------------------------- 2. SSE, first content event
# The Swift mock, unpinned, with a pass-through, a relay and an nginx in front of it.
MOCK_PORT=$(free_port)
"$BIN/ccload-mock" --port "$MOCK_PORT" --threads "$MOCK_THREADS" 2>"$WORK/mock.log" &
MOCK_PID=$!; PIDS+=("$MOCK_PID"); WATCH[mock]=$MOCK_PID
wait_listening "$MOCK_PORT" "$MOCK_PID" mock
write_channels_1 "$WORK/channels-mock.json" "http://127.0.0.1:$MOCK_PORT"
declare -A SSE_PORT=([direct]=$MOCK_PORT)
SSE_PORT[pass]=$(free_port)
start_ccload pass "${SSE_PORT[pass]}" "$THREADS" CCLOAD_UPSTREAM="http://127.0.0.1:$MOCK_PORT"; WATCH[pass]=$STARTED_PID
SSE_PORT[relay]=$(free_port)
start_ccload relay "${SSE_PORT[relay]}" "$THREADS" CCLOAD_AUTH="$TOKEN" CCLOAD_CHANNELS_FILE="$WORK/channels-mock.json"
RELAY_PID=$STARTED_PID; WATCH[relay]=$RELAY_PID
SSE_PORT[nginx]=$(free_port)
start_nginx nginx Benchmarks/nginx.conf.template "${SSE_PORT[nginx]}" "$MOCK_PORT" "$THREADS"
NGINX_PID=$STARTED_PID; WATCH[nginx]=$NGINX_PID
SSE_TARGETS=(direct pass relay nginx)
if [[ -n $CC ]] && "$CC" -O2 -o "$WORK/forward" Benchmarks/Floor/forward.c 2>"$WORK/forward.build.log"; then
    SSE_PORT[floor]=$(free_port)
    "$WORK/forward" "${SSE_PORT[floor]}" "$MOCK_PORT" 2>"$WORK/floor.log" &
    STARTED_PID=$!; PIDS+=("$STARTED_PID"); WATCH[floor]=$STARTED_PID
    wait_listening "${SSE_PORT[floor]}" "$STARTED_PID" floor
    SSE_TARGETS=(direct floor pass relay nginx)
elif [[ -n $CC ]]; then
    log "the floor forwarder did not build ($(tail -1 "$WORK/forward.build.log")): skipped"
fi
RSS_IDLE_START=$(rss_kib "$RELAY_PID")
NGINX_RSS_IDLE=$(children_sum rss_kib "$NGINX_PID")

log ""
log "2. SSE to the first content event, open loop $SSE_RATE req/s on $SSE_CONNS connections, ?$SSE_QUERY, ${SSE_SECS}s x $SSE_REPS per target"
log "   mock :$MOCK_PORT ($MOCK_THREADS threads); pass, relay $THREADS threads; nginx $THREADS workers"
for rep in $(seq 1 "$SSE_REPS"); do
    for t in "${SSE_TARGETS[@]}"; do
        auth=0; [[ $t == relay ]] && auth=1
        loadgen "sse/$t" "${SSE_PORT[$t]}" "$auth" "/v1/messages?$SSE_QUERY" --body "$SSE_BODY" \
            --first-match "$FIRST_MATCH" --connections "$SSE_CONNS" --threads 1 --rate "$SSE_RATE" \
            --duration "$SSE_SECS" --warmup "$WARMUP" --timeout 10
    done
done
check_alive "the SSE case"

# ---------------------------------------------------------------- 3. RSS under open streams
# The proxy holds two fds per stream (client + upstream), so the hard open-files limit
# caps the streams one process can hold: 10,000 streams need 20,000+ fds.
RSS_IDLE_AFTER=$(rss_kib "$RELAY_PID")
STREAMS=$(( (NOFILE - 64) / 2 )); (( STREAMS > STREAMS_WANTED )) && STREAMS=$STREAMS_WANTED
HOLD_RSS=0; HOLD_HELD=0; HOLD_LEFT=0
hold_streams() {  # hold_streams TARGET PORT AUTH RSS_FN FDS_FN -> sets HOLD_RSS (KiB), HOLD_HELD, HOLD_LEFT
    local t=$1 port=$2 auth=$3 rss_fn=$4 fds_fn=$5
    local base_fds; base_fds=$($fds_fn)
    local lgs=() n hdr=()
    [[ $auth == 1 ]] && hdr=(--header "x-api-key: $TOKEN")
    # Two generators of half the streams each; each stops by itself after --duration
    # (the hard cap), and is told to stop (SIGTERM, still reporting) once measured.
    for n in $((STREAMS / 2)) $((STREAMS - STREAMS / 2)); do
        "$BIN/ccload-loadgen" --url "http://127.0.0.1:$port/v1/messages?$HOLD_QUERY" "${hdr[@]}" \
            --body "$SSE_BODY" --label "hold/$t" --json --connections "$n" --threads 1 --ramp 2 --warmup 0 \
            --duration $((HOLD_SECS + 20)) --timeout 300 --connect-timeout 10 \
            >>"$WORK/hold-$t.jsonl" 2>>"$WORK/loadgen.err" &
        lgs+=($!); PIDS+=($!)
    done
    # Wait (bounded, 20 s) until the proxy holds both sides of every stream.
    local want=$((base_fds + 2 * STREAMS - 16)) have=0
    for _ in $(seq 1 200); do
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
log "3. RSS: the relay idle, then holding $STREAMS open SSE streams through it (?$HOLD_QUERY); nginx the same"
relay_fds() { fds "$RELAY_PID"; }
relay_rss() { rss_kib "$RELAY_PID"; }
hold_streams relay "${SSE_PORT[relay]}" 1 relay_rss relay_fds
RSS_STREAMS=$HOLD_RSS; HELD=$HOLD_HELD; FDS_AFTER=$HOLD_LEFT
RSS_AFTER_STREAMS=$(rss_kib "$RELAY_PID")
log "  relay RSS idle: start $(mib "$RSS_IDLE_START") MiB, after the SSE runs $(mib "$RSS_IDLE_AFTER") MiB"
log "  relay RSS with $HELD streams held: $(mib "$RSS_STREAMS") MiB;" \
    "fds left after the clients went: $FDS_AFTER; RSS then $(mib "$RSS_AFTER_STREAMS") MiB"
nginx_fds() { local total=0 w; for w in $(pgrep -P "$NGINX_PID" || true); do total=$((total + $(fds "$w"))); done; echo "$total"; }
nginx_rss() { children_sum rss_kib "$NGINX_PID"; }
hold_streams nginx "${SSE_PORT[nginx]}" 0 nginx_rss nginx_fds
NGINX_RSS_STREAMS=$HOLD_RSS; NGINX_HELD=$HOLD_HELD
log "  nginx RSS idle $(mib "$NGINX_RSS_IDLE") MiB, with $NGINX_HELD streams $(mib "$NGINX_RSS_STREAMS") MiB (master + workers)"
check_alive "the stream hold"
# ---------------------------------------------------------------- 4. HTTPS upstream
# The mock again, now serving TLS with a certificate from a CA made for this run (in $WORK,
# removed on exit); a second ccload and a second nginx in front of it, both verifying it.
# The load generator speaks plain HTTP to the proxies only, so there is no direct target.
log ""
log "4. HTTPS upstream: throwaway CA, TLS mock, ccload-https and nginx-https"
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
"$BIN/ccload-mock" --port "$MOCK_TLS_PORT" --threads "$MOCK_THREADS" \
    --tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key" 2>"$WORK/mock-https.log" &
MOCK_TLS_PID=$!; PIDS+=("$MOCK_TLS_PID"); WATCH[mock-https]=$MOCK_TLS_PID
wait_listening "$MOCK_TLS_PORT" "$MOCK_TLS_PID" mock-https

CCLOAD_TLS_PORT=$(free_port)
start_ccload ccload-https "$CCLOAD_TLS_PORT" "$THREADS" CCLOAD_DRAIN_SECONDS=5 \
    CCLOAD_UPSTREAM="https://localhost:$MOCK_TLS_PORT" CCLOAD_CA_FILE="$TLS_DIR/ca.pem"
CCLOAD_TLS_PID=$STARTED_PID; WATCH[ccload-https]=$CCLOAD_TLS_PID

NGINX_TLS_PORT=$(free_port)
start_nginx nginx-https Benchmarks/nginx-https.conf.template "$NGINX_TLS_PORT" "$MOCK_TLS_PORT" "$THREADS"
NGINX_TLS_PID=$STARTED_PID; WATCH[nginx-https]=$NGINX_TLS_PID
declare -A PORT_OF=([ccload-https]=$CCLOAD_TLS_PORT [nginx-https]=$NGINX_TLS_PORT)
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
        loadgen "json/$t" "${PORT_OF[$t]}" 0 "/v1/messages?size=1024" --connections "$CONNS" --threads "$LG_THREADS" \
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
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.1f", a - b }'; }
num() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.0f", a }'; }
num1() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.1f", a }'; }
verdict() {  # verdict FIGURE OP LIMIT : **met** / **not met** / - (no figure)
    awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
        if (a == "-" || a == "") { print "-"; exit }
        ok = (op == ">=") ? (a + 0 >= b + 0) : (a + 0 <= b + 0)
        print ok ? "**met**" : "**not met**" }'
}

declare -A RPS P50 P99 P999 ERR
json_figures() {  # json_figures KEY LABEL : medians of a JSON load's runs
    RPS[$1]=$(med "$2" .rps); P50[$1]=$(med "$2" .total_us.p50)
    P99[$1]=$(med "$2" .total_us.p99); P999[$1]=$(med "$2" '.total_us["p99.9"]'); ERR[$1]=$(errs "$2")
}
json_table() {  # json_table KEY_PREFIX TARGET... : req/s and latencies, one row per target
    local t k
    echo "| target | req/s | p50 | p99 | p99.9 | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    for t in "${@:2}"; do
        k="$1$t"
        echo "| $t | $(num "${RPS[$k]}") | $(num1 "${P50[$k]}") | $(num1 "${P99[$k]}") | $(num1 "${P999[$k]}") | ${ERR[$k]} |"
    done
}
for mode in "${MODES[@]}"; do
    for t in "${FAST_TARGETS[@]}"; do json_figures "$mode/$t" "json-$mode/$t"; done
done
declare -A R_RELAY R_LOG R_PASS R_P99 R_1K R_HAP
for mode in "${MODES[@]}"; do
    R_RELAY[$mode]=$(ratio "${RPS[$mode/relay]}" "${RPS[$mode/nginx]}")
    R_LOG[$mode]=$(ratio "${RPS[$mode/relay]}" "${RPS[$mode/relay-nolog]}")
    R_PASS[$mode]=$(ratio "${RPS[$mode/pass]}" "${RPS[$mode/nginx]}")
    R_P99[$mode]=$(ratio "${P99[$mode/relay]}" "${P99[$mode/nginx]}")
    R_1K[$mode]=$(ratio "${RPS[$mode/relay-1k]}" "${RPS[$mode/relay]}")
    R_HAP[$mode]=$(ratio "${RPS[$mode/haproxy]:--}" "${RPS[$mode/nginx]}")
    log ""
    log "$mode: relay/nginx ${R_RELAY[$mode]}, relay log on/off ${R_LOG[$mode]}, pass/nginx ${R_PASS[$mode]}," \
        "relay p99/nginx p99 ${R_P99[$mode]}, 1,000 channels/1 ${R_1K[$mode]}, haproxy/nginx ${R_HAP[$mode]}"
done
declare -A TT50 FB50 FM50 FM99 SSEERR
for t in "${SSE_TARGETS[@]}"; do
    TT50[$t]=$(med "sse/$t" .ttfb_us.p50); FB50[$t]=$(med "sse/$t" .first_body_us.p50)
    FM50[$t]=$(med "sse/$t" .first_match_us.p50); FM99[$t]=$(med "sse/$t" .first_match_us.p99); SSEERR[$t]=$(errs "sse/$t")
done
RELAY_ADDED=$(diff_us "${FM50[relay]}" "${FM50[direct]}")
NGINX_ADDED=$(diff_us "${FM50[nginx]}" "${FM50[direct]}")
PASS_ADDED=$(diff_us "${FM50[pass]}" "${FM50[direct]}")
FLOOR_ADDED=$(diff_us "${FM50[floor]:--}" "${FM50[direct]}")
SSE_OK=$(awk -v r="$RELAY_ADDED" -v n="$NGINX_ADDED" 'BEGIN { if (r == "-" || n == "-") print "-"; else print (r + 0 <= n + 0 && r + 0 <= 50) ? "**met**" : "**not met**" }')
log "SSE first content event p50: relay − direct $RELAY_ADDED µs, nginx − direct $NGINX_ADDED µs, pass − direct $PASS_ADDED µs, floor − direct $FLOOR_ADDED µs"
for t in "${TLS_TARGETS[@]}"; do json_figures "$t" "json/$t"; done
# Linear estimate at exactly 10,000 streams when the fd limit kept the hold below it.
RSS_10K=$(awk -v i="$RSS_IDLE_AFTER" -v r="$RSS_STREAMS" -v h="$HELD" 'BEGIN { if (h > 0) printf "%.0f", i + (r - i) * 10000 / h; else print r }')
RSS_OK=$(awk -v r="$(mib "$RSS_10K")" -v h="$HELD" -v s="$STREAMS" 'BEGIN { print (r + 0 <= 128 && h + 0 >= 0.99 * s && h > 0) ? "**met**" : "**not met**" }')
RSS_FIGURE="$(mib "$RSS_STREAMS") MiB at $HELD streams (nginx $(mib "$NGINX_RSS_STREAMS") MiB at $NGINX_HELD)"
if (( HELD < 10000 )); then
    RSS_FIGURE+="; linear estimate at 10,000: $(mib "$RSS_10K") MiB"
    (( STREAMS < STREAMS_WANTED )) && RSS_FIGURE+=" (the open-files limit $NOFILE caps the hold at $STREAMS)"
    (( STREAMS_WANTED < 10000 )) && RSS_FIGURE+=" ($STREAMS_WANTED streams asked for: BENCH_STREAMS or --quick)"
    RSS_OK+=" (estimate)"
fi
HTTPS_RATIO=$(ratio "${RPS[ccload-https]}" "${RPS[nginx-https]}")

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
RUN=$([[ $QUICK == 1 ]] && echo "--quick" || echo "full")
col() {  # col ASSOC_NAME : one cell per mode
    local -n a=$1; local m out=""
    for m in "${MODES[@]}"; do out+=" ${a[$m]:--} |"; done
    printf '%s' "$out"
}
vcol() {  # vcol ASSOC_NAME OP LIMIT : the verdict for each mode
    local -n a=$1; local m out=()
    for m in "${MODES[@]}"; do out+=("$(verdict "${a[$m]:--}" "$2" "$3") ($m)"); done
    local IFS=,; printf ' %s' "${out[*]}" | sed 's/,/, /g'
}
once() {  # once FIGURE : a figure measured once, unpinned, in the first mode's column
    local m out=" $1 |"
    for m in "${MODES[@]:1}"; do out+=" |"; done
    printf '%s' "$out"
}
mode_head() { local m out=""; for m in "${MODES[@]}"; do out+=" $m |"; done; printf '%s' "$out"; }
mode_rule() { local m out=""; for m in "${MODES[@]}"; do out+="---:|"; done; printf '%s' "$out"; }
{
echo ""
echo "### compare.sh ($RUN) — $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo ""
echo "Machine: $NPROC CPUs, $CPU_MODEL, kernel $(uname -r); open-files limit $NOFILE." \
     "Load average before the run $LOAD_BEFORE, after $LOAD_AFTER (anything else running shares these CPUs)." \
     "$([[ $RUN == --quick ]] && echo 'A --quick run: one round per target, too noisy for verdicts.')"
echo ""
echo "**Issue 12's targets** (ratios within this run; medians of $REPS interleaved rounds per target):"
echo ""
echo "| measure |$(mode_head) target | verdict |"
echo "|---|$(mode_rule)---:|---|"
echo "| relay (1 channel, client token, usage tap, request log) ÷ nginx, req/s |$(col R_RELAY) ≥ 1.0 |$(vcol R_RELAY '>=' 1.0) |"
echo "| relay log on ÷ log off, req/s |$(col R_LOG) ≥ 0.95 |$(vcol R_LOG '>=' 0.95) |"
echo "| pass-through ÷ nginx, req/s |$(col R_PASS) ≥ 1.2 (unpinned) | $(verdict "${R_PASS[unpinned]:--}" '>=' 1.2) |"
echo "| relay p99 ÷ nginx p99 at that load |$(col R_P99) ≤ 1.0 |$(vcol R_P99 '<=' 1.0) |"
echo "| relay with 1,000 channels ÷ relay with 1, req/s |$(col R_1K) ≥ 0.95 |$(vcol R_1K '>=' 0.95) |"
echo "| haproxy ÷ nginx, req/s (reference) |$(col R_HAP) | |"
echo "| SSE first content event, p50: relay − direct (nginx − direct; floor − direct, the least a hop adds here); unpinned, mock upstream |$(once "$RELAY_ADDED µs ($NGINX_ADDED µs; floor $FLOOR_ADDED µs)") ≤ nginx's, and ≤ 50 µs | $SSE_OK |"
echo "| RSS with 10,000 open SSE streams through the relay (nginx beside it); unpinned |$(once "$RSS_FIGURE") ≤ 128 MiB | $RSS_OK |"
echo ""
echo "1 KiB JSON (POST /v1/messages) in front of nginx's static \`return 200\` (a 1 KiB Messages answer), closed loop, $CONNS keep-alive connections, ${JSON_SECS} s per run, median of $REPS rounds interleaved target by target, each column's median taken on its own (latency = full response, µs, from the send):"
for mode in "${MODES[@]}"; do
    echo ""
    echo "*$mode*: ${MODE_DESC[$mode]}."
    echo ""
    json_table "$mode/" "${FAST_TARGETS[@]}"
    echo ""
    d_relay=$(med "deferred-json-$mode/relay" .deferred_cpu_ms); d_1k=$(med "deferred-json-$mode/relay-1k" .deferred_cpu_ms)
    per_req=$(awk -v d="$d_relay" -v r="${RPS[$mode/relay]}" -v s="$JSON_SECS" 'BEGIN { if (d == "-" || r == "-" || r + 0 == 0) print "-"; else printf "%.2f", d * 1000 / (r * s) }')
    echo "Deferred work ($mode): after each relay run, ccload used a median $d_relay ms of CPU (relay-1k: $d_1k ms) before going idle: the request-log writer moving the segments it packed during the run into \`request_logs\` (about $per_req µs per request of the run). The next target's run waits for it (\`settle\`), so no target's figures carry it."
done
if [[ $WRK == 1 && -n ${WRK_RPS[direct]:-} ]]; then
    echo ""
    printf 'wrk cross-check (unpinned, one 5 s run each, req/s):'
    for t in "${FAST_TARGETS[@]}"; do printf ' %s %s;' "$t" "$(num "${WRK_RPS[$t]:--}")"; done
    echo " relay/nginx $(ratio "${WRK_RPS[relay]:--}" "${WRK_RPS[nginx]:--}")."
fi
echo ""
echo 'Targets: `direct` is the upstream itself; `nginx` proxies to it with a keepalive pool (`proxy_buffering off`, HTTP/1.1); `haproxy` with `http-reuse always`; `pass` is ccload with `CCLOAD_UPSTREAM`; `relay` is ccload with a 1-channel table (`CCLOAD_CHANNELS_FILE`), a client token (`CCLOAD_AUTH`, sent as `x-api-key`), the usage tap and the request log; `relay-nolog` the same with `CCLOAD_REQUEST_LOG=0`; `relay-1k` the relay with 1,000 channels: 999 for other models (three each, all four protocols, ten priorities) and the one serving the benchmark model, last in the file.'
echo ""
echo "SSE in front of the mock (\`?$SSE_QUERY\`: message_start, ping and content_block_start at once, the first content event ${FIRST_DELAY_MS} ms later), open loop $SSE_RATE req/s on $SSE_CONNS connections, ${SSE_SECS} s per run, median of $SSE_REPS; µs from the intended send time; *first content* = the body first contains \`$FIRST_MATCH\` (the same event for every target):"
echo ""
echo "| target | head p50 | first body byte p50 | first content p50 | first content p99 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for t in "${SSE_TARGETS[@]}"; do
    echo "| $t | $(num1 "${TT50[$t]}") | $(num1 "${FB50[$t]}") | $(num1 "${FM50[$t]}") | $(num1 "${FM99[$t]}") | ${SSEERR[$t]} |"
done
echo "| **relay − direct** | | | **$RELAY_ADDED** | | |"
echo "| pass − direct | | | $PASS_ADDED | | |"
echo "| nginx − direct | | | $NGINX_ADDED | | |"
[[ -n ${FM50[floor]:-} ]] && echo "| floor − direct | | | $FLOOR_ADDED | | |"
echo ""
echo "Head and first body byte: when the opening events reached the client; first content: when the first \`$FIRST_MATCH\` did. The relay may hold the opening events until its commit point (the first content event), so only the first-content column compares the same event across targets. \`floor\` is \`Benchmarks/Floor/forward.c\`: one thread copying bytes between each client and its own upstream connection, nothing parsed; what it adds is what the extra hop costs on this machine before any proxy does any work."
echo ""
echo "HTTPS upstream: the mock serving TLS (certificate from a CA made for the run), ccload (pass-through) and nginx verifying it and keeping upstream connections alive; 1 KiB JSON, $CONNS connections, ${JSON_SECS} s per run, median of $REPS interleaved runs (µs from the send):"
echo ""
json_table "" "${TLS_TARGETS[@]}"
echo "| **ccload / nginx (HTTPS)** | **$HTTPS_RATIO** | $(ratio "${P50[ccload-https]}" "${P50[nginx-https]}") | $(ratio "${P99[ccload-https]}" "${P99[nginx-https]}") | $(ratio "${P999[ccload-https]}" "${P999[nginx-https]}") | |"
echo ""
echo "ccload-https's counters at its SIGTERM (whole case, warm-ups included): upstream connections opened $TLS_OPENED, pooled reuses $TLS_REUSED," \
     "so **$REUSED_PCT %** of requests went out on a reused connection; TLS handshakes full $TLS_FULL, resumed $TLS_RESUMED." \
     "Upstream connections open at 1/4 of each run that were still open at 3/4 (kept/open, per run): ccload ${CONNS_KEPT[ccload-https]:--}, nginx ${CONNS_KEPT[nginx-https]:--} (nginx has no counter; this shows its pool held its connections too)."
echo ""
echo "Memory (VmRSS of the relay of the SSE case: 1 channel, client token, request log on; nginx = master + workers):"
echo ""
echo "| | relay | nginx |"
echo "|---|---:|---:|"
echo "| idle at start | $(mib "$RSS_IDLE_START") MiB | $(mib "$NGINX_RSS_IDLE") MiB |"
echo "| idle after the SSE runs | $(mib "$RSS_IDLE_AFTER") MiB | |"
echo "| holding open SSE streams | $(mib "$RSS_STREAMS") MiB ($HELD streams) | $(mib "$NGINX_RSS_STREAMS") MiB ($NGINX_HELD streams) |"
echo "| after the streams' clients left | $(mib "$RSS_AFTER_STREAMS") MiB, $FDS_AFTER fds more than before the hold | |"
echo ""
echo "| earlier targets (HTTPS: issue 3) | figure | verdict |"
echo "|---|---|---|"
echo "| HTTPS throughput ccload/nginx ≥ 1.0 | $HTTPS_RATIO | $(verdict "$HTTPS_RATIO" '>=' 1.0) |"
echo "| requests on reused upstream connections ≥ 99 % | $REUSED_PCT % ($TLS_REUSED of $( [[ $TLS_OPENED == - ]] && echo - || echo $((TLS_OPENED + TLS_REUSED)) ); TLS handshakes full $TLS_FULL, resumed $TLS_RESUMED) | $(verdict "$REUSED_PCT" '>=' 99) |"
}
if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "raw results: $RESULTS"; fi
