//! The client call's future: ends the CLIENT span when the response head arrives or the call
//! fails (a gRPC call's span goes on with the response body, to its trailers), and makes the
//! span current while the inner client runs.

use super::body::OtelClientBody;
use super::error::ErrorType;
use super::layer::{ClientHooks, ClientShared};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use otel_core::hooks::ResponseHook;
use otel_core::metrics::ClientRequestStart;
use otel_core::semconv::http::{
    ERROR_TYPE_PANIC, client_error_type, protocol_version, record_client_failure, record_client_response,
};
use otel_core::semconv::rpc::{CallEnd, GrpcCall};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

pin_project! {
    /// The future of an instrumented client call.
    pub struct ClientResponseFuture<F, T, E, H = ClientHooks> {
        #[pin]
        inner: F,
        guard: Option<ClientGuard>,
        shared: Arc<ClientShared<T, E, H>>,
    }
}

impl<F, T, E, H> ClientResponseFuture<F, T, E, H> {
    pub(crate) fn new(inner: F, guard: ClientGuard, shared: Arc<ClientShared<T, E, H>>) -> Self {
        Self { inner, guard: Some(guard), shared }
    }
}

impl<F, T, E, H> fmt::Debug for ClientResponseFuture<F, T, E, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseFuture").finish_non_exhaustive()
    }
}

impl<F, T, E, Q, P, B, Err> Future for ClientResponseFuture<F, T, E, ClientHooks<Q, P>>
where
    F: Future<Output = Result<http::Response<B>, Err>>,
    B: http_body::Body,
    E: ErrorType<Err>,
    P: ResponseHook<http::Response<B>>,
{
    type Output = Result<http::Response<OtelClientBody<B>>, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.guard.as_mut().map(|guard| {
            guard.polling = true;
            guard.cx.clone().attach()
        });
        let polled = this.inner.poll(cx);
        // Not reached when the client panics: the guard, dropped still polling, records the panic.
        if let Some(guard) = this.guard.as_mut() {
            guard.polling = false;
        }
        let result = ready!(polled);
        let Some(guard) = this.guard.take() else {
            return Poll::Ready(result.map(|response| response.map(|body| OtelClientBody::new(body, None))));
        };
        let shared = &**this.shared;
        Poll::Ready(match result {
            Ok(response) => {
                let guard = guard.response(&response, shared);
                Ok(response.map(|body| OtelClientBody::new(body, guard)))
            }
            Err(error) => {
                guard.fail(shared.error_type.error_type(&error), "the request failed", shared);
                Err(error)
            }
        })
    }
}

/// Owns the CLIENT span (inside its context) until the call ends; dropped unended, it ends the
/// span: with Error when dropped during a poll (the client panicked), else without (the caller
/// cancelled; a gRPC call is then `CANCELLED`).
pub(crate) struct ClientGuard {
    cx: Context,
    recording: bool,
    metric: Option<ClientRequestStart>,
    /// A gRPC call: its span ends with its status, not with the response head.
    call: Option<Box<GrpcCall>>,
    ended: bool,
    polling: bool,
}

impl ClientGuard {
    pub(crate) fn new(
        cx: Context,
        recording: bool,
        metric: Option<ClientRequestStart>,
        call: Option<GrpcCall>,
    ) -> Self {
        Self { cx, recording, metric, call: call.map(Box::new), ended: false, polling: false }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Whether the span records (the sampler kept it).
    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    /// The response head arrived: an HTTP call ends here; a gRPC call ends here only when the
    /// head carries its status, and otherwise is returned to go on with the body.
    fn response<B, T, E, Q, P>(
        mut self,
        response: &http::Response<B>,
        shared: &ClientShared<T, E, ClientHooks<Q, P>>,
    ) -> Option<Self>
    where
        P: ResponseHook<http::Response<B>>,
    {
        let status = response.status().as_u16();
        if let Some(call) = &mut self.call {
            call.response_head(status, Some(response.headers()));
            if self.recording {
                shared.hooks.response.on_response(&self.cx.span(), response);
            }
            if call.status().is_none() {
                return Some(self);
            }
            self.end_call(CallEnd::Finished);
            return None;
        }
        self.ended = true;
        let version = protocol_version(response.version());
        if self.recording {
            let span = self.cx.span();
            record_client_response(&span, status, version, Some(response.headers()), &shared.config);
            shared.hooks.response.on_response(&span, response);
            span.end();
        }
        self.record_metric(shared, Some(status), client_error_type(status), version);
        None
    }

    fn fail<T, E, H>(mut self, error_type: Cow<'static, str>, message: &str, shared: &ClientShared<T, E, H>) {
        if self.call.is_some() {
            return self.end_call(CallEnd::Failed(error_type, message));
        }
        self.ended = true;
        if self.recording {
            let span = self.cx.span();
            record_client_failure(&span, error_type.clone(), message);
            span.end();
        }
        self.record_metric(shared, None, Some(error_type), None);
    }

    /// The gRPC call's trailers arrived.
    pub(crate) fn trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(call) = &mut self.call {
            call.trailers(trailers);
        }
    }

    /// Ends a gRPC call's span and metric.
    pub(crate) fn end_call(&mut self, end: CallEnd<'_>) {
        self.ended = true;
        if let Some(call) = self.call.take() {
            let span = self.recording.then(|| self.cx.span());
            call.end(span.as_ref(), end);
            if let Some(span) = span {
                span.end();
            }
        }
    }

    fn record_metric<T, E, H>(
        &mut self,
        shared: &ClientShared<T, E, H>,
        status: Option<u16>,
        error_type: Option<Cow<'static, str>>,
        protocol_version: Option<&'static str>,
    ) {
        if let Some(metric) = self.metric.take() {
            shared.metrics.with(|metrics| metrics.http.finish(metric, status, error_type, protocol_version));
        }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if self.call.is_some() {
            let end = match self.polling {
                true => CallEnd::Failed(Cow::Borrowed(ERROR_TYPE_PANIC), "the client panicked"),
                false => CallEnd::Dropped,
            };
            return self.end_call(end);
        }
        if self.recording {
            let span = self.cx.span();
            if self.polling {
                record_client_failure(&span, ERROR_TYPE_PANIC, "the client panicked");
            }
            span.end();
        }
    }
}
