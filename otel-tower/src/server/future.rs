//! The response future: the inner service's future, polled with the request's context current;
//! its response head is recorded and its body carries the request's telemetry on.

use super::body::OtelBody;
use super::body_mode::BodyMode;
use super::layer::Shared;
use http::{HeaderName, HeaderValue, Response};
use otel_core::hooks::ResponseHook;
use otel_core::semconv::http::ERROR_TYPE_OTHER;
use otel_core::server::{RequestTelemetry, ServerHooks};
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
    pub struct ResponseFuture<F, T, H, R, M> {
        #[pin]
        inner: F,
        telemetry: RequestTelemetry,
        shared: Arc<Shared<T, H, R>>,
        mode: PhantomData<fn() -> M>,
    }
}

impl<F, T, H, R, M> ResponseFuture<F, T, H, R, M> {
    pub(crate) fn new(inner: F, telemetry: RequestTelemetry, shared: Arc<Shared<T, H, R>>) -> Self {
        Self { inner, telemetry, shared, mode: PhantomData }
    }
}

impl<F, T, H, R, M> fmt::Debug for ResponseFuture<F, T, H, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").field("telemetry", &self.telemetry).finish_non_exhaustive()
    }
}

impl<F, T, Q, P, N, R, B, E, M> Future for ResponseFuture<F, T, ServerHooks<Q, P, N>, R, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    P: ResponseHook<Response<B>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        if this.telemetry.passes_through() {
            // A request that passes straight through (a health probe): no context, no span.
            return inner.poll(cx).map_ok(|response| response.map(M::untraced));
        }
        let server = &this.shared.server;
        this.telemetry.poll(|telemetry| {
            Poll::Ready(match ready!(inner.as_mut().poll(cx)) {
                Ok(mut response) => {
                    server.respond(telemetry, &response);
                    if let Some(value) = server.traceresponse(telemetry).and_then(|v| HeaderValue::try_from(v).ok()) {
                        response.headers_mut().insert(TRACERESPONSE, value);
                    }
                    let telemetry = telemetry.take();
                    Ok(response.map(|body| OtelBody::new(body, telemetry).into_mode::<M>()))
                }
                Err(error) => {
                    telemetry.fail(ERROR_TYPE_OTHER, "the service failed");
                    Err(error)
                }
            })
        })
    }
}
