#!/usr/bin/env bash
# The publishable crates as a user gets them: each crate built alone with each of its features,
# the docs as docs.rs builds them, the packages cargo would publish (each built from its packaged
# form), and a new project outside the workspace that depends on those packages as the README
# says and runs the README's example. `scripts/test.sh` runs it after the services are started.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rust-version: no dependency needs a newer compiler than the crates declare"
python3 scripts/packages.py msrv

step "each crate alone: its default features, none, and each feature alone"
python3 scripts/packages.py builds | while read -r args; do
    echo "cargo clippy $args"
    # shellcheck disable=SC2086 # the arguments are split on purpose
    cargo clippy $args --locked --quiet -- -D warnings </dev/null
done

step "docs as docs.rs builds them: every feature-gated item notes its feature"
# docs.rs builds with a nightly compiler; RUSTC_BOOTSTRAP lets this stable one take `doc_cfg`.
rm -rf target/doc/otel_*
python3 scripts/packages.py docsrs | while read -r args; do
    # shellcheck disable=SC2086
    RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo doc $args --no-deps --locked --quiet </dev/null
done
python3 scripts/packages.py doc-notes target/doc

step "cargo package --workspace (every crate built from its packaged form)"
# --allow-dirty: a developer runs this with changes not yet committed; CI from a clean checkout.
cargo package --workspace --exclude otel-examples --exclude otel-e2e --locked --allow-dirty

step "a new project that depends on the packages as the README says"
bash scripts/outside-project.sh
