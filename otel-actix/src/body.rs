//! The response body, wrapped so that the request's context is current while it streams and the
//! span ends when it ends.

use crate::telemetry::Telemetry;
use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use otel_core::semconv::http::ERROR_TYPE_OTHER;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// A response body whose span ends at its end: the last chunk, an error, or a drop.
    ///
    /// The request's context is current during every poll of a streaming body, so the work it
    /// does (database reads, outgoing calls) joins the request's trace. A body that is complete
    /// already (bytes, a string) runs no code when sent: it is held as bytes and sent without
    /// attaching the context.
    #[derive(Debug)]
    pub struct OtelBody<B> {
        #[pin]
        inner: Inner<B>,
        telemetry: Option<Telemetry>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<B> {
        Complete { bytes: Option<Bytes> },
        Stream { #[pin] body: B },
    }
}

impl<B: MessageBody> OtelBody<B> {
    pub(crate) fn new(body: B, telemetry: Telemetry) -> Self {
        let inner = match body.size() {
            BodySize::Sized(_) => match body.try_into_bytes() {
                Ok(bytes) => Inner::Complete { bytes: Some(bytes) },
                Err(body) => Inner::Stream { body },
            },
            _ => Inner::Stream { body },
        };
        Self { inner, telemetry: Some(telemetry) }
    }

    pub(crate) fn untraced(body: B) -> Self {
        Self { inner: Inner::Stream { body }, telemetry: None }
    }
}

impl<B: MessageBody> MessageBody for OtelBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        match &self.inner {
            Inner::Complete { bytes } => BodySize::Sized(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream { body } => body.size(),
        }
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let mut body = match this.inner.project() {
            InnerProj::Complete { bytes } => {
                let next = bytes.take().filter(|b| !b.is_empty());
                if let (None, Some(telemetry)) = (&next, this.telemetry.as_mut()) {
                    telemetry.finish(None);
                }
                return Poll::Ready(next.map(Ok));
            }
            InnerProj::Stream { body } => body,
        };
        let Some(telemetry) = this.telemetry.as_mut() else {
            return body.poll_next(cx);
        };
        let _current = telemetry.attach();
        let polled = telemetry.poll(|| body.as_mut().poll_next(cx));
        match &polled {
            Poll::Ready(None) => telemetry.finish(None),
            // The error's text is not reachable through `Into<Box<dyn Error>>` without consuming it.
            Poll::Ready(Some(Err(_))) => telemetry.finish(Some((ERROR_TYPE_OTHER, "the response body failed"))),
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    /// A body that is bytes already (what compression middleware asks for) is complete: its
    /// span ends here.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self { inner, telemetry } = self;
        match inner {
            // `telemetry` drops here and finishes the span.
            Inner::Complete { bytes } => Ok(bytes.unwrap_or_default()),
            Inner::Stream { body } => match body.try_into_bytes() {
                Ok(bytes) => Ok(bytes),
                Err(body) => Err(Self { inner: Inner::Stream { body }, telemetry }),
            },
        }
    }
}
