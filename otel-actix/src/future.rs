//! The future of a request's response: the context is current during every poll, and the
//! response is recorded when it arrives.

use crate::body::traced;
use crate::middleware::Worker;
use crate::telemetry::Telemetry;
use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
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
    pub struct OtelFuture<S, T, ReqH, ResH, N>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        inner: Inner<S::Future>,
        telemetry: Option<Telemetry>,
        worker: Rc<Worker<S, T, ReqH, ResH, N>>,
    }
}

pin_project! {
    /// The wrapped service's side of a request.
    #[project = InnerProj]
    enum Inner<F> {
        /// A request with telemetry: the wrapped service is called in the first poll, so that one
        /// attachment of the context covers its `call` and its future's first poll (the way
        /// actix-web middleware that does work before the inner call holds the service).
        Waiting { request: Option<ServiceRequest> },
        /// The wrapped service's response future.
        Called { #[pin] future: F },
    }
}

impl<S, T, ReqH, ResH, N> OtelFuture<S, T, ReqH, ResH, N>
where
    S: Service<ServiceRequest>,
{
    /// A request the middleware passes through untouched (excluded, without trace context):
    /// `future` is the wrapped service's.
    pub(crate) fn passed(future: S::Future, worker: Rc<Worker<S, T, ReqH, ResH, N>>) -> Self {
        Self { inner: Inner::Called { future }, telemetry: None, worker }
    }

    /// A request with telemetry: the wrapped service is called with `request` when the future is
    /// first polled, with the request's context current.
    pub(crate) fn traced(
        request: ServiceRequest,
        telemetry: Telemetry,
        worker: Rc<Worker<S, T, ReqH, ResH, N>>,
    ) -> Self {
        Self { inner: Inner::Waiting { request: Some(request) }, telemetry: Some(telemetry), worker }
    }
}

impl<F: Future> Inner<F> {
    /// Calls `service` if not yet done, then polls its future.
    fn poll<S>(mut self: Pin<&mut Self>, service: &S, cx: &mut Context<'_>) -> Poll<F::Output>
    where
        S: Service<ServiceRequest, Future = F>,
    {
        if let InnerProj::Waiting { request } = self.as_mut().project() {
            // The request is only taken here, right before the state changes for good.
            if let Some(request) = request.take() {
                let future = service.call(request);
                self.set(Inner::Called { future });
            }
        }
        match self.project() {
            InnerProj::Called { future } => future.poll(cx),
            // Not reached: `Waiting` is left in the statement above.
            InnerProj::Waiting { .. } => Poll::Pending,
        }
    }
}

impl<S, T, ReqH, ResH, N> fmt::Debug for OtelFuture<S, T, ReqH, ResH, N>
where
    S: Service<ServiceRequest>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelFuture").field("telemetry", &self.telemetry).finish_non_exhaustive()
    }
}

impl<S, B, T, ReqH, ResH, N> Future for OtelFuture<S, T, ReqH, ResH, N>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
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
            return this.inner.poll(&this.worker.service, cx).map(|output| output.map(into_boxed));
        };
        // One attachment covers the inner call (first poll), the poll and, when it completes,
        // the response hook.
        let current = telemetry.attach();
        let Poll::Ready(output) = telemetry.poll(|| this.inner.as_mut().poll(&this.worker.service, cx)) else {
            return Poll::Pending;
        };
        let mut telemetry = this.telemetry.take();
        let output = match output {
            Ok(response) => {
                if let Some(telemetry) = telemetry.as_mut() {
                    this.worker.state.respond(telemetry, &response);
                }
                Ok(match telemetry {
                    Some(telemetry) => response.map_body(move |_, body| traced(body, telemetry)),
                    None => into_boxed(response),
                })
            }
            Err(error) => {
                if let Some(telemetry) = telemetry.as_mut() {
                    this.worker.state.fail(telemetry, &error);
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
