//! The response body of a client call: a gRPC call's span ends with its last frame, whose
//! trailers carry the call's status.

use super::future::ClientGuard;
use crate::body_end::{BodyEnd, body_end};
use http_body::{Body, Frame, SizeHint};
use otel_core::semconv::http::ERROR_TYPE_OTHER;
use otel_core::semconv::rpc::CallEnd;
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The response body of an instrumented client: the inner body, unchanged. For a gRPC call
    /// it carries the call's span to the trailers (or to the end of the stream, a failure of
    /// the body, or its drop: `CANCELLED`); for any other call the span has already ended and
    /// the body only passes through.
    pub struct OtelClientBody<B> {
        #[pin]
        inner: B,
        call: Option<ClientGuard>,
    }
}

impl<B: Body> OtelClientBody<B> {
    pub(crate) fn new(inner: B, call: Option<ClientGuard>) -> Self {
        let mut body = Self { inner, call };
        // An empty stream may never be polled: the call is over now.
        if body.inner.is_end_stream()
            && let Some(mut call) = body.call.take()
        {
            call.end_call(CallEnd::Finished);
        }
        body
    }
}

impl<B> OtelClientBody<B> {
    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The inner body, for callers that need its own type back.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for OtelClientBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelClientBody").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<B: Body> Body for OtelClientBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let Some(call) = this.call.as_mut() else {
            return inner.poll_frame(cx);
        };
        let frame = ready!(inner.as_mut().poll_frame(cx));
        let end = match body_end(&frame, inner.is_end_stream(), |trailers| call.trailers(trailers)) {
            Some(BodyEnd::Finished) => CallEnd::Finished,
            Some(BodyEnd::Failed) => CallEnd::Failed(Cow::Borrowed(ERROR_TYPE_OTHER), "the response stream failed"),
            None => return Poll::Ready(frame),
        };
        call.end_call(end);
        *this.call = None;
        Poll::Ready(frame)
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
