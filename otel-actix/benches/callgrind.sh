#!/usr/bin/env bash
# Instructions per request each mode adds to bare actix-web: (instr(N) - instr(0)) / N under
# callgrind, ours minus bare. Usage: otel-actix/benches/callgrind.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000}
cargo bench -p otel-actix --bench actix_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/actix_overhead-* | grep -v '\.d$' | head -1)
out=$(mktemp -d)
count() { # mode n -> total instructions
    valgrind --tool=callgrind --callgrind-out-file="$out/$1-$2.out" "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_request() { echo $(( ($(count "$1" "$n") - $(count "$1" 0)) / n )); }
bare=$(per_request bare)
bare_plain=$(per_request bare_plain)
echo "instructions per request ($n requests): bare actix-web $bare ($bare_plain without traceparent)"
for mode in sampled unsampled sampled-metrics unsampled-metrics dropped excluded excluded_plain; do
    baseline=$bare
    [[ $mode == *_plain ]] && baseline=$bare_plain
    echo "  $mode: +$(( $(per_request "$mode") - baseline ))"
done
echo "profiles: $out"
