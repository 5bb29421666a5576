#!/usr/bin/env bash
# Instructions (callgrind) and allocations per query, bare pool vs TracedPool (without and with
# metrics), in-memory SQLite.
# Usage: otel-sqlx/benches/measure.sh [queries] [runs]
# Each mode is run `runs` times (default 5) and the median is taken. Two things move a run's
# count that are not the code measured:
# - SQLite answers on a worker thread. With two CPUs, how the two threads hand over under
#   valgrind depends on the machine's load (an idle machine adds ~6,700 instructions per query to
#   every mode): everything runs on one CPU (`taskset`, when there is one).
# - glibc's malloc costs about 300 instructions per query more in some heap layouts than in
#   others (the statement's arguments are freed on SQLite's thread; whether that chunk merges
#   with a free neighbour decides). The layout moves with what start-up allocates, down to the
#   length of the program's path, and with timing: each run goes through a path of another
#   length, with its own zero-query run, so the median is taken over layouts, not one draw (it
#   can still land on either side when a mode is in the costly layout about half the time).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
runs=${2:-5}
cargo bench -p otel-sqlx --bench sqlx_overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/sqlx_overhead-* | grep -v '\.d$' | head -1)
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c "$(taskset -cp $$ | sed 's/.*: //; s/[-,].*//')"); fi
paths=$(mktemp -d)
trap 'rm -rf "$paths"' EXIT
instructions() { # path mode count
    "${pin[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
for mode in bare sampled unsampled commenter sampled-metrics unsampled-metrics; do
    path="$paths/b"
    per[$mode]=$(for _ in $(seq "$runs"); do
        path="${path}x"
        ln -sf "$PWD/$bin" "$path"
        zero=$(instructions "$path" "$mode" 0)
        full=$(instructions "$path" "$mode" "$n")
        echo $(( (full - zero) / n ))
    done | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    allocs=$("${pin[@]}" "$bin" "$mode" "$n" | sed -n 's/.*allocations\/query=\([0-9.]*\).*/\1/p')
    echo "$mode: ${per[$mode]} instructions/query, $allocs allocations/query"
done
echo "added sampled:   $(( per[sampled] - per[bare] )) instructions/query"
echo "added unsampled: $(( per[unsampled] - per[bare] )) instructions/query"
echo "added sqlcommenter (sampled): $(( per[commenter] - per[bare] )) instructions/query"
echo "added metrics (sampled):   $(( per[sampled-metrics] - per[sampled] )) instructions/query"
echo "added metrics (unsampled): $(( per[unsampled-metrics] - per[unsampled] )) instructions/query"
