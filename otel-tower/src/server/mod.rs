//! The server side: a `tower::Layer` that gives every HTTP request a SERVER span.
//!
//! The layer only translates between tower's types and otel-core's server lifecycle
//! ([`otel_core::server`]), which starts, attaches and ends the span the same way for every
//! framework.
//!
//! - [`layer`](OtelLayer): the layer, its builder and service.
//! - [`ResponseFuture`] and [`OtelBody`]: the context is current during every poll of the
//!   handler's future and of the response body; the span ends with the body.
//! - [`BodyMode`]: the response body type, [`OtelBody`] for any service or axum's own.
//! - [`RouteExtractor`]: where `http.route` comes from.

mod body;
mod body_mode;
mod future;
mod layer;
mod request;
mod route;

pub use body::OtelBody;
#[cfg(feature = "axum")]
pub use body_mode::AxumBody;
pub use body_mode::{BodyMode, Wrapped};
pub use future::ResponseFuture;
pub use layer::{OtelLayer, OtelLayerBuilder, OtelService};
pub use otel_core::semconv::http::{ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC};
pub use otel_core::server::ServerHooks;
pub use route::{DefaultRoute, NoRoute, RouteExtractor};
