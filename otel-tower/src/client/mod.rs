//! The client side: a `tower::Layer` that gives every outgoing HTTP call a CLIENT span and
//! carries its context in the request headers.
//!
//! - [`layer`](OtelClientLayer): the layer, its builder and service; the injection rule.
//! - [`ClientResponseFuture`]: ends the span when the response head arrives or the call fails.
//! - [`OtelClientBody`]: the response body, which carries a gRPC call's span to its trailers.
//! - [`ErrorType`]: the `error.type` of a transport error.

mod body;
mod error;
mod future;
mod layer;

pub use body::OtelClientBody;
pub use error::{DefaultErrorType, ErrorType};
pub use future::ClientResponseFuture;
pub use layer::{ClientHooks, OtelClientLayer, OtelClientLayerBuilder, OtelClientService, UrlTemplate};
