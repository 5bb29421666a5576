//! The future of a request's response: the context is current during every poll, and the
//! response is recorded when it arrives.

use crate::body::OtelBody;
use crate::middleware::ServiceState;
use crate::telemetry::Telemetry;
use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use opentelemetry::trace::Tracer;
use otel_core::hooks::{RequestHook, ResponseHook, SpanNameFormatter};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pin_project! {
    /// The response future of [`OtelService`](crate::OtelService).
    pub struct OtelFuture<F, T, ReqH, ResH, N> {
        #[pin]
        inner: F,
        telemetry: Option<Telemetry>,
        state: Rc<ServiceState<T, ReqH, ResH, N>>,
    }
}

impl<F, T, ReqH, ResH, N> OtelFuture<F, T, ReqH, ResH, N> {
    pub(crate) fn new(inner: F, telemetry: Telemetry, state: Rc<ServiceState<T, ReqH, ResH, N>>) -> Self {
        Self { inner, telemetry: Some(telemetry), state }
    }
}

impl<F, T, ReqH, ResH, N> fmt::Debug for OtelFuture<F, T, ReqH, ResH, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelFuture").field("telemetry", &self.telemetry).finish_non_exhaustive()
    }
}

impl<F, B, T, ReqH, ResH, N> Future for OtelFuture<F, T, ReqH, ResH, N>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    ReqH: RequestHook<ServiceRequest>,
    ResH: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Output = Result<ServiceResponse<OtelBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(telemetry) = this.telemetry.as_mut() else {
            // Polled again after completion: whatever the inner future says, untraced.
            return this
                .inner
                .poll(cx)
                .map(|output| output.map(|res| res.map_body(|_, body| OtelBody::untraced(body))));
        };
        // One attachment covers the poll and, when it completes, the response hook.
        let current = telemetry.attach();
        let Poll::Ready(output) = telemetry.poll(|| this.inner.as_mut().poll(cx)) else {
            return Poll::Pending;
        };
        let mut telemetry = this.telemetry.take();
        let output = match output {
            Ok(response) => {
                if let Some(telemetry) = telemetry.as_mut() {
                    this.state.respond(telemetry, &response);
                }
                Ok(response.map_body(move |_, body| match telemetry {
                    Some(telemetry) if !telemetry.is_pass_through() => OtelBody::new(body, telemetry),
                    _ => OtelBody::untraced(body),
                }))
            }
            Err(error) => {
                if let Some(telemetry) = telemetry.as_mut() {
                    this.state.fail(telemetry, &error);
                }
                Err(error)
            }
        };
        drop(current);
        Poll::Ready(output)
    }
}
