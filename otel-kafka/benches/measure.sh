#!/usr/bin/env bash
# Instructions (callgrind) and allocations per message, bare vs traced, against KAFKA_BROKERS,
# then throughput (bare and traced alternating in one process).
# Usage: otel-kafka/benches/measure.sh [messages for callgrind] [messages for throughput]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
t=${2:-10000}
cargo bench -p otel-kafka --bench kafka_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/kafka_overhead-* | grep -v '\.d$' | head -1)
instructions() { # mode count [produce]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A produce both
for mode in bare bare-header sampled unsampled; do
    zero=$(instructions "$mode" 0 produce)
    produce[$mode]=$(( ($(instructions "$mode" "$n" produce) - zero) / n ))
    both[$mode]=$(( ($(instructions "$mode" "$n") - zero) / n ))
    line=$("$bin" "$mode" "$t")
    echo "$mode: ${produce[$mode]} instructions/produced message, ${both[$mode]} produced+consumed; $line"
done
for mode in bare-header sampled unsampled; do
    echo "added $mode: $(( produce[$mode] - produce[bare] )) instructions/produced message," \
        "$(( both[$mode] - both[bare] )) produced+consumed"
done
"$bin" throughput "$t"
