//! The client side: a `tower::Layer` that gives every outgoing HTTP call a CLIENT span and
//! carries its context in the request headers.
//!
//! - [`layer`](OtelClientLayer): the layer, its builder and service; the injection rule.
//! - [`ClientResponseFuture`]: ends the span when the response head arrives or the call fails.
//! - [`ErrorType`]: the `error.type` of a transport error.

mod error;
mod future;
mod layer;

pub use error::{DefaultErrorType, ErrorType};
pub use future::ClientResponseFuture;
pub use layer::{OtelClientLayer, OtelClientLayerBuilder, OtelClientService, UrlTemplate};
