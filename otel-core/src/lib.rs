//! Shared pieces of the OpenTelemetry instrumentation adapters.
//!
//! Everything two adapters would otherwise both write lives here, once:
//!
//! - [`config`]: the configuration every HTTP server adapter shares (URL exclusion, known
//!   methods, header capture, sensitive query parameters, the public-endpoint policy), filled
//!   from code and from the environment.
//! - [`semconv`]: the HTTP semantic-convention rules (method normalization, span names, server and
//!   client addresses, URL redaction, status mapping, header capture).
//! - [`propagation`]: a strict W3C Trace Context propagator and header carriers.
//! - [`hooks`]: request hooks, response hooks and span-name formatters, one shape for every
//!   adapter.
//! - [`metrics`]: the HTTP duration and active-request metrics, ended exactly once.
//! - [`intern`] and [`recent`]: attribute text made once and shared by the spans that repeat it.
//! - `testing` (feature `testing`): capture finished spans in memory and assert on them.
//!
//! Adapters depend on the `opentelemetry` API only; the SDK enters through the `testing` feature.

pub mod config;
pub mod hooks;
pub mod intern;
#[cfg(feature = "setup")]
pub mod logs;
pub mod metrics;
pub mod propagation;
pub mod recent;
#[cfg(feature = "setup")]
pub mod sampling;
pub mod semconv;
#[cfg(feature = "setup")]
pub mod setup;
pub mod span_start;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "setup")]
pub mod waterfall;

// The READMEs' examples are compiled and run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
