#!/usr/bin/env bash
# Instructions (callgrind) and allocations per command, bare vs traced (without and with metrics),
# against REDIS_URL.
# Usage: otel-redis/benches/measure.sh [commands] [repeats]
# Each count is the median of `repeats` (default 3) runs of N commands minus 0: the batch
# processor's thread does its share of the work at moments that vary from run to run.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
reps=${2:-3}
cargo bench -p otel-redis --bench redis_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/redis_overhead-* | grep -v '\.d$' | head -1)
instructions() { # mode count
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
median() { sort -n | sed -n "$(( (reps + 1) / 2 ))p"; }
declare -A per
for mode in bare sampled unsampled bare-keys sampled-keys sampled-metrics unsampled-metrics; do
    zero=$(instructions "$mode" 0)
    per[$mode]=$(for _ in $(seq "$reps"); do echo $(( ($(instructions "$mode" "$n") - zero) / n )); done | median)
    allocs=$("$bin" "$mode" "$n" | sed -n 's/.*allocations\/command=\([0-9.]*\).*/\1/p')
    echo "$mode: ${per[$mode]} instructions/command, $allocs allocations/command"
done
echo "added sampled:   $(( per[sampled] - per[bare] )) instructions/command"
echo "added unsampled: $(( per[unsampled] - per[bare] )) instructions/command"
echo "added sampled, a new key each command: $(( per[sampled-keys] - per[bare-keys] )) instructions/command"
echo "added metrics (sampled):   $(( per[sampled-metrics] - per[sampled] )) instructions/command"
echo "added metrics (unsampled): $(( per[unsampled-metrics] - per[unsampled] )) instructions/command"
