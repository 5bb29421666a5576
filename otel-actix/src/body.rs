//! The response body: complete bodies pass as they are, streaming ones carry the request's
//! telemetry to their end.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;
use otel_core::server::RequestTelemetry;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The response body of a request with telemetry, as actix-web's `BoxBody` (the body type of an
/// `App`, so a response that needs no wrapper is handed on without one).
///
/// A body that is complete already (bytes, a string, JSON, or no body) runs no code when it is
/// sent: the span and metrics end now, and the body passes unchanged. A streaming body is
/// wrapped (one box): its polls run with the request's context current, so the work it does
/// joins the request's trace, and the span ends with its last chunk, an error, or a drop.
#[inline]
pub(crate) fn traced<B: MessageBody + 'static>(body: B, mut telemetry: RequestTelemetry) -> BoxBody {
    if let BodySize::None = body.size() {
        telemetry.end();
        return body.boxed();
    }
    match body.try_into_bytes() {
        Ok(bytes) => {
            telemetry.end();
            BoxBody::new(bytes)
        }
        Err(body) => BoxBody::new(StreamingBody { body, telemetry }),
    }
}

pin_project! {
    /// A streaming response body with the request's telemetry.
    struct StreamingBody<B> {
        #[pin]
        body: B,
        telemetry: RequestTelemetry,
    }
}

impl<B: MessageBody> MessageBody for StreamingBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let mut body = this.body;
        this.telemetry.poll(|telemetry| {
            let polled = body.as_mut().poll_next(cx);
            match &polled {
                Poll::Ready(None) => telemetry.end(),
                // The error's text is not reachable through `Into<Box<dyn Error>>` without consuming it.
                Poll::Ready(Some(Err(_))) => telemetry.body_failed(),
                Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
            }
            polled
        })
    }
}
