#!/usr/bin/env bash
# A new project outside the workspace, made as a user would from the README's "Getting started":
# its `[dependencies]` block as is, its example as `src/main.rs`, and the crates taken from
# `target/package/` (what `cargo package` made) in place of crates.io. It must build, serve two
# requests against the real PostgreSQL, Redis and Kafka (scripts/services.sh start), and print
# their traces: the server span with the Redis, SQL and Kafka spans of the handler.
# Usage: scripts/outside-project.sh (after `cargo package --workspace`; scripts/packages.sh runs both)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
project=target/outside-project
version=$(cargo metadata --format-version 1 --no-deps --locked \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0]["version"])')

# The README's first ```toml and ```rust(,no_run) blocks under "## Getting started".
readme_block() { # language
    awk -v lang="$1" '
        /^## / { inside = ($0 == "## Getting started") }
        inside && !done && index($0, "```" lang) == 1 { grab = 1; next }
        grab && $0 == "```" { grab = 0; done = 1 }
        grab { print }' README.md
}

rm -rf "$project"
mkdir -p "$project/src"
{
    printf '[package]\nname = "readme-example"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n'
    printf '# Its own workspace, not the one it sits in.\n[workspace]\n\n'
    readme_block toml
    printf '\n# The packaged crates, as if they came from crates.io.\n[patch.crates-io]\n'
    for crate in otel-core otel-tower otel-actix otel-reqwest otel-redis otel-sqlx otel-kafka; do
        dir="$root/target/package/$crate-$version"
        [ -f "$dir/Cargo.toml" ] || { echo "missing $dir: run cargo package --workspace first" >&2; exit 1; }
        printf '%s = { path = "%s" }\n' "$crate" "$dir"
    done
} >"$project/Cargo.toml"
readme_block rust >"$project/src/main.rs"
grep -q '^\[dependencies\]' "$project/Cargo.toml" && [ -s "$project/src/main.rs" ] \
    || { echo "README.md: no toml and rust blocks under '## Getting started'" >&2; exit 1; }
# The versions the workspace is tested with (cargo adds any the README's features need).
cp Cargo.lock "$project/"

echo "building $project (its dependencies: the README's block; the otel crates: target/package)"
CARGO_TARGET_DIR="$root/target" cargo build --quiet --manifest-path "$project/Cargo.toml"

echo "running it: two requests for user 1 (a cache miss, then a hit)"
redis-cli -h 127.0.0.1 DEL user:1:name >/dev/null
# The test broker (tansu) creates no topic on first use, as a Kafka cluster may.
tansu=$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")
"$tansu" topic create user-lookups --partitions 1 --broker tcp://127.0.0.1:9092 >/dev/null 2>&1 || true
log="$project/run.log"
OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none NO_COLOR=1 \
    "$root/target/debug/readme-example" >"$log" 2>&1 &
service=$!
request() {
    for _ in $(seq 1 100); do
        if { exec 3<>/dev/tcp/127.0.0.1/3000; } 2>/dev/null; then
            printf 'GET /users/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
            cat <&3
            exec 3<&-
            return 0
        fi
        sleep 0.2
    done
    echo "the example did not listen on 127.0.0.1:3000; its output:" >&2
    cat "$log" >&2
    return 1
}
first=$(request) && second=$(request) || { kill "$service" 2>/dev/null; exit 1; }
kill -INT "$service"
status=0
wait "$service" || status=$?

fail() { echo "$*; the example's output:" >&2; cat "$log" >&2; exit 1; }
[ "$status" -eq 0 ] || fail "the example exited with $status after Ctrl-C"
for response in "$first" "$second"; do
    grep -q '^HTTP/1.1 200' <<<"$response" || fail "a request failed: $response"
done
# One trace per request (the waterfall indents a child under its parent): the server span, and
# under it the cache read, then on the miss the query and the cache fill, and the send.
[ "$(grep -cF 'readme-example  GET /users/{id} ' "$log")" -eq 2 ] || fail "expected two server spans"
for span in 'GET' 'SELECT users' 'SETEX' 'send user-lookups'; do
    grep -qF "readme-example    $span " "$log" || fail "no '$span' span under the server span"
done
echo "ok: the README's example built from the packaged crates and traced both requests"
