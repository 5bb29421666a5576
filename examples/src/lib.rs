//! The demo and the examples of this workspace (`cargo run --bin demo`; one binary per example
//! under `src/bin/`). The demo's services live in [`demo`] so that a test can run its scenario.

pub mod demo;
pub mod w3c;
