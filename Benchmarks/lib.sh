# Benchmarks/lib.sh: the shell pieces Benchmarks/ab.sh and Benchmarks/compare.sh share.
# Sourced, not run. The sourcing script sets BENCH_NAME (its name, for messages) first and
# calls bench_workdir once before starting anything.

log() { printf '%s\n' "$*" >&2; }
die() { log "${BENCH_NAME:-bench}: $*"; exit 1; }

# ---------------------------------------------------------------- processes
# Every process a script starts goes into PIDS; on exit each is sent SIGTERM, given up to
# 3 s, then SIGKILL; WORK is removed unless BENCH_KEEP_WORK=1.
PIDS=()
stop_pids() {  # stop_pids PID... : TERM, up to 3 s, then KILL (bounded)
    local p alive
    (( $# == 0 )) && return 0
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 30); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
# settle PID... : waits until the processes are idle (no CPU tick, 10 ms, in 200 ms; at most
# 30 s) and prints the CPU they used meanwhile, in ms. Work a process defers past a run (the
# request-log writer moving its packed segments once the load stops) is done before the next
# target's run, so it does not land on that one's figures; the caller reports it.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
settle() {
    local p t0=0 prev now=0
    for p in "$@"; do t0=$((t0 + $(proc_ticks "$p"))); done
    prev=$t0
    for _ in $(seq 1 150); do
        sleep 0.2
        now=0
        for p in "$@"; do now=$((now + $(proc_ticks "$p"))); done
        (( now - prev <= 0 )) && break
        prev=$now
    done
    echo $(( (now - t0) * 1000 / $(getconf CLK_TCK) ))
}
bench_cleanup() {
    stop_pids "${PIDS[@]}"
    [[ -n ${WORK:-} ]] || return 0
    if [[ ${BENCH_KEEP_WORK:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
bench_workdir() {  # bench_workdir PREFIX : makes WORK and sets the traps
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# ---------------------------------------------------------------- ports
port_is_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))   # below the ephemeral range
        if port_is_free "$p"; then echo "$p"; return 0; fi
    done
    die "no free port found"
}
wait_listening() {  # wait_listening PORT PID NAME : up to 10 s; NAME's log is $WORK/NAME.log
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || die "$3 exited at start-up (log: $(tail -3 "$WORK/$3.log" 2>/dev/null | tr '\n' ' '))"
        ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    die "$3 did not listen on port $1 within 10 s"
}

# ---------------------------------------------------------------- config files
fill_template() {  # fill_template TEMPLATE OUT KEY=VALUE... : @KEY@ -> VALUE (no | or & in values; comments may keep theirs)
    local t=$1 out=$2 kv args=(); shift 2
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$t" >"$out"
    local left; left=$(grep -v '^[[:space:]]*#' "$out" | grep -o '@[A-Z_]*@' | sort -u | tr '\n' ' ' || true)
    [[ -z $left ]] || die "$t: placeholders left in $out: $left"
}

# An Anthropic Messages answer of exactly SIZE bytes (the text padded with words).
bench_json_answer() {  # bench_json_answer SIZE
    local pre='{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"'
    local suf='"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":34}}'
    local n=$(( $1 - ${#pre} - ${#suf} )) fill=""
    while (( ${#fill} < n )); do fill+="lorem ipsum dolor sit amet "; done
    printf '%s%s%s' "$pre" "${fill:0:$(( n > 0 ? n : 0 ))}" "$suf"
}

# The cheapest upstream there is: nginx's static `return 200` with canned answers (a JSON
# message of JSON_SIZE bytes, or a four-event SSE stream in one write), so the upstream's CPU
# does not hide a proxy's. Paths: /json/..., /sse/..., and /v1/... (JSON, or SSE with ?sse=1).
# start_nginx_static NAME PORT WORKERS JSON_SIZE [PIN...] -> STARTED_PID
start_nginx_static() {
    local name=$1 port=$2 workers=$3 size=$4 prefix="$WORK/$1"; shift 4
    mkdir -p "$prefix/logs" "$prefix/tmp"
    fill_template "$(dirname "${BASH_SOURCE[0]}")/nginx-static.conf.template" "$prefix/nginx.conf" \
        "WORKERS=$workers" "PREFIX=$prefix" "PORT=$port" "NOFILE=$(ulimit -n)" "JSON_ANSWER=$(bench_json_answer "$size")"
    run_nginx "$name" "$prefix" "$port" "$@"
}
# run_nginx NAME PREFIX PORT [PIN...] : checks $PREFIX/nginx.conf, runs nginx in the foreground
run_nginx() {
    local name=$1 prefix=$2 port=$3 nginx; shift 3
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    "$nginx" -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        2>"$WORK/$name.log" || die "$name: nginx -t failed: $(cat "$WORK/$name.log")"
    "$@" "$nginx" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" 2>>"$WORK/$name.log" &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listening "$port" "$STARTED_PID" "$name"
}

# ---------------------------------------------------------------- channel tables
# The one channel serving the benchmark model ($MODEL) looks the same in both tables.
bench_channel() {  # bench_channel URL
    printf '{"name": "bench", "protocol": "anthropic", "url": "%s", "api_key": "sk-bench-0000", "priority": 10, "models": ["%s", "claude-opus-4-1", "claude-haiku-4-5"]}' "$1" "$MODEL"
}
write_channels_1() {  # write_channels_1 FILE URL
    printf '[\n  %s\n]\n' "$(bench_channel "$2")" >"$1"
}
# 1,000 channels as a big shared table looks: 999 channels for other models (three models
# each, from a pool of 333 names) of all four protocols at ten priorities, and the one that
# serves the benchmark model, last in the file. Every URL is the benchmark's upstream.
write_channels_1k() {  # write_channels_1k FILE URL
    local protos=(anthropic openai codex gemini) i m
    {
        echo "["
        for i in $(seq 1 999); do
            m=$(( i % 333 ))
            printf '  {"name": "other-%03d", "protocol": "%s", "url": "%s", "api_key": "sk-other-%03d", "priority": %d, "models": ["other-%d-a", "other-%d-b", "other-%d-c"]},\n' \
                "$i" "${protos[i % 4]}" "$2" "$i" $(( (i % 10) * 10 )) "$m" "$m" "$m"
        done
        printf '  %s\n]\n' "$(bench_channel "$2")"
    } >"$1"
}

# ---------------------------------------------------------------- wrk
write_wrk_post() {  # write_wrk_post FILE TOKEN BODY : a wrk script POSTing BODY as JSON with the client token
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["x-api-key"] = "%s"\nwrk.body = [[%s]]\n' \
        "$2" "$3" >"$1"
}

# ---------------------------------------------------------------- figures
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# med LABEL JQPATH -> median over the JSON lines of $RESULTS with that label (lower middle when even)
med() {
    jq -s -r --arg l "$1" "map(select(.label == \$l) | $2 | select(. != null)) | sort
        | if length == 0 then \"-\" else .[(length - 1) / 2 | floor] end" "$RESULTS"
}
errs() { jq -s -r --arg l "$1" 'map(select(.label == $l) | .errors.total) | add // 0' "$RESULTS"; }
ratio() {  # ratio A B [DIGITS=2]
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf("%." d "f", a / b) }'
}
