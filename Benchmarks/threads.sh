#!/usr/bin/env bash
# Benchmarks/threads.sh BIN_DIR [CASE...]
#
# Where a pinned ccload's core goes, thread by thread. ccload (one reactor thread) runs alone
# on CPU 1; nginx's static 1 KiB answer (Benchmarks/nginx-static.conf.template) and wrk run on
# CPU 0. For each case, after a 2 s warm-up, wrk drives SECS seconds of closed-loop load
# (CONNS keep-alive connections, POST /v1/messages with a client token) and the script reads,
# per thread of ccload, the CPU time used (/proc/PID/task/TID/stat) and the voluntary and
# involuntary context switches (.../status) over exactly that window, and the system calls
# that tell a lock wait from a sleep (perf's futex and epoll_wait tracepoints, when perf can
# read them). Rows are by thread id (every ccload thread is named "ccload"): the one with
# epoll_wait calls and most of the CPU is the reactor, the one that used CPU without them is
# the store writer; threads with no CPU and no switches in the window are left out.
#
# It answers "is the log-on tail the writer taking the core, or the reactor waiting on a
# lock?": involuntary switches of the reactor are preemptions; futex calls by the reactor
# are its wake-ups of the writer (one per full batch) or waits on a lock.
#
# CASE is NAME or NAME:ENV=V,ENV=V (default: "log" and "nolog:CCLOAD_REQUEST_LOG=0").
# Knobs: SECS (6), CONNS (64), ROUNDS (1). Needs wrk and nginx; perf is optional. Every
# process is stopped on exit; every wait is bounded.
set -euo pipefail
BENCH_NAME=threads.sh
MODEL=bench-json
source "$(dirname "$0")/lib.sh"
(( $# >= 1 )) || die "usage: $0 BIN_DIR [NAME[:ENV=V,...]...]"
BIN=$(cd "$1" && pwd); shift
[[ -x $BIN/ccload ]] || die "no ccload in $BIN"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install -y wrk)"
(( $# > 0 )) || set -- log nolog:CCLOAD_REQUEST_LOG=0
SECS=${SECS:-6}; CONNS=${CONNS:-64}; ROUNDS=${ROUNDS:-1}
PERF=0
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_futex -- true >/dev/null 2>&1; then PERF=1; fi

bench_workdir ccload-threads
NG=$(free_port)
start_nginx_static nginx "$NG" 1 1024 taskset -c 0
write_channels_1 "$WORK/channels.json" "http://127.0.0.1:$NG/json"
TOKEN=threads-token-0123456789
write_wrk_post "$WORK/post.lua" "$TOKEN" '{"model":"'"$MODEL"'","max_tokens":16,"stream":false,"messages":[{"role":"user","content":"hello"}]}'

# snap PID -> "TID cpu_ticks voluntary involuntary" per thread
snap() {
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s %s\n' "${t##*/}" "$(awk '{print $14 + $15}' "$t/stat")" \
            "$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' "$t/status")"
    done 2>/dev/null
}

hz=$(getconf CLK_TCK)
printf '| round | case | req/s | p50 | p99 | thread | CPU %% of the window | voluntary switches | involuntary switches | futex calls | epoll_wait calls |\n'
printf '|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n'
for round in $(seq 1 "$ROUNDS"); do
    for c in "$@"; do
        name=${c%%:*}; env=()
        [[ $c == *:* ]] && IFS=, read -ra env <<<"${c#*:}"
        port=$(free_port)
        env PORT="$port" CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=1 SQLITE_PATH="$WORK/$name.$round.db" \
            CCLOAD_AUTH="$TOKEN" CCLOAD_CHANNELS_FILE="$WORK/channels.json" "${env[@]}" \
            taskset -c 1 "$BIN/ccload" >"$WORK/ccload.$name.log" 2>&1 &
        pid=$!; PIDS+=("$pid")
        for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
        taskset -c 0 timeout 20 wrk -t1 -c"$CONNS" -d2s -s "$WORK/post.lua" "http://127.0.0.1:$port/v1/messages" >/dev/null 2>&1 || true
        snap "$pid" >"$WORK/before"
        perf_pid=
        if [[ $PERF == 1 ]]; then
            perf stat -x, --per-thread -e syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait -p "$pid" \
                -o "$WORK/perf.$name" -- sleep "$SECS" >/dev/null 2>&1 &
            perf_pid=$!
        fi
        out=$(taskset -c 0 timeout $((SECS + 20)) wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/post.lua" \
            "http://127.0.0.1:$port/v1/messages" 2>&1 || true)
        snap "$pid" >"$WORK/after"
        [[ -n $perf_pid ]] && { wait "$perf_pid" 2>/dev/null || true; }
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        [[ -n $rps ]] || die "$name: wrk gave no result ($(tail -2 <<<"$out" | tr '\n' ' '))"
        # perf -x, --per-thread lines: "comm-TID,count,,event,..."
        join <(sort "$WORK/before") <(sort "$WORK/after") | while read -r tid c0 v0 n0 c1 v1 n1; do
            (( c1 - c0 + v1 - v0 + n1 - n0 > 0 )) || continue
            fx=-; ep=-
            if [[ -f $WORK/perf.$name ]]; then
                fx=$(awk -F, -v t="$tid" '$1 ~ ("-" t "$") && $4 ~ /futex/ {print $2}' "$WORK/perf.$name")
                ep=$(awk -F, -v t="$tid" '$1 ~ ("-" t "$") && $4 ~ /epoll_wait/ {print $2}' "$WORK/perf.$name")
                [[ $fx =~ ^[0-9]+$ ]] || fx=0; [[ $ep =~ ^[0-9]+$ ]] || ep=0
            fi
            printf '| %d | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s |\n' "$round" "$name" "$rps" "$p50" "$p99" "$tid" \
                "$(awk -v c=$((c1 - c0)) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.0f", 100 * c / hz / s}')" \
                $((v1 - v0)) $((n1 - n0)) "$fx" "$ep"
        done
        stop_pids "$pid"
    done
done
