#!/usr/bin/env bash
# Benchmarks/admin-bench.sh [--quick]
#
# The admin side (issue 6), on 127.0.0.1 only, in one run:
#   1. ccload-seed fills a database with REQUESTS request records over 30 days (default
#      1,000,000), 20 channels in front of the mock upstream, and 10 client tokens.
#   2. ccload (release) serves that database; each admin API call the web UI makes is timed
#      (median of 15 with curl) against it.
#   3. Every web page's first contentful paint, and the moment its data is on screen, in
#      headless Chromium (median of LOADS fresh loads): Benchmarks/admin/first_paint.py.
#   4. Proxy throughput (1 KiB JSON through the relay, closed loop, 64 connections) with
#      and without the dashboard polled every second, REPS times interleaved
#      (off, replay, replay-all, browser, off, ...): "replay" makes the dashboard page's API
#      calls on its schedule from a small Python client, "replay-all" makes all of them every
#      second, "browser" leaves headless Chromium on the dashboard page. Medians and ratios are printed, with a markdown table for RESULTS.md.
#
# Knobs: BENCH_SCRATCH (default .build), BENCH_SKIP_BUILD=1, REQUESTS, BENCH_THREADS.
# Every wait is bounded; every process started here is stopped on exit.
set -euo pipefail
QUICK=0
[[ ${1:-} == --quick ]] && QUICK=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCRATCH=${BENCH_SCRATCH:-.build}
THREADS=${BENCH_THREADS:-$(nproc)}
REQUESTS=${REQUESTS:-1000000}
if [[ $QUICK == 1 ]]; then REPS=1; SECS=4; LOADS=2; else REPS=7; SECS=6; LOADS=5; fi
PASS="bench-admin-$RANDOM$RANDOM"
log() { printf '%s\n' "$*" >&2; }
die() { log "admin-bench.sh: $*"; exit 1; }

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building (release)"
    swift build -c release --scratch-path "$SCRATCH" >/dev/null 2>&1 || die "swift build failed"
fi
BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
for b in ccload ccload-mock ccload-loadgen ccload-seed; do [[ -x $BIN/$b ]] || die "$BIN/$b not built"; done
command -v chromedriver >/dev/null || die "chromedriver missing (apt-get install chromium chromium-driver)"
python3 -c 'import selenium' 2>/dev/null || die "selenium missing (pip install selenium)"

WORK=$(mktemp -d /tmp/ccload-admin-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT PID NAME
    for _ in $(seq 1 200); do
        kill -0 "$2" 2>/dev/null || die "$3 exited early"
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "$3 did not listen on $1 within 10 s"
}

MOCK_PORT=$(free_port)
"$BIN/ccload-mock" --port "$MOCK_PORT" --threads "$THREADS" >"$WORK/mock.log" 2>&1 &
PIDS+=($!); wait_port "$MOCK_PORT" "${PIDS[-1]}" mock

log "seeding $REQUESTS request records"
SEED_OUT=$("$BIN/ccload-seed" --db "$WORK/admin.db" --requests "$REQUESTS" --upstream "http://127.0.0.1:$MOCK_PORT" \
    --token-file "$WORK/token")
log "$SEED_OUT"
TOKEN=$(cat "$WORK/token")

PORT=$(free_port)
PORT=$PORT CCLOAD_LISTEN=127.0.0.1 CCLOAD_THREADS=$THREADS CCLOAD_PASS=$PASS SQLITE_PATH="$WORK/admin.db" \
    "$BIN/ccload" >"$WORK/ccload.out" 2>"$WORK/ccload.log" &
CCLOAD_PID=$!; PIDS+=($CCLOAD_PID); wait_port "$PORT" "$CCLOAD_PID" ccload
BASE="http://127.0.0.1:$PORT"
SESSION=$(curl -sf -X POST "$BASE/login" -H 'content-type: application/json' -d "{\"password\":\"$PASS\"}" | jq -r .token)
[[ -n $SESSION && $SESSION != null ]] || die "login failed"

# ---------------------------------------------------------------- 2. API latency
NOW_MS=$(( $(date +%s) * 1000 ))
DAY_MS=86400000
CALLS=(
    "/public/summary"
    "/admin/trends?range=24h"
    "/admin/trends?range=7d"
    "/admin/trends?range=30d"
    "/admin/active-requests"
    "/admin/metrics"
    "/admin/channels"
    "/admin/tokens"
    "/admin/settings"
    "/admin/logs?limit=100"
    "/admin/logs?limit=100&status_class=5xx"
    "/admin/logs?limit=100&model=gpt-5"
    "/admin/stats?by=channel&from_ms=$((NOW_MS - DAY_MS))&to_ms=$NOW_MS"
    "/admin/stats?by=model&from_ms=$((NOW_MS - 7 * DAY_MS))&to_ms=$NOW_MS"
    "/admin/stats?by=token&from_ms=$((NOW_MS - 30 * DAY_MS))&to_ms=$NOW_MS"
)
declare -A API_MS
for c in "${CALLS[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SESSION" "$BASE$c")
    [[ $code == 200 ]] || log "warning: $c answered $code"
    ts=()
    for _ in $(seq 1 15); do
        ts+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $SESSION" "$BASE$c")")
    done
    API_MS[$c]=$(printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}')
    log "  $c: ${API_MS[$c]} ms (HTTP $code)"
done

# ---------------------------------------------------------------- 3. first paint
log "first paint, $LOADS loads per page"
FP=$(timeout 600 python3 Benchmarks/admin/first_paint.py --base "$BASE" --password "$PASS" --loads "$LOADS")
log "$FP"

# ---------------------------------------------------------------- 4. throughput while polled
run_load() {  # run_load LABEL -> prints req/s
    "$BIN/ccload-loadgen" --url "$BASE/v1/messages" --body-size 1024 --header "x-api-key: $TOKEN" \
        --connections 64 --threads "$THREADS" --duration "$SECS" --warmup 1 --json --label "$1" 2>>"$WORK/loadgen.err" \
        | jq -r '.requests_per_second // .rps // empty'
}
declare -A RPS_LIST=([off]="" [replay]="" [replay-all]="" [browser]="")
# Paired: each polled run divided by the unpolled run of the same round (the machine's
# load drifts between rounds more than polling could move the figure).
declare -A PAIRED=([replay]="" [replay-all]="" [browser]="")
for rep in $(seq 1 "$REPS"); do
    for mode in off replay replay-all browser; do
        POLL_PID=""
        if [[ $mode != off ]]; then
            python3 Benchmarks/admin/poll_dashboard.py --base "$BASE" --password "$PASS" --mode "$mode" \
                --seconds $((SECS + 30)) >"$WORK/poll-$mode-$rep.json" 2>"$WORK/poll-$mode-$rep.err" &
            POLL_PID=$!; PIDS+=($POLL_PID)
            sleep 3   # the poller is logged in and polling (the browser has loaded the page)
        fi
        r=$(run_load "$mode")
        [[ -n $POLL_PID ]] && { kill "$POLL_PID" 2>/dev/null || true; wait "$POLL_PID" 2>/dev/null || true; }
        log "  rep $rep $mode: $r req/s $( [[ -n $POLL_PID ]] && cat "$WORK/poll-$mode-$rep.json" 2>/dev/null)"
        RPS_LIST[$mode]+="$r "
        if [[ $mode == off ]]; then round_off=$r; else
            PAIRED[$mode]+="$(awk -v a="$r" -v b="$round_off" 'BEGIN { if (b > 0) printf "%.4f", a / b }') "
        fi
    done
done
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.0f", a[int((NR+1)/2)]; else print "-"}'; }
median3() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.3f", a[int((NR+1)/2)]; else print "-"}'; }
OFF=$(median "${RPS_LIST[off]}"); REPLAY=$(median "${RPS_LIST[replay]}"); BROWSER=$(median "${RPS_LIST[browser]}")
REPLAY_ALL=$(median "${RPS_LIST[replay-all]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

echo
echo "## Admin side (issue 6): $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD), $REQUESTS logged requests"
echo
echo "| admin API call (1 M-request database) | median ms |"
echo "|---|---|"
for c in "${CALLS[@]}"; do echo "| \`${c//$NOW_MS/NOW}\` | ${API_MS[$c]} |"; done
echo
echo "| page | first contentful paint, median ms | data on screen, median ms |"
echo "|---|---|---|"
echo "$FP" | jq -r 'to_entries[] | "| \(.key) | \(.value.fcp_ms) | \(.value.ready_ms // "-") |"'
echo
echo "| proxy throughput, 1 KiB JSON via the relay ($REPS rounds) | median req/s | ratio of medians | median of per-round ratios |"
echo "|---|---|---|---|"
echo "| no admin traffic | $OFF | 1.000 | 1.000 |"
echo "| the dashboard's API calls on its schedule (active requests 1 s, stats/trend/channels 15 s) | $REPLAY | $(ratio "$REPLAY" "$OFF") | $(median3 "${PAIRED[replay]}") |"
echo "| all four dashboard calls every 1 s | $REPLAY_ALL | $(ratio "$REPLAY_ALL" "$OFF") | $(median3 "${PAIRED[replay-all]}") |"
echo "| headless Chromium on the dashboard | $BROWSER | $(ratio "$BROWSER" "$OFF") | $(median3 "${PAIRED[browser]}") |"
echo
echo "runs (req/s): off: ${RPS_LIST[off]}; replay: ${RPS_LIST[replay]}; replay-all: ${RPS_LIST[replay-all]}; browser: ${RPS_LIST[browser]}"
