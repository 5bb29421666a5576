#!/usr/bin/env bash
# Instructions (callgrind) and heap allocations per request for every scenario of
# benches/overhead.rs, each minus the bare router. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p otel-tower --bench tower_overhead >&2
bin=$(ls -t target/release/deps/tower_overhead-* | grep -v '\.d$' | head -1)
n=${N:-10000}
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | sed -n 's/.*Collected : //p'
}
allocations() { "$bin" "$1" 20000 | sed -n 's/.*: \([0-9.]*\) allocations.*/\1/p'; }
per_request() { echo $(( ($(instructions "$1" "$n") - $(instructions "$1" 0)) / n )); }
base_i=$(per_request bare)
base_a=$(allocations bare)
# A probe sends no `traceparent`: it is compared with the bare router serving the same request.
probe_i=$(per_request bare-probe)
probe_a=$(allocations bare-probe)
printf '%-18s %14s %12s\n' scenario instructions allocations
printf '%-18s %14s %12s\n' bare "$base_i" "$base_a"
printf '%-18s %14s %12s\n' bare-probe "$probe_i" "$probe_a"
for s in noop sampled unsampled sampled-metrics unsampled-metrics unsampled-parent excluded excluded-probe global global-metrics; do
    i=$(per_request "$s")
    a=$(allocations "$s")
    if [ "$s" = excluded-probe ]; then
        printf '%-18s %+14d %+12.1f\n' "$s" $(( i - probe_i )) "$(echo "$a - $probe_a" | bc)"
    else
        printf '%-18s %+14d %+12.1f\n' "$s" $(( i - base_i )) "$(echo "$a - $base_a" | bc)"
    fi
done
