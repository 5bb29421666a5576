//! OpenTelemetry for reqwest: a [`reqwest_middleware`] middleware that gives every outgoing
//! request a CLIENT span and sends its trace context along, so the service it calls continues
//! the same trace.
//!
//! ```
//! use otel_reqwest::OtelMiddleware;
//! use reqwest_middleware::ClientBuilder;
//!
//! // Uses the global tracer provider and propagator, as installed when each request is sent.
//! let client = ClientBuilder::new(reqwest::Client::new()).with(OtelMiddleware::default()).build();
//! ```
//!
//! # The span
//! - One CLIENT span per attempt on the wire, a child of `opentelemetry::Context::current()`.
//! - Named `{method}` (`GET`), or `{method} {template}` when the request carries a
//!   [`UrlTemplate`]; a method outside the known set is recorded as `_OTHER` and names the span
//!   `HTTP`. Common names are static strings: naming a span allocates nothing.
//! - Attributes: `http.request.method` (and `http.request.method_original`), `server.address`,
//!   `server.port`, `url.full` (user and password as `REDACTED`, values of sensitive query
//!   parameters such as `X-Amz-Signature` as `REDACTED`), `url.template`,
//!   `http.request.resend_count` (from the second attempt), `http.response.status_code`,
//!   `network.protocol.version`, allow-listed headers, and `error.type` on failure.
//! - Status Error for a 4xx or 5xx response (`error.type` = the code) and for a request that
//!   failed without a response (`error.type` = `timeout`, `dns`, `connect`, `redirect`, `body`,
//!   `decode`, `upgrade`, `builder`, `request` or `_OTHER`, plus an `exception` event whose
//!   message has the URL redacted). The error itself reaches the caller unchanged.
//! - The span ends when the response headers arrive (reqwest's `send` returns) or the request
//!   fails; reading the body is not part of it. A request whose future is dropped (cancelled by
//!   the caller, or by a timeout around it) ends its span with status Unset.
//! - Sampling: the attributes a sampler may use are given at span start. A span under an
//!   unsampled parent is the exception: parent-based samplers (the default) drop it without
//!   looking, so its attributes are built only if it turns out to record. A span that does not
//!   record costs no attribute work and no hook calls; its context is still propagated.
//!
//! # Placement: retries and redirects
//! Middlewares run in the order they are added. Add this one *after* a retry middleware, so it
//! runs inside it and sees each attempt:
//!
//! ```
//! use otel_reqwest::OtelMiddleware;
//! use reqwest_middleware::ClientBuilder;
//! use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
//!
//! let retry = RetryTransientMiddleware::new_with_policy(ExponentialBackoff::builder().build_with_max_retries(3));
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(retry)                     // outer: retries
//!     .with(OtelMiddleware::default()) // inner: one span per attempt
//!     .build();
//! ```
//!
//! Each retry is then a span of its own with `http.request.resend_count` 1, 2, ...; each sends
//! its own `traceparent`. The count lives in the request's middleware `Extensions`, which the
//! retry middleware passes to every attempt; it is written after a failed attempt (a transport
//! error or a 4xx/5xx response: what retry strategies retry) and cleared after a success.
//! Added before the retry middleware instead, the middleware sees one request: one span for all
//! attempts.
//!
//! Redirects are followed inside reqwest's `Client`, below every middleware: the span covers
//! the whole chain, records the URL first requested and the final response, and every hop
//! carries the same `traceparent`. To see each hop, turn reqwest's redirects off
//! (`redirect::Policy::none()`) and follow them yourself.
//!
//! # Propagation
//! `traceparent`, `tracestate` and `baggage` (whatever the propagator writes) are injected with
//! the configured propagator, by default the global one. The caller keeps control:
//! - a header the caller set by hand is never replaced;
//! - a request that already carries a `traceparent` gets nothing injected (its `tracestate` and
//!   `baggage` belong to that context); its span is still recorded;
//! - a request with the [`NoPropagation`] extension gets nothing injected: use it for third-party
//!   hosts.

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod attempt;
mod error;
mod extensions;
mod middleware;

pub use extensions::{NoPropagation, UrlTemplate};
pub use middleware::{OtelMiddleware, OtelMiddlewareBuilder};

// The README's examples are compiled and run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;
