#!/usr/bin/env bash
# Instructions (callgrind) and allocations per message, bare vs traced, against KAFKA_BROKERS,
# then throughput (bare and traced alternating in one process).
# Usage: otel-kafka/benches/measure.sh [messages for callgrind] [messages for throughput] [repeats]
# Instructions are those of every thread but librdkafka's main threads: their work is metadata
# (each response lists every topic of the broker, so it grows as benchmark topics pile up, and the
# number of refreshes varies from run to run), not messages. Each count is the median of `repeats`
# (default 3) runs of N messages minus 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
t=${2:-10000}
reps=${3:-3}
cargo bench -p otel-kafka --bench kafka_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/kafka_overhead-* | grep -v '\.d$' | head -1)
instructions() { # mode count [produce]
    local dir total=0
    dir=$(mktemp -d)
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/out" "$bin" "$@" >/dev/null 2>&1
    for file in "$dir"/out-*; do
        if grep -q rd_kafka_thread_main "$file" && ! grep -q rd_kafka_broker_thread_main "$file"; then
            continue
        fi
        total=$(( total + $(sed -n 's/^summary: //p' "$file") ))
    done
    rm -rf "$dir"
    echo "$total"
}
median() { sort -n | sed -n "$(( (reps + 1) / 2 ))p"; }
declare -A produce both
for mode in bare bare-header sampled unsampled sampled-metrics unsampled-metrics; do
    runs=$(for _ in $(seq "$reps"); do
        zero=$(instructions "$mode" 0 produce)
        echo "$(( ($(instructions "$mode" "$n" produce) - zero) / n )) $(( ($(instructions "$mode" "$n") - zero) / n ))"
    done)
    produce[$mode]=$(cut -d' ' -f1 <<<"$runs" | median)
    both[$mode]=$(cut -d' ' -f2 <<<"$runs" | median)
    line=$("$bin" "$mode" "$t")
    echo "$mode: ${produce[$mode]} instructions/produced message, ${both[$mode]} produced+consumed; $line"
done
for mode in bare-header sampled unsampled sampled-metrics unsampled-metrics; do
    echo "added $mode: $(( produce[$mode] - produce[bare] )) instructions/produced message," \
        "$(( both[$mode] - both[bare] )) produced+consumed"
done
# What the metrics add over tracing alone.
for mode in sampled unsampled; do
    echo "metrics over $mode tracing: $(( produce[$mode-metrics] - produce[$mode] )) instructions/produced message," \
        "$(( both[$mode-metrics] - both[$mode] )) produced+consumed," \
        "$(( both[$mode-metrics] - both[$mode] - produce[$mode-metrics] + produce[$mode] )) consumed"
done
"$bin" throughput "$t"
