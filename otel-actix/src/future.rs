//! The future of a request's response: the context is current during every poll, and the
//! response is recorded when it arrives.

use crate::body::traced;
use crate::middleware::Worker;
use crate::request::{ActixRequest, Answer};
use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use otel_core::hooks::{ResponseHook, SpanNameFormatter};
use otel_core::server::{RequestTelemetry, ServerHooks};
use pin_project_lite::pin_project;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

/// The `traceresponse` header of W3C Trace Context Level 2.
const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

pin_project! {
    /// The response future of [`OtelService`](crate::OtelService).
    pub struct OtelFuture<S, T, H>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        inner: Inner<S::Future>,
        telemetry: RequestTelemetry,
        worker: Rc<Worker<S, T, H>>,
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

impl<S, T, H> OtelFuture<S, T, H>
where
    S: Service<ServiceRequest>,
{
    /// A request the middleware passes through untouched (excluded, without trace context):
    /// `future` is the wrapped service's.
    pub(crate) fn passed(future: S::Future, worker: Rc<Worker<S, T, H>>) -> Self {
        Self { inner: Inner::Called { future }, telemetry: RequestTelemetry::default(), worker }
    }

    /// A request with telemetry: the wrapped service is called with `request` when the future is
    /// first polled, with the request's context current.
    pub(crate) fn traced(request: ServiceRequest, telemetry: RequestTelemetry, worker: Rc<Worker<S, T, H>>) -> Self {
        Self { inner: Inner::Waiting { request: Some(request) }, telemetry, worker }
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

impl<S, T, H> fmt::Debug for OtelFuture<S, T, H>
where
    S: Service<ServiceRequest>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelFuture").field("telemetry", &self.telemetry).finish_non_exhaustive()
    }
}

impl<S, B, T, Q, P, N> Future for OtelFuture<S, T, ServerHooks<Q, P, N>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    P: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Output = Result<ServiceResponse<BoxBody>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let worker = &**this.worker;
        let mut inner = this.inner;
        if this.telemetry.passes_through() {
            // Passed through, or polled again after completion: nothing to attach or record.
            return inner.poll(&worker.service, cx).map(|output| output.map(into_boxed));
        }
        let server = &*worker.server;
        // One attachment covers the inner call (first poll), the poll and, when it completes,
        // the response hook.
        this.telemetry.poll(|telemetry| {
            Poll::Ready(match ready!(inner.as_mut().poll(&worker.service, cx)) {
                Ok(mut response) => {
                    server.route_matched(telemetry, &ActixRequest::routed(response.request()));
                    server.respond(telemetry, &Answer::response(&response));
                    if let Some(value) = server.traceresponse(telemetry).and_then(|v| HeaderValue::try_from(v).ok()) {
                        response.headers_mut().insert(TRACERESPONSE, value);
                    }
                    let telemetry = telemetry.take();
                    Ok(response.map_body(move |_, body| traced(body, telemetry)))
                }
                Err(error) => {
                    server.respond(telemetry, &Answer::error(&error));
                    telemetry.end();
                    Err(error)
                }
            })
        })
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
