//! The demo and the examples of this workspace (`cargo run --bin demo`; one binary per example
//! under `src/bin/`). The demo's services live in [`demo`] so that a test can run its scenario;
//! [`greeter`] is the gRPC example's service.

pub mod demo;
pub mod greeter;
pub mod w3c;
