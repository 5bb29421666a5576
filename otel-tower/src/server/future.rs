//! The response future: the inner service's future, polled with the request's context current,
//! recording the response head on the span.

use super::body::OtelBody;
use super::guard::{Scope, SpanGuard};
use super::layer::{Hooks, Shared};
use crate::unwind::OnUnwind;
use http::{HeaderName, HeaderValue, Response};
use opentelemetry::trace::{TraceContextExt, TraceFlags};
use otel_core::hooks::ResponseHook;
use otel_core::propagation::Traceparent;
use otel_core::semconv::http::ERROR_TYPE_OTHER;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// The `traceresponse` header of W3C Trace Context Level 2.
const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

pin_project! {
    /// The future of an instrumented service's call.
    ///
    /// Dropped before the response (cancellation), or unwinding from a panicking handler, it
    /// ends the span with Error and `error.type` `cancelled` or `panic`.
    pub struct ResponseFuture<F, T, H> {
        #[pin]
        inner: F,
        scope: Scope,
        shared: Option<Arc<Shared<T, H>>>,
    }
}

impl<F, T, H> ResponseFuture<F, T, H> {
    pub(crate) fn new(inner: F, scope: Scope, shared: Option<Arc<Shared<T, H>>>) -> Self {
        Self { inner, scope, shared }
    }
}

impl<F, T, H> fmt::Debug for ResponseFuture<F, T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, T, R, Q, P, N, B, E> Future for ResponseFuture<F, T, Hooks<R, Q, P, N>>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    P: ResponseHook<Response<B>>,
{
    type Output = Result<Response<OtelBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Scope::Empty = this.scope {
            // A request that passes straight through (a health probe): no context, no span.
            return this.inner.poll(cx).map_ok(|response| response.map(|body| OtelBody::new(body, Scope::Empty)));
        }
        let _attached = this.scope.attach();
        let unwind = OnUnwind { state: &mut *this.scope, on_unwind: Scope::fail_on_panic };
        let result = ready!(this.inner.poll(cx));
        drop(unwind);
        let mut scope = std::mem::take(this.scope);
        match result {
            Ok(mut response) => {
                if let (Scope::Span(guard), Some(shared)) = (&mut scope, this.shared.as_deref()) {
                    record_response(guard, &mut response, shared);
                }
                Poll::Ready(Ok(response.map(|body| OtelBody::new(body, scope))))
            }
            Err(error) => {
                scope.fail(ERROR_TYPE_OTHER, "the service failed");
                Poll::Ready(Err(error))
            }
        }
    }
}

fn record_response<T, R, Q, P, N, B>(
    guard: &mut SpanGuard,
    response: &mut Response<B>,
    shared: &Shared<T, Hooks<R, Q, P, N>>,
) where
    P: ResponseHook<Response<B>>,
{
    guard.record_response(response.status().as_u16(), response.headers(), &shared.config);
    if guard.is_recording() {
        shared.hooks.response.on_response(&guard.context().span(), response);
    }
    if shared.traceresponse {
        let span = guard.context().span();
        let span_context = span.span_context();
        let flags = TraceFlags::new(span_context.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8());
        let value = Traceparent::format(span_context.trace_id(), span_context.span_id(), flags);
        if let Ok(value) = HeaderValue::try_from(value) {
            response.headers_mut().insert(TRACERESPONSE, value);
        }
    }
}
