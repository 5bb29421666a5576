//! Which body type the layer answers with: its own wrapper for any service, or axum's `Body`.

use super::body::OtelBody;

/// How an instrumented service hands response bodies to the service above it. Chosen on the
/// builder: [`Wrapped`] (the default, any `http_body::Body`) or, with feature `axum`,
/// [`AxumBody`](crate::server::AxumBody) (`OtelLayerBuilder::axum_body`).
pub trait BodyMode<B> {
    /// The response body type of the instrumented service.
    type Body;

    /// A body that carries the request's span or context to its end.
    fn traced(body: OtelBody<B>) -> Self::Body;

    /// A body the layer has nothing to do with: a request it passed through untouched (an
    /// excluded URL without trace context), or a span that ended with an empty body.
    fn untraced(body: B) -> Self::Body;
}

/// Every response body is an [`OtelBody`] around the inner service's body: works with any
/// router or server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wrapped;

impl<B: http_body::Body> BodyMode<B> for Wrapped {
    type Body = OtelBody<B>;

    #[inline]
    fn traced(body: OtelBody<B>) -> OtelBody<B> {
        body
    }

    #[inline]
    fn untraced(body: B) -> OtelBody<B> {
        OtelBody::untraced(body)
    }
}

/// The response body is axum's `Body`, as axum's router wants it anyway: a body the layer
/// passes through is the handler's own (axum would otherwise box the wrapper around it), and a
/// traced body is boxed here instead of in axum (the same one box).
#[cfg(feature = "axum")]
#[derive(Clone, Copy, Debug, Default)]
pub struct AxumBody;

#[cfg(feature = "axum")]
impl BodyMode<axum::body::Body> for AxumBody {
    type Body = axum::body::Body;

    #[inline]
    fn traced(body: OtelBody<axum::body::Body>) -> axum::body::Body {
        axum::body::Body::new(body)
    }

    #[inline]
    fn untraced(body: axum::body::Body) -> axum::body::Body {
        body
    }
}
