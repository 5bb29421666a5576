//! Extension points every adapter offers, with one shape across frameworks.
//!
//! Each is a trait with a no-op implementation for `()` (the default, which costs nothing) and a
//! blanket implementation for closures, so users write a closure and adapters stay generic
//! without boxing:
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::SpanRef;
//! use otel_core::hooks::RequestHook;
//!
//! // The seeds' example: record the user id a header carries.
//! let hook = |span: &SpanRef<'_>, request: &http::Request<()>| {
//!     if let Some(id) = request.headers().get("x-user-id").and_then(|v| v.to_str().ok()) {
//!         span.set_attribute(KeyValue::new("user.id", id.to_owned()));
//!     }
//! };
//! fn accepts<H: RequestHook<http::Request<()>>>(_: H) {}
//! accepts(hook);
//! ```

use crate::semconv::http::{HttpMethod, span_name};
use opentelemetry::trace::SpanRef;
use std::borrow::Cow;

/// Called once per request after its span started, with the span and the request.
pub trait RequestHook<Req: ?Sized>: Send + Sync + 'static {
    /// Adds attributes or events to `span` from `request`.
    fn on_request(&self, span: &SpanRef<'_>, request: &Req);
}

impl<Req: ?Sized> RequestHook<Req> for () {
    #[inline]
    fn on_request(&self, _: &SpanRef<'_>, _: &Req) {}
}

impl<Req: ?Sized, F> RequestHook<Req> for F
where
    F: Fn(&SpanRef<'_>, &Req) + Send + Sync + 'static,
{
    fn on_request(&self, span: &SpanRef<'_>, request: &Req) {
        self(span, request)
    }
}

/// Called once per response, before the span ends, with the span and the response.
pub trait ResponseHook<Res: ?Sized>: Send + Sync + 'static {
    /// Adds attributes or events to `span` from `response`.
    fn on_response(&self, span: &SpanRef<'_>, response: &Res);
}

impl<Res: ?Sized> ResponseHook<Res> for () {
    #[inline]
    fn on_response(&self, _: &SpanRef<'_>, _: &Res) {}
}

impl<Res: ?Sized, F> ResponseHook<Res> for F
where
    F: Fn(&SpanRef<'_>, &Res) + Send + Sync + 'static,
{
    fn on_response(&self, span: &SpanRef<'_>, response: &Res) {
        self(span, response)
    }
}

/// Names the span of a request. The default, [`DefaultSpanName`], follows the conventions:
/// `{method} {route}`, or `{method}` when no route is known.
pub trait SpanNameFormatter<Req: ?Sized>: Send + Sync + 'static {
    /// The span name for `request`, whose normalized method and matched route are given.
    fn span_name(&self, method: HttpMethod<'_>, route: Option<&str>, request: &Req) -> Cow<'static, str>;
}

/// The conventions' span name: `{method} {route}` or `{method}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultSpanName;

impl<Req: ?Sized> SpanNameFormatter<Req> for DefaultSpanName {
    #[inline]
    fn span_name(&self, method: HttpMethod<'_>, route: Option<&str>, _: &Req) -> Cow<'static, str> {
        span_name(method, route)
    }
}

impl<Req: ?Sized, F> SpanNameFormatter<Req> for F
where
    F: Fn(HttpMethod<'_>, Option<&str>, &Req) -> Cow<'static, str> + Send + Sync + 'static,
{
    fn span_name(&self, method: HttpMethod<'_>, route: Option<&str>, request: &Req) -> Cow<'static, str> {
        self(method, route, request)
    }
}
