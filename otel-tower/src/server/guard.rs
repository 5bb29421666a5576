//! The server span's lifetime: it ends exactly once, whether the response body finishes, fails
//! or is dropped, the handler panics, or the request is cancelled.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, ContextGuard};
use otel_core::config::HttpServerConfig;
use otel_core::metrics::{ActiveServerRequest, RequestOutcome};
use otel_core::semconv::http::{record_server_failure, record_server_response, server_error_type};
use std::borrow::Cow;

pub use otel_core::semconv::http::{ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC};

/// What a request's future and then its response body carry.
#[derive(Default)]
pub(crate) enum Scope {
    /// Nothing to attach or end (after the span ended).
    #[default]
    Empty,
    /// An excluded request: no span, but the incoming context is made current.
    Context(Context),
    /// A request with a span.
    Span(SpanGuard),
}

impl Scope {
    /// Makes the request's context current until the guard drops.
    #[inline]
    pub(crate) fn attach(&self) -> Option<ContextGuard> {
        match self {
            Self::Empty => None,
            Self::Context(cx) => Some(cx.clone().attach()),
            Self::Span(guard) => Some(guard.cx.clone().attach()),
        }
    }

    /// Ends the span normally, with the status its response gave.
    pub(crate) fn end(&mut self) {
        if let Self::Span(guard) = self {
            guard.end();
            *self = Self::Empty;
        }
    }

    /// Ends the span as failed.
    pub(crate) fn fail(&mut self, error_type: &'static str, message: &str) {
        if let Self::Span(guard) = self {
            guard.fail(error_type, message);
            *self = Self::Empty;
        }
    }

    /// For [`crate::unwind::OnUnwind`]: a poll that panics ends the span with `error.type` = `panic`.
    pub(crate) fn fail_on_panic(&mut self) {
        self.fail(ERROR_TYPE_PANIC, "the handler panicked");
    }
}

/// Owns the server span (inside its context) and the active-request metric until the end.
pub(crate) struct SpanGuard {
    cx: Context,
    recording: bool,
    status: Option<u16>,
    active: Option<ActiveServerRequest>,
    ended: bool,
}

impl SpanGuard {
    pub(crate) fn new(cx: Context, recording: bool, active: Option<ActiveServerRequest>) -> Self {
        Self { cx, recording, status: None, active, ended: false }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    pub(crate) fn is_recording(&self) -> bool {
        self.recording
    }

    /// Records the response head: status code, allow-listed headers, Error for a 5xx.
    pub(crate) fn record_response(&mut self, status: u16, headers: &http::HeaderMap, config: &HttpServerConfig) {
        self.status = Some(status);
        if self.recording {
            record_server_response(&self.cx.span(), status, Some(headers), config);
        }
    }

    fn end(&mut self) {
        self.ended = true;
        if self.recording {
            self.cx.span().end();
        }
        let error_type = self.status.and_then(server_error_type);
        self.finish_metrics(error_type);
    }

    fn fail(&mut self, error_type: &'static str, message: &str) {
        self.ended = true;
        if self.recording {
            let span = self.cx.span();
            record_server_failure(&span, error_type, message);
            span.end();
        }
        self.finish_metrics(Some(Cow::Borrowed(error_type)));
    }

    fn finish_metrics(&mut self, error_type: Option<Cow<'static, str>>) {
        if let Some(active) = self.active.take() {
            active.finish(RequestOutcome { status: self.status, error_type });
        }
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if std::thread::panicking() {
            self.fail(ERROR_TYPE_PANIC, "the handler panicked");
        } else if self.status.is_some() {
            // The response was sent and its body dropped before its end (the client went away):
            // the response's own status stands.
            self.end();
        } else {
            self.fail(ERROR_TYPE_CANCELLED, "the request was cancelled before a response");
        }
    }
}
