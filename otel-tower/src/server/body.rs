//! The response body, carrying the span to its last frame so a streamed response is measured
//! to its end and the handler's context stays current while the body is produced.

use super::guard::Scope;
use crate::unwind::OnUnwind;
use http_body::{Body, Frame, SizeHint};
use otel_core::semconv::http::ERROR_TYPE_OTHER;
use pin_project_lite::pin_project;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The response body of an instrumented service: the inner body, unchanged, plus the span.
    ///
    /// The span ends when the body yields its last frame, fails (Error, `error.type` `_OTHER`),
    /// or is dropped (the status of the response stands: the client went away). Each poll runs
    /// with the request's context current.
    pub struct OtelBody<B> {
        #[pin]
        inner: B,
        scope: Scope,
    }
}

impl<B: Body> OtelBody<B> {
    pub(crate) fn new(inner: B, mut scope: Scope) -> Self {
        // An empty body may never be polled: the response is complete now.
        if !matches!(scope, Scope::Empty) && inner.is_end_stream() {
            scope.end();
        }
        Self { inner, scope }
    }
}

impl<B> OtelBody<B> {
    /// A body with nothing to attach or end.
    pub(crate) fn untraced(inner: B) -> Self {
        Self { inner, scope: Scope::Empty }
    }

    /// Nothing to attach or end: the wrapper is of no use.
    pub(crate) fn is_untraced(&self) -> bool {
        matches!(self.scope, Scope::Empty)
    }

    /// The inner body, once the wrapper is of no use.
    pub(crate) fn into_inner(self) -> B {
        self.inner
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
        let mut this = self.project();
        if let Scope::Empty = this.scope {
            // Nothing to attach or end (a health probe, or the span already ended).
            return this.inner.poll_frame(cx);
        }
        let _attached = this.scope.attach();
        let unwind = OnUnwind { state: &mut *this.scope, on_unwind: Scope::fail_on_panic };
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        drop(unwind);
        match &frame {
            None => this.scope.end(),
            Some(Err(_)) => this.scope.fail(ERROR_TYPE_OTHER, "the response body failed"),
            Some(Ok(_)) if this.inner.is_end_stream() => this.scope.end(),
            Some(Ok(_)) => {}
        }
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
