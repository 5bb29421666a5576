#!/usr/bin/env bash
# Instructions (callgrind) and allocations per query, bare pool vs TracedPool (without and with
# metrics), in-memory SQLite.
# Usage: otel-sqlx/benches/measure.sh [queries] [runs]
# SQLite answers on a worker thread, and how the two threads hand over under valgrind moves the
# calling thread's count by a few thousand instructions per query from run to run: each mode is
# run `runs` times (default 5) and the median is taken.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
runs=${2:-5}
cargo bench -p otel-sqlx --bench sqlx_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/sqlx_overhead-* | grep -v '\.d$' | head -1)
instructions() { # mode count
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
for mode in bare sampled unsampled commenter sampled-metrics unsampled-metrics; do
    zero=$(instructions "$mode" 0)
    full=$(for _ in $(seq "$runs"); do instructions "$mode" "$n"; done | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    per[$mode]=$(( (full - zero) / n ))
    allocs=$("$bin" "$mode" "$n" | sed -n 's/.*allocations\/query=\([0-9.]*\).*/\1/p')
    echo "$mode: ${per[$mode]} instructions/query, $allocs allocations/query"
done
echo "added sampled:   $(( per[sampled] - per[bare] )) instructions/query"
echo "added unsampled: $(( per[unsampled] - per[bare] )) instructions/query"
echo "added sqlcommenter (sampled): $(( per[commenter] - per[bare] )) instructions/query"
echo "added metrics (sampled):   $(( per[sampled-metrics] - per[sampled] )) instructions/query"
echo "added metrics (unsampled): $(( per[unsampled-metrics] - per[unsampled] )) instructions/query"
