//! The HTTP server request lifecycle, written once for every server adapter.
//!
//! A server adapter (otel-tower's layer, otel-actix's middleware) only translates: it describes
//! its framework's request with [`ServerRequest`] and its response with [`ServerResponse`], and
//! everything else happens here, the same way for every framework:
//!
//! 1. [`ServerTelemetry::start`] decides whether the request is excluded, extracts the incoming
//!    context, applies the context policy, starts the SERVER span (name, link, attributes for
//!    the sampler), calls the request hook and counts the request as active. The result is one
//!    [`RequestTelemetry`]: a span, only a context to carry (an excluded or unsampled request),
//!    or nothing at all (a request that passes through untouched).
//! 2. The adapter polls the handler's future and then the response body through
//!    [`RequestTelemetry::poll`], which makes the request's context current and notes a panic.
//! 3. [`ServerTelemetry::respond`] records the response head (status, headers, the response
//!    hook); [`ServerTelemetry::route_matched`] records a route known only after routing.
//! 4. The span and the metrics end exactly once: at the end of the body
//!    ([`RequestTelemetry::end`]), on a failure ([`RequestTelemetry::fail`]), or when the
//!    [`RequestTelemetry`] is dropped (cancellation, a panic, a body dropped before its end).
//!
//! Built with [`grpc(true)`](ServerTelemetryBuilder::grpc), the lifecycle gives a gRPC call
//! (`content-type: application/grpc*`) the RPC conventions instead of HTTP's: a span named
//! `{rpc.method}`, the status from `grpc-status` in the response head or in the trailers the
//! adapter hands to [`RequestTelemetry::trailers`], `rpc.server.call.duration`
//! ([`crate::semconv::rpc`] holds the rules).
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use otel_core::config::HttpServerConfig;
//! use otel_core::server::{ServerRequest, ServerTelemetry};
//!
//! /// A framework's request, described to the lifecycle.
//! struct Incoming<'a>(&'a http::Request<()>);
//!
//! impl ServerRequest for Incoming<'_> {
//!     type Headers = http::HeaderMap;
//!     type Native = http::Request<()>;
//!     fn method(&self) -> &str { self.0.method().as_str() }
//!     fn target(&self) -> &str { self.0.uri().path_and_query().map_or("/", |pq| pq.as_str()) }
//!     fn headers(&self) -> &http::HeaderMap { self.0.headers() }
//!     fn scheme(&self) -> &'static str { "http" }
//!     fn protocol_version(&self) -> Option<&'static str> { Some("1.1") }
//!     fn authority(&self) -> Option<&str> { None }
//!     fn peer(&self) -> Option<std::net::SocketAddr> { None }
//!     fn native(&self) -> &http::Request<()> { self.0 }
//! }
//!
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
//! let server = ServerTelemetry::builder(opentelemetry::InstrumentationScope::builder("doc").build())
//!     .tracer_provider(&provider)
//!     .config(HttpServerConfig::builder().environment(|_| None))
//!     .build("doc");
//! let request = http::Request::get("/users/7").body(()).unwrap();
//! let mut telemetry = server.start(&Incoming(&request));
//! let response = http::Response::new(());
//! telemetry.poll(|telemetry| server.respond(telemetry, &response)); // the handler ran
//! telemetry.end(); // the body ended
//! ```

mod builder;
mod request_telemetry;
mod routes;
mod telemetry;

pub use builder::ServerTelemetryBuilder;
pub use request_telemetry::RequestTelemetry;
pub use telemetry::{ServerHooks, ServerTelemetry};

use crate::propagation::HeaderSource;
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

/// An incoming request as a server adapter describes it: borrowed parts of the framework's own
/// request. The lifecycle reads each part only when it needs it (a request the sampler drops
/// reads no scheme, version or peer).
pub trait ServerRequest {
    /// The request headers.
    type Headers: HeaderSource + ?Sized;
    /// The framework's request, as request hooks and span-name formatters receive it.
    type Native: ?Sized;

    /// The method as received.
    fn method(&self) -> &str;
    /// The request target: path and query as received (`/users/7?page=2`).
    fn target(&self) -> &str;
    /// The request headers.
    fn headers(&self) -> &Self::Headers;
    /// `url.scheme`: `http` or `https`.
    fn scheme(&self) -> &'static str;
    /// `network.protocol.version`: `1.0`, `1.1`, `2` or `3`, when known.
    fn protocol_version(&self) -> Option<&'static str>;
    /// The URI's authority (HTTP/2 `:authority`), when the request carried one.
    fn authority(&self) -> Option<&str>;
    /// The connection's remote address, when the framework exposes it.
    fn peer(&self) -> Option<SocketAddr>;
    /// The route template (`/users/{id}`), when the router matched before the adapter runs.
    /// Never the raw path: it would give every id its own span name.
    fn route(&self) -> Option<Cow<'_, str>> {
        None
    }
    /// The framework's request.
    fn native(&self) -> &Self::Native;
}

/// A response head as a server adapter describes it.
pub trait ServerResponse {
    /// The response headers.
    type Headers: HeaderSource + ?Sized;
    /// The framework's response, as response hooks receive it.
    type Native: ?Sized;

    /// `http.response.status_code`.
    fn status(&self) -> u16;
    /// The response headers, when there are any to capture.
    fn headers(&self) -> Option<&Self::Headers>;
    /// An error the framework attached to the response: for a 5xx, its message becomes the
    /// span's `exception` event.
    fn error(&self) -> Option<&dyn fmt::Display> {
        None
    }
    /// The framework's response, for the response hook (`None`: no hook call, as for an error
    /// the framework turns into a response later).
    fn native(&self) -> Option<&Self::Native>;
}

/// A response of the `http` crate (axum, hyper, tonic) describes itself.
impl<B> ServerResponse for http::Response<B> {
    type Headers = http::HeaderMap;
    type Native = Self;

    #[inline]
    fn status(&self) -> u16 {
        self.status().as_u16()
    }

    #[inline]
    fn headers(&self) -> Option<&http::HeaderMap> {
        Some(self.headers())
    }

    #[inline]
    fn native(&self) -> Option<&Self> {
        Some(self)
    }
}

#[cfg(test)]
pub(crate) mod tests;
