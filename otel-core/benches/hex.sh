#!/usr/bin/env bash
# Instructions per `traceparent` parse with otel-core's SSE2 hex parser (the default on x86-64)
# and with the portable SWAR one (`--cfg otel_core_swar`): the evidence that the SSE2 path, the
# workspace's only `unsafe`, pays. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-100000}
per_parse() { # target dir, RUSTFLAGS
    RUSTFLAGS="$2" CARGO_TARGET_DIR="$1" cargo build -q --release -p otel-core --bench hex
    local bin
    bin=$(find "$1/release/deps" -maxdepth 1 -type f -executable -name 'hex-*' | head -1)
    count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" 2>&1 | sed -n 's/.*Collected : //p'; }
    echo $(( ($(count "$N") - $(count 0)) / N ))
}
echo "sse2: $(per_parse target "") instructions per parse"
echo "swar: $(per_parse target/swar "--cfg otel_core_swar") instructions per parse"
