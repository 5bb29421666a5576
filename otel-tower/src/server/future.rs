//! The response future: the inner service's future, polled with the request's context current,
//! recording the response head on the span.

use super::body::OtelBody;
use super::body_mode::BodyMode;
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
use std::marker::PhantomData;
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
    pub struct ResponseFuture<F, T, H, M> {
        #[pin]
        inner: F,
        scope: Scope,
        shared: Option<Arc<Shared<T, H>>>,
        mode: PhantomData<fn() -> M>,
    }
}

impl<F, T, H, M> ResponseFuture<F, T, H, M> {
    pub(crate) fn new(inner: F, scope: Scope, shared: Option<Arc<Shared<T, H>>>) -> Self {
        Self { inner, scope, shared, mode: PhantomData }
    }
}

impl<F, T, H, M> fmt::Debug for ResponseFuture<F, T, H, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, T, R, Q, P, N, B, E, M> Future for ResponseFuture<F, T, Hooks<R, Q, P, N>, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    P: ResponseHook<Response<B>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Scope::Empty = this.scope {
            // A request that passes straight through (a health probe): no context, no span.
            return this.inner.poll(cx).map_ok(|response| response.map(M::untraced));
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
                Poll::Ready(Ok(response.map(|body| traced::<B, M>(body, scope))))
            }
            Err(error) => {
                scope.fail(ERROR_TYPE_OTHER, "the service failed");
                Poll::Ready(Err(error))
            }
        }
    }
}

/// The response body with what is left of the request's scope (nothing, for an empty body whose
/// span ended here).
#[inline]
fn traced<B: http_body::Body, M: BodyMode<B>>(body: B, scope: Scope) -> M::Body {
    let body = OtelBody::new(body, scope);
    if body.is_untraced() { M::untraced(body.into_inner()) } else { M::traced(body) }
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
