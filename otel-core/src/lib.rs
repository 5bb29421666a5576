//! Shared pieces of the OpenTelemetry instrumentation adapters, organised by who uses them.
//!
//! **For adapters** (every adapter crate of this workspace; a new adapter starts here):
//! - [`server`]: the HTTP server request lifecycle: an adapter describes its request and
//!   response, and the lifecycle starts, attaches and ends the SERVER span and its metrics (with
//!   the RPC conventions for a gRPC call).
//! - [`config`]: the configuration every HTTP adapter shares (URL exclusion, known methods,
//!   header capture, sensitive query parameters, the public-endpoint policy), filled from code
//!   and from the environment.
//! - [`semconv`]: the HTTP semantic-convention rules (method normalization, span names, server
//!   and client addresses, URL redaction, status mapping, header capture) and the RPC ones for
//!   gRPC (method, status codes, which codes are errors on which side).
//! - [`propagation`]: a strict W3C Trace Context propagator, header carriers, and the
//!   propagator choice of an adapter.
//! - [`hooks`]: request hooks, response hooks and span-name formatters, one shape for every
//!   adapter.
//! - [`metrics`]: the metric instruments of the conventions.
//! - [`global`]: the tracer and the metric instruments of an adapter built without providers,
//!   which follow the global providers installed later or replaced.
//!
//! **For applications** (feature `setup`): [`setup`](mod@setup) installs the SDK from the
//! standard `OTEL_*` variables; beside it the rate-limiting sampler, log correlation and the
//! terminal waterfall.
//!
//! **For tests** (feature `testing`): `testing` captures finished spans and metric points in
//! memory and asserts on them.
//!
//! Adapters depend on the `opentelemetry` API only; the SDK enters through the `setup` and
//! `testing` features.

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod global;
pub mod hooks;
#[doc(hidden)]
pub mod internal;
pub mod metrics;
pub mod propagation;
pub mod semconv;
pub mod server;
#[cfg(feature = "setup")]
pub mod setup;
#[cfg(feature = "testing")]
pub mod testing;

/// Entry points of the fuzz targets (`fuzz/`), compiled only in cargo-fuzz's builds
/// (`--cfg fuzzing`): the public API of a normal build does not have them.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// Forgets the invalid settings reported so far (see `config::reported_problems`), so that a
    /// long run does not keep every value it tried.
    pub fn forget_reported_problems() {
        crate::config::forget_reported();
    }

    /// Every `OTEL_*` parser of [`crate::setup::Setup`] on the variables `lookup` gives,
    /// building nothing.
    // `fuzzing` repeated: an item of fuzzing builds only, never in the docs, which is what
    // scripts/packages.py's check of feature notes in the docs reads from this line.
    #[cfg(all(fuzzing, feature = "setup"))]
    pub fn parse_setup_environment(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) {
        crate::setup::Setup::new().environment(lookup).parse_environment();
    }
}

// The READMEs' examples are compiled and run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
