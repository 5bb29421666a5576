#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers on the request path (issue 27): runs every cargo-fuzz
# target of fuzz/ for the given time each (default 60 s), then prints per target the executions
# and the coverage libFuzzer reached. Not part of CI (`scripts/test.sh` does not call it).
#
#   scripts/fuzz.sh [seconds] [target...]
#   FUZZ_SANITIZER=none scripts/fuzz.sh 600 sql   # no AddressSanitizer: faster, for safe code
#
# Corpora grow in fuzz/corpus/<target> and are reused by the next run; a crash stops its target,
# leaves the input in fuzz/artifacts/<target>/ and makes the script exit non-zero (replay it in
# fuzz/ with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`). Neither directory is committed
# (fuzz/.gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
case $seconds in
    '' | *[!0-9]*)
        echo "usage: scripts/fuzz.sh [seconds] [target...]" >&2
        exit 2
        ;;
esac

# cargo-fuzz needs nightly compiler flags (-Zsanitizer=address, the sanitizer-coverage options);
# the toolchain here is stable, and RUSTC_BOOTSTRAP=1 lets it accept them.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd fuzz
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# cargo-fuzz's default build: optimized, with debug assertions and overflow checks, and
# AddressSanitizer (otel-core's SSE2 hex parser and otel-kafka's reads of librdkafka's headers are
# unsafe code). Another sanitizer builds in a target dir of its own, so the two builds coexist.
sanitizer=${FUZZ_SANITIZER:-address}
flags=(--sanitizer "$sanitizer")
if [[ $sanitizer != address ]]; then
    flags+=(--target-dir "target/sanitizer-$sanitizer")
fi
for target in "${targets[@]}"; do
    cargo fuzz build "${flags[@]}" "$target"
done
mkdir -p artifacts/logs

failed=()
summary=()
for target in "${targets[@]}"; do
    printf '\n==> %s (%s s)\n' "$target" "$seconds"
    log=artifacts/logs/$target.log
    mkdir -p "corpus/$target"
    # Bounded inputs and memory: 4 KiB per input, 2 GiB per process.
    if cargo fuzz run "${flags[@]}" "$target" -- \
        -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$target")
        tail -n 40 "$log"
    fi
    # libFuzzer's final stats (-print_final_stats=1): `stat::number_of_executed_units: N`.
    execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$log" | tail -n 1)
    rate=$(awk '/stat::average_exec_per_sec/ { print $NF }' "$log" | tail -n 1)
    # The last status line: `#N  DONE|pulse|NEW  cov: C ft: F corp: ...`.
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1)
    summary+=("$(printf '%-15s %-6s execs=%-10s exec/s=%-7s %s' "$target" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}")")
done

printf '\n==> summary (%s s per target, sanitizer %s; logs in fuzz/artifacts/logs)\n' "$seconds" "$sanitizer"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    printf '\ncrashed: %s (inputs in fuzz/artifacts/<target>/)\n' "${failed[*]}" >&2
    exit 1
fi
