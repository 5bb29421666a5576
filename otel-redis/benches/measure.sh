#!/usr/bin/env bash
# Instructions (callgrind) and allocations per command, bare vs traced, against REDIS_URL.
# Usage: otel-redis/benches/measure.sh [commands]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
cargo bench -p otel-redis --bench redis_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/redis_overhead-* | grep -v '\.d$' | head -1)
instructions() { # mode count
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
for mode in bare sampled unsampled; do
    zero=$(instructions "$mode" 0)
    full=$(instructions "$mode" "$n")
    per[$mode]=$(( (full - zero) / n ))
    allocs=$("$bin" "$mode" "$n" | sed -n 's/.*allocations\/command=\([0-9.]*\).*/\1/p')
    echo "$mode: ${per[$mode]} instructions/command, $allocs allocations/command"
done
echo "added sampled:   $(( per[sampled] - per[bare] )) instructions/command"
echo "added unsampled: $(( per[unsampled] - per[bare] )) instructions/command"
