//! The server side: a `tower::Layer` that gives every HTTP request a SERVER span.
//!
//! - [`layer`](OtelLayer): the layer, its builder and service; the per-request decisions.
//! - [`ResponseFuture`] and [`OtelBody`]: the context is current during every poll of the
//!   handler's future and of the response body; the span ends with the body.
//! - [`BodyMode`]: the response body type, [`OtelBody`] for any service or axum's own.
//! - [`RouteExtractor`]: where `http.route` comes from.

mod body;
mod body_mode;
mod future;
mod guard;
mod layer;
mod route;

pub use body::OtelBody;
#[cfg(feature = "axum")]
pub use body_mode::AxumBody;
pub use body_mode::{BodyMode, Wrapped};
pub use future::ResponseFuture;
pub use guard::{ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC};
pub use layer::{Hooks, OtelLayer, OtelLayerBuilder, OtelService};
pub use route::{DefaultRoute, NoRoute, RouteExtractor};
