#!/usr/bin/env bash
# The peers benchmark (issue 8): every case of src/bin/{axum,actix,reqwest,grpc}.rs, measured in one
# run, written to BENCHMARKS.md at the repository root.
#
#   benches/peers/run.sh                  # everything (needs valgrind; wrk for the throughput part)
#   N=5000 PASSES=7 benches/peers/run.sh  # callgrind requests per case, timing passes
#   SMOKE=1 benches/peers/run.sh          # 300 requests per case, span counts only; BENCHMARKS.md untouched
#
# Everything runs under `nice -n 19` (the machine is shared). Per case:
# - allocations and span check: one run of ALLOC_N requests after a warm-up (counting allocator;
#   the exporter must have seen exactly one span per sampled request, each a child of the caller);
# - instructions: valgrind --tool=callgrind with 0 and N requests, (instr(N) - instr(0)) / N;
# - CPU ns per request: PASSES passes of TIME_N requests, median, min and max.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"
N=${N:-5000}
ALLOC_N=${ALLOC_N:-10000}
TIME_N=${TIME_N:-5000}
PASSES=${PASSES:-7}
SMOKE=${SMOKE:-0}
WRK=${WRK:-1}
nice -n 19 cargo build --release --locked 2>&1 | tail -2 >&2
bin="$here/target/release"

axum_cases="bare reference-sampled reference-unsampled ours-sampled ours-unsampled ours-unsampled00 ours-excluded
  otel-instrumentation-tower-sampled otel-instrumentation-tower-unsampled
  axum-tracing-otel-sampled axum-tracing-otel-unsampled tower-http-trace-sampled tower-http-trace-unsampled"
actix_cases="bare reference-sampled reference-unsampled ours-sampled ours-unsampled ours-unsampled00 ours-excluded
  otel-instrumentation-actix-sampled otel-instrumentation-actix-unsampled
  tracing-actix-web-sampled tracing-actix-web-unsampled"
reqwest_cases="plain middleware-only ours-sampled ours-unsampled ours-unsampled00 reqwest-tracing-sampled reqwest-tracing-unsampled"
grpc_cases="bare ours-sampled ours-unsampled ours-unsampled00 ours-http-sampled ours-http-unsampled"

if [ "$SMOKE" = 1 ]; then
    failed=0
    for framework in axum actix reqwest grpc; do
        eval "cases=\$${framework}_cases"
        for case in $cases; do
            nice -n 19 "$bin/$framework" "$case" 300 || { echo "FAILED: $framework $case" >&2; failed=1; }
        done
    done
    exit "$failed"
fi

out="$here/target/results"
rm -rf "$out" && mkdir -p "$out"

render() { python3 "$here/render.py" "$out" "$root/BENCHMARKS.md" "$N" "$ALLOC_N" "$TIME_N" "$PASSES"; }

instructions() { # binary case requests
    local file="$out/cg.$1.$2.$3.out"
    nice -n 19 valgrind --tool=callgrind --callgrind-out-file="$file" "$bin/$1" "$2" "$3" >/dev/null 2>&1 || true
    grep -E '^(summary|totals):' "$file" 2>/dev/null | head -1 | awk '{print $2}'
    rm -f "$file"
}

for framework in axum actix reqwest grpc; do
    eval "cases=\$${framework}_cases"
    for case in $cases; do
        echo "$framework $case" >&2
        nice -n 19 "$bin/$framework" "$case" "$ALLOC_N" >>"$out/$framework.count" \
            || echo "case=$case span_check=FAILED" >>"$out/$framework.count"
        zero=$(instructions "$framework" "$case" 0)
        many=$(instructions "$framework" "$case" "$N")
        if [ -n "$zero" ] && [ -n "$many" ]; then
            echo "case=$case instructions_per_request=$(( (many - zero) / N ))" >>"$out/$framework.instr"
        fi
        nice -n 19 "$bin/$framework" time "$case" "$TIME_N" "$PASSES" >>"$out/$framework.time" || true
        render
    done
done
render

if [ "$WRK" = 1 ] && ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q wrk >&2 || echo "wrk could not be installed: no throughput section" >&2
fi
if [ "$WRK" = 1 ] && command -v wrk >/dev/null; then
    "$here/wrk.sh" "$out" && render
fi
echo "wrote $root/BENCHMARKS.md" >&2
