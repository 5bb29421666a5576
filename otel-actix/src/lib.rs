//! OpenTelemetry for actix-web servers and the awc client.
//!
//! - [`OtelMiddleware`]: one SERVER span per request, named `{method} {route}` from actix-web's
//!   matched pattern, attributed by the HTTP semantic conventions, with the incoming W3C trace
//!   context continued and current in the handler and while the response body streams. The
//!   middleware only translates actix-web's types onto otel-core's server lifecycle
//!   ([`otel_core::server`]), the same one otel-tower's layer uses: the same rules, builder
//!   words, configuration and environment variables.
//! - `client` (feature `awc`): CLIENT spans for awc requests, with the context injected into the
//!   request headers.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use otel_actix::OtelMiddleware;
//!
//! # async fn run() -> std::io::Result<()> {
//! let otel = OtelMiddleware::new(); // global provider and propagator, config from the environment
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(otel.clone())
//!         .route("/users/{id}", web::get().to(|| async { "ok" }))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! The route is known only after actix-web's router ran, so the span starts named `{method}`
//! and is renamed `{method} {route}` when the response arrives; a sampler therefore sees no
//! `http.route` at start (except when the middleware wraps a single resource).

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
#[cfg(feature = "awc")]
pub mod client;
mod future;
mod headers;
mod middleware;
mod request;

pub use future::OtelFuture;
pub use headers::{ActixHeaderInjector, ActixHeaders, protocol_version};
pub use middleware::{OtelMiddleware, OtelMiddlewareBuilder, OtelService};

// The README's examples are compiled as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;

/// The instrumentation scope of every span and metric of this crate.
fn scope() -> opentelemetry::InstrumentationScope {
    otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}
