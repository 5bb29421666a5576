//! OpenTelemetry `tower` layers for HTTP servers (axum, hyper, tonic) and HTTP clients
//! (hyper-util's client, tonic channels).
//!
//! - [`OtelLayer`]: every request becomes a SERVER span named `{method} {route}`, continuing the
//!   caller's trace (or, for a public endpoint, linking to it), with the attributes of the
//!   OpenTelemetry HTTP semantic conventions. The span is the current context while the handler
//!   and the response body run, and ends when the body ends.
//! - [`OtelClientLayer`]: every call becomes a CLIENT span whose context travels in the request
//!   headers.
//!
//! ```
//! use axum::{Router, routing::get};
//! use otel_core::config::HttpServerConfig;
//! use otel_tower::OtelLayer;
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "hello" }))
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(OtelLayer::builder().config(HttpServerConfig::builder().exclude_path("/health")).axum_body().build());
//! ```
//!
//! Both layers use the `opentelemetry` API only: the tracer provider and propagator come from
//! their builders or, by default, from `opentelemetry::global`.

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body_end;
pub mod client;
pub mod server;

pub use client::{OtelClientBody, OtelClientLayer, OtelClientLayerBuilder, OtelClientService};
pub use server::{OtelBody, OtelLayer, OtelLayerBuilder, OtelService, RouteExtractor};

// The README's examples are compiled and run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;

/// The instrumentation scope of every span and metric of this crate.
fn scope() -> opentelemetry::InstrumentationScope {
    otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}
