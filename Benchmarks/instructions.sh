#!/usr/bin/env bash
# Benchmarks/instructions.sh BIN_DIR [BIN_DIR...]
#
# User-space instructions per request, counted by valgrind's callgrind: the same figure for
# the same build and load whatever else the machine is doing (a shared, noisy machine moves
# req/s by 10-30 % between runs; this count moves by well under 1 %). It is the figure to
# quote for "does this change make the request path do less", beside ab.sh's req/s (which
# also sees the kernel, the scheduler and the other core).
#
# For each build and each mode (pass: CCLOAD_UPSTREAM; relay: a 1-channel table (lib.sh's write_channels_1, the channel relay1k serves from), a client
# token, the usage tap and the request log; nolog: the relay with CCLOAD_REQUEST_LOG=0), one
# ccload (one reactor thread) runs under callgrind in front of nginx's static 1 KiB answer
# (Benchmarks/nginx-static.conf.template). After a 2 s warm-up, counting is switched on for
# REQUESTS requests sent at RATE req/s on 8 keep-alive connections (open loop, so batching
# in the request-log writer is the same for every build), then off. Reported per request:
# the reactor thread's instructions and the store writer thread's, apart.
#
# relay1k is the relay with compare.sh's 1,000-channel table (lib.sh's write_channels_1k: 999
# channels for other models and protocols at ten priorities, then the one serving the
# benchmark model): the per-request cost
# of a big table, which compare.sh's req/s ratio shows only through the noise.
#
# Knobs: RATE (200), SECS (10: REQUESTS = RATE * SECS), MODES ("pass relay nolog"; relay1k too), PAD (0:
# the user message's text made this many bytes long; Claude Code's bodies run to 100s of KB), MODEL
# (bench-json; a real name such as claude-sonnet-4-5-20250929 is past 15 bytes, a String's
# inline room),
# KEEP=1 keeps the callgrind files (callgrind_annotate them for the profile). Needs valgrind
# (Debian's package; `apt-get install -y valgrind`) and nginx. valgrind 3.19 cannot read the
# DWARF 5 the Swift toolchain writes, so the binary is copied without its debug sections
# (symbols stay). Every process is stopped on exit; every wait is bounded.
set -euo pipefail
BENCH_NAME=instructions
source "$(dirname "$0")/lib.sh"
(( $# >= 1 )) || die "usage: $0 BIN_DIR [BIN_DIR...]"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install -y valgrind)"
RATE=${RATE:-200}; SECS=${SECS:-10}; MODES=${MODES:-"pass relay nolog"}; MODEL=${MODEL:-bench-json}
bench_workdir instructions
NG_PORT=$(free_port)
start_nginx_static nginx "$NG_PORT" 1 1024
TOKEN=instructions-token-0123456789
write_channels_1 "$WORK/channels.json" "http://127.0.0.1:$NG_PORT/json"
write_channels_1k "$WORK/channels-1k.json" "http://127.0.0.1:$NG_PORT/json"
CONTENT=hello
# (One command-line argument holds at most 128 KiB: PAD stays below 120,000.)
if (( ${PAD:-0} > 0 )); then CONTENT=$(python3 -c "import sys; n=int(sys.argv[1]); print(('lorem ipsum dolor sit amet ' * (n // 27 + 1))[:n], end='')" "$PAD"); fi
BODY='{"model":"'"$MODEL"'","max_tokens":16,"stream":false,"messages":[{"role":"user","content":"'"$CONTENT"'"}]}'

# count DIR MODE -> prints "loop writer requests errors"
count() {
    local dir=$1 mode=$2 port out env=()
    port=$(free_port); out="$WORK/cg.$(basename "$dir").$mode"
    case $mode in
        pass) env=(CCLOAD_UPSTREAM="http://127.0.0.1:$NG_PORT/json") ;;
        relay) env=(CCLOAD_AUTH="$TOKEN" CCLOAD_CHANNELS_FILE="$WORK/channels.json") ;;
        nolog) env=(CCLOAD_AUTH="$TOKEN" CCLOAD_CHANNELS_FILE="$WORK/channels.json" CCLOAD_REQUEST_LOG=0) ;;
        relay1k) env=(CCLOAD_AUTH="$TOKEN" CCLOAD_CHANNELS_FILE="$WORK/channels-1k.json") ;;
        *) die "unknown mode $mode" ;;
    esac
    objcopy --strip-debug "$dir/ccload" "$WORK/ccload-nodebug"
    env PORT="$port" CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=1 SQLITE_PATH="$WORK/$mode.$RANDOM.db" "${env[@]}" \
        valgrind --tool=callgrind --instr-atstart=no --separate-threads=no --callgrind-out-file="$out" \
        "$WORK/ccload-nodebug" >/dev/null 2>"$out.log" &
    local pid=$!; PIDS+=("$pid")
    for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
    local lg=("$dir/ccload-loadgen" --url "http://127.0.0.1:$port/v1/messages" --body "$BODY"
              --header "content-type: application/json" --header "x-api-key: $TOKEN"
              --warmup 0 --timeout 10 --connections 8 --threads 1 --json)
    "${lg[@]}" --duration 2 --rate 100 >/dev/null 2>&1 || true
    callgrind_control -i on "$pid" >/dev/null 2>&1
    "${lg[@]}" --duration "$SECS" --rate "$RATE" --label "$mode" >"$out.json" 2>/dev/null || true
    sleep 0.3
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 1
    stop_pids "$pid"
    local dump
    dump=$(ls "$out".* 2>/dev/null | grep -E "\.[0-9]+$" | sed -n 1p || true)
    [[ -n $dump ]] || die "no callgrind dump for $dir $mode (see $out.log)"
    local loop writer
    loop=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | awk '/Reactor4LoopC3run/ && !d {gsub(",","",$1); print $1; d=1}')
    writer=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | awk '/WorkerThreadC4loop/ && !d {gsub(",","",$1); print $1; d=1}')
    echo "${loop:-0} ${writer:-0} $(jq -r '.requests' "$out.json") $(jq -r '.errors.total' "$out.json")"
    [[ ${KEEP:-0} == 1 ]] && cp "$dump" "./callgrind.$(basename "$dir").$mode" || true
}

printf '| build | mode | requests | errors | reactor thread, instructions/request | worker threads (store writer), instructions/request | total |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
for dir in "$@"; do
    for mode in $MODES; do
        read -r loop writer n e < <(count "$dir" "$mode")
        (( n > 0 )) || die "$dir $mode: no requests completed"
        printf '| %s | %s | %d | %d | %d | %d | %d |\n' "$(basename "$dir")" "$mode" "$n" "$e" \
            $(( loop / n )) $(( writer / n )) $(( (loop + writer) / n ))
    done
done
