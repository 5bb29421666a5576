//! The future of a request's response: the context is current during every poll, and the
//! response is recorded when it arrives.

use crate::body::traced;
use crate::middleware::ServiceState;
use crate::telemetry::Telemetry;
use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use opentelemetry::trace::Tracer;
use otel_core::hooks::{RequestHook, ResponseHook, SpanNameFormatter};
use pin_project_lite::pin_project;
use std::any::Any;
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
    /// `telemetry` is `None` for a request the middleware passes through untouched (excluded,
    /// without trace context).
    pub(crate) fn new(inner: F, telemetry: Option<Telemetry>, state: Rc<ServiceState<T, ReqH, ResH, N>>) -> Self {
        Self { inner, telemetry, state }
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
    B: MessageBody + 'static,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    ReqH: RequestHook<ServiceRequest>,
    ResH: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Output = Result<ServiceResponse<BoxBody>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(telemetry) = this.telemetry.as_mut() else {
            // Passed through, or polled again after completion: nothing to attach or record.
            return this.inner.poll(cx).map(|output| output.map(into_boxed));
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
                Ok(match telemetry {
                    Some(telemetry) => response.map_body(move |_, body| traced(body, telemetry)),
                    None => into_boxed(response),
                })
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

/// `response` with a boxed body. An `App`'s body is boxed already: the response is then handed
/// on as it is (mapping it would move it twice for nothing).
fn into_boxed<B: MessageBody + 'static>(response: ServiceResponse<B>) -> ServiceResponse<BoxBody> {
    // `Any` is how safe code learns that `B` is `BoxBody`; the response stays in `slot` until
    // one of the arms takes it, so the last arm cannot be reached.
    let mut slot = Some(response);
    let same = (&mut slot as &mut dyn Any).downcast_mut::<Option<ServiceResponse<BoxBody>>>().and_then(Option::take);
    match (same, slot) {
        (Some(response), _) => response,
        (None, Some(response)) => response.map_into_boxed_body(),
        (None, None) => unreachable!("the response is in the slot until taken"),
    }
}
