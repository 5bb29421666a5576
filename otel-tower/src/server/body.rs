//! The response body, carrying the request's telemetry to its last frame so a streamed response
//! is measured to its end and the handler's context stays current while the body is produced.

use super::body_mode::BodyMode;
use crate::body_end::{BodyEnd, body_end};
use http_body::{Body, Frame, SizeHint};
use otel_core::server::RequestTelemetry;
use pin_project_lite::pin_project;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The response body of an instrumented service: the inner body, unchanged, plus the
    /// request's telemetry.
    ///
    /// The span ends when the body yields its last frame, fails (Error, `error.type` `_OTHER`),
    /// or is dropped (the status of the response stands: the client went away; a gRPC stream
    /// without its trailers yet is `CANCELLED`). A gRPC call's status is read from the trailers.
    /// Each poll runs with the request's context current.
    pub struct OtelBody<B> {
        #[pin]
        inner: B,
        telemetry: RequestTelemetry,
    }
}

impl<B: Body> OtelBody<B> {
    pub(crate) fn new(inner: B, mut telemetry: RequestTelemetry) -> Self {
        // An empty body may never be polled: the response is complete now.
        if inner.is_end_stream() {
            telemetry.end();
        }
        Self { inner, telemetry }
    }

    /// The body in the layer's mode: the inner body alone when nothing is left to attach or end.
    #[inline]
    pub(crate) fn into_mode<M: BodyMode<B>>(self) -> M::Body {
        if self.telemetry.passes_through() { M::untraced(self.inner) } else { M::traced(self) }
    }
}

impl<B> OtelBody<B> {
    /// A body with nothing to attach or end.
    pub(crate) fn untraced(inner: B) -> Self {
        Self { inner, telemetry: RequestTelemetry::default() }
    }

    /// The inner body, for tests and for callers that need its own methods.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for OtelBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelBody").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<B: Body> Body for OtelBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        if this.telemetry.passes_through() {
            // Nothing to attach or end (a health probe, or the span already ended).
            return inner.poll_frame(cx);
        }
        this.telemetry.poll(|telemetry| {
            let frame = ready!(inner.as_mut().poll_frame(cx));
            match body_end(&frame, inner.is_end_stream(), |trailers| telemetry.trailers(trailers)) {
                Some(BodyEnd::Finished) => telemetry.end(),
                Some(BodyEnd::Failed) => telemetry.body_failed(),
                None => {}
            }
            Poll::Ready(frame)
        })
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
