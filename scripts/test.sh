#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, starts the services the
# tests need, then runs formatting, lints, docs and every test, and checks the crates as they would
# be published (scripts/packages.sh). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
if ! command -v cargo >/dev/null; then
    echo "cargo is not installed: install Rust with rustup (https://rustup.rs), then run this again." >&2
    exit 1
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
cargo --version

step "services (Redis, PostgreSQL, MariaDB, Kafka)"
bash scripts/services.sh start

step "one version of opentelemetry, http 1, hyper and tokio"
# `--depth 0` lists the packages in more than one copy; a package can appear twice in one version
# (built for the host and for the target), so count distinct versions per name.
versions=$(cargo tree --workspace --all-features --duplicates --depth 0 --prefix none --format '{p}' --locked \
    | awk 'NF { print $1, $2 }' | sort -u)
second=$( { printf '%s\n' "$versions" | awk '$1 ~ /^(opentelemetry|hyper|tokio)$/ { print $1 }'
            printf '%s\n' "$versions" | awk '$1 == "http" && $2 ~ /^v1\./ { print "http-1" }'; } | sort | uniq -d)
if [ -n "$second" ]; then
    echo "second versions in the dependency tree (cargo tree -d): $second" >&2
    printf '%s\n' "$versions" >&2
    exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked

step "cargo test"
cargo test --workspace --all-features --locked

step "the crates as published (scripts/packages.sh)"
bash scripts/packages.sh
