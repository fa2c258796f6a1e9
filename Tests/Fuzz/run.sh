#!/usr/bin/env bash
# Builds the libFuzzer harnesses (swiftc -sanitize=fuzzer,address) into .build-fuzz/ and runs
# each for a bounded time, one after another, under nice.
#
#   bash Tests/Fuzz/run.sh [seconds-per-harness] [harness...]
#   bash Tests/Fuzz/run.sh 20                      # every harness, 20 s each (the CI pass)
#   bash Tests/Fuzz/run.sh 600 sse_scanner         # one harness, ten minutes
#   FUZZ_RUNS=10000000 bash Tests/Fuzz/run.sh 3600 request_parser   # stop at 10 M executions
#   bash Tests/Fuzz/run.sh build [harness...]      # build only
#   bash Tests/Fuzz/run.sh repro request_parser FILE   # run one input (a crash) and exit
#
# Seeds are read from Tests/Fuzz/corpus/<harness>/ (committed); what a run discovers goes to
# .build-fuzz/corpus/<harness>/, crashes to .build-fuzz/artifacts/<harness>/. Exits non-zero
# when any harness crashed, leaked, timed out or hit the memory limit. Prints one line per
# harness: executions, executions per second, seconds, corpus size, coverage.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz=$root/Tests/Fuzz
out=${FUZZ_BUILD:-$root/.build-fuzz}
mod=$out/mod
all=(request_parser response_parser chunked_decoder sse_scanner json_scan request_scan
     usage_anthropic usage_openai usage_codex usage_gemini reset_hint csv_import channels_file secret_box
     cluster_wire limits_wire log_rows)

# The modules each harness links, and the files and flags it is built from.
modules_of() {
    case $1 in
        request_parser|response_parser|chunked_decoder) echo "Reactor" ;;
        csv_import) echo "Reactor TLS Proxy Admin" ;;
        *) echo "Reactor TLS Proxy" ;;
    esac
}
sources_of() {
    case $1 in
        usage_*) echo "$fuzz/Harnesses/usage_tap.swift" ;;
        *) echo "$fuzz/Harnesses/$1.swift" ;;
    esac
    echo "$fuzz/Support/FuzzInput.swift"
    case $1 in
        request_parser|response_parser) echo "$fuzz/Support/HTTPTranscript.swift" ;;
        chunked_decoder) echo "$fuzz/Support/HTTPTranscript.swift" ;;
        json_scan|request_scan) echo "$fuzz/Support/FoundationJSON.swift" ;;
    esac
}
defines_of() {
    case $1 in
        usage_anthropic) echo "-D USAGE_ANTHROPIC" ;;
        usage_openai) echo "-D USAGE_OPENAI" ;;
        usage_codex) echo "-D USAGE_CODEX" ;;
        usage_gemini) echo "-D USAGE_GEMINI" ;;
    esac
}
# Inputs longer than this are not tried (bodies and streams, not megabytes).
max_len_of() {
    case $1 in
        csv_import|channels_file) echo 2048 ;;
        *) echo 1024 ;;
    esac
}

swiftflags=(-parse-as-library -O -g -sanitize=fuzzer,address -I "$mod" -I "$mod/cepoll" -I "$root/Sources/CPostgres")

# The sources a module's SwiftPM build-tool plugins add, generated here by the same tools:
# Admin's WebFiles.swift from the web UI's files (Plugins/WebEmbedder, which the
# EmbedWebFiles plugin runs for swift build). Prints the generated files' paths.
generated_of() {
    case $1 in
        Admin)
            local tool=$mod/web-embedder gen=$mod/gen/Admin/WebFiles.swift
            mkdir -p "$mod/gen/Admin"
            if [[ ! -x $tool || $root/Plugins/WebEmbedder/main.swift -nt $tool ]]; then
                echo "fuzz: building web-embedder" >&2
                nice -n 19 swiftc -O "$root/Plugins/WebEmbedder/main.swift" -o "$tool.new" >&2 || return 1
                mv "$tool.new" "$tool"
            fi
            # shellcheck disable=SC2046
            "$tool" "$gen" $(find "$root/Sources/Admin/Web" -maxdepth 1 -type f ! -name '.*' | sort) || return 1
            echo "$gen"
            ;;
    esac
}

build_module() {  # name: compiled with the sanitizers and -enable-testing (@testable import)
    local name=$1 obj=$mod/$1.o generated
    generated=$(generated_of "$name")
    # Rebuilt when any file of the module (sources, the web UI's files) or a generated one changed.
    # shellcheck disable=SC2086
    if [[ -f $obj ]] && [[ -z $(find "$root/Sources/$name" $generated -newer "$obj" -type f -print -quit) ]]; then
        return
    fi
    echo "fuzz: building module $name" >&2
    # shellcheck disable=SC2046,SC2086
    nice -n 19 swiftc "${swiftflags[@]}" -module-name "$name" -wmo -enable-testing -suppress-warnings \
        -emit-module -emit-module-path "$mod/$name.swiftmodule" \
        -c $(find "$root/Sources/$name" -name '*.swift' | sort) $generated -o "$obj" 2> >(grep -v 'warning: Cannot export local symbol' >&2)
}

build_support() {
    mkdir -p "$mod/cepoll"
    cat > "$mod/cepoll/module.modulemap.new" <<MAP
module CEpoll {
    umbrella header "$root/Sources/CEpoll/include/CEpoll.h"
    export *
}
MAP
    if ! cmp -s "$mod/cepoll/module.modulemap.new" "$mod/cepoll/module.modulemap" 2>/dev/null; then
        mv "$mod/cepoll/module.modulemap.new" "$mod/cepoll/module.modulemap"
    else
        rm "$mod/cepoll/module.modulemap.new"
    fi
    if [[ ! -f $mod/shim.o ]] || [[ $root/Sources/CEpoll/shim.c -nt $mod/shim.o ]]; then
        clang -O1 -g -fsanitize=address -c "$root/Sources/CEpoll/shim.c" -I "$root/Sources/CEpoll/include" -o "$mod/shim.o"
    fi
}

build_harness() {
    local h=$1 bin=$out/bin/$1 objs=() m srcs
    for m in $(modules_of "$h"); do build_module "$m"; objs+=("$mod/$m.o"); done
    read -r -a srcs <<< "$(sources_of "$h" | tr '\n' ' ')"
    local newest=0
    for f in "${srcs[@]}" "${objs[@]}"; do [[ $f -nt $bin ]] && newest=1; done
    [[ -f $bin && $newest == 0 ]] && return
    echo "fuzz: building $h" >&2
    mkdir -p "$out/bin"
    # shellcheck disable=SC2046
    nice -n 19 swiftc "${swiftflags[@]}" $(defines_of "$h") -module-name "fuzz_$h" "${srcs[@]}" "${objs[@]}" "$mod/shim.o" \
        -lssl -lcrypto -lsqlite3 -lpq -lz -o "$bin" 2> >(grep -v 'warning: Cannot export local symbol' >&2)
}

export SWIFT_BACKTRACE=enable=no   # let ASan and libFuzzer report, not the Swift backtracer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}

if [[ ${1:-} == build ]]; then
    shift
    [[ $# -eq 0 ]] && set -- "${all[@]}"
    build_support
    for h in "$@"; do build_harness "$h"; done
    exit 0
fi

if [[ ${1:-} == repro ]]; then
    h=$2; shift 2
    build_support; build_harness "$h"
    exec "$out/bin/$h" "$@"
fi

secs=${1:-60}
shift || true
harnesses=("$@")
[[ ${#harnesses[@]} -eq 0 ]] && harnesses=("${all[@]}")

build_support
for h in "${harnesses[@]}"; do build_harness "$h"; done

failed=()
printf '%-18s %12s %9s %7s %7s %7s %7s  %s\n' harness executions exec/s seconds corpus cov ft result
for h in "${harnesses[@]}"; do
    seeds=$fuzz/corpus/$h
    work=$out/corpus/$h
    mkdir -p "$work" "$out/artifacts/$h" "$out/logs"
    log=$out/logs/$h.log
    args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len_of "$h")"
          -print_final_stats=1 -artifact_prefix="$out/artifacts/$h/" -close_fd_mask=1)
    [[ -n ${FUZZ_RUNS:-} ]] && args+=(-runs="$FUZZ_RUNS")
    dict=$fuzz/dict/$h.dict
    [[ -f $dict ]] && args+=(-dict="$dict")
    start=$(date +%s)
    rc=0
    nice -n 19 "$out/bin/$h" "${args[@]}" "$work" "$seeds" > "$log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")
    result=ok
    if [[ $rc -ne 0 ]]; then
        result="FAILED (exit $rc, see $log)"
        failed+=("$h")
        grep -m3 -E 'ERROR|Fatal error|fuzz check failed|SUMMARY|timeout|out-of-memory' "$log" >&2 || true
    fi
    printf '%-18s %12s %9s %7s %7s %7s %7s  %s\n' "$h" "${runs:-?}" "${rate:-?}" "$took" "${corp:-?}" "${cov:-?}" "${ft:-?}" "$result"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
