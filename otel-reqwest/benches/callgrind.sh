#!/usr/bin/env bash
# Instructions the middleware adds per request, client side only.
#
# Runs the `overhead` bench binary under callgrind once with 0 and once with N requests per
# variant (after the same warm-up) and prints (instructions(N) - instructions(0)) / N. The server
# is a child process, which callgrind does not follow (--trace-children=no, the default), so only
# the client process is counted: every thread of it, the span processor's included.
#
#   otel-reqwest/benches/callgrind.sh [N] [RUNS]     (defaults 10000 and 3)
#
# How the client's threads wait for the loopback server (parking, waking the span processor)
# depends on timing, which moves a run's count by up to a thousand instructions per request on a
# loaded machine: each variant is run RUNS times and the median is taken.
set -euo pipefail
cd "$(dirname "$0")/../.."
requests="${1:-10000}"
runs="${2:-3}"
bin=$(cargo bench -p otel-reqwest --bench reqwest_overhead --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*overhead[^"]*"' | tail -1 | cut -d'"' -f4)
out=$(mktemp -d)
instructions() { # variant requests
    valgrind --tool=callgrind --callgrind-out-file="$out/$1-$2.out" "$bin" run "$1" "$2" >/dev/null 2>&1
    grep -E '^(summary|totals):' "$out/$1-$2.out" | head -1 | awk '{print $2}'
}
variants="bare pass-through empty-stack sampled unsampled dropped-by-sampler unsampled-composite sampled-metrics unsampled-metrics"
declare -A per
for variant in $variants; do
    zero=$(instructions "$variant" 0)
    many=$(for _ in $(seq "$runs"); do instructions "$variant" "$requests"; done | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    per[$variant]=$(( (many - zero) / requests ))
done
bare=${per[bare]}
pass=${per[pass-through]}
printf '%-20s %14s %10s %18s\n' variant instr/request "vs bare" "vs pass-through"
for variant in $variants; do
    printf '%-20s %14d %10d %18d\n' "$variant" "${per[$variant]}" \
        $(( ${per[$variant]} - bare )) $(( ${per[$variant]} - pass ))
done
rm -rf "$out"
