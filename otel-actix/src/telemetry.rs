//! What one request carries from the handler's future into the response body, and the one place
//! where its span and metrics end.
//!
//! The span ends exactly once: when the body ends, fails, or is dropped, or when the request
//! fails before a response. A [`Drop`] implementation covers everything else: a panic during a
//! poll (detected because the poll never returned) and cancellation (the future was dropped).

use opentelemetry::trace::{SpanRef, TraceContextExt};
use opentelemetry::{Context, ContextGuard};
use otel_core::metrics::{ActiveServerRequest, RequestOutcome};
use otel_core::semconv::http::{ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC, record_server_failure, server_error_type};
use std::borrow::Cow;

/// Where the request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The handler (and the services inside the middleware) run; no response yet.
    Handler,
    /// The response head is out; its body is streaming.
    Body,
    /// Span and metrics are finished.
    Done,
}

/// One request's telemetry.
#[derive(Debug)]
pub(crate) struct Telemetry {
    /// Current during every poll: the server span, or for a request without one (excluded,
    /// unsampled) the context the request arrived with.
    cx: Context,
    /// Whether `cx` holds a recording span this request must end.
    recording: bool,
    metrics: Option<ActiveServerRequest>,
    /// Whether `http.route` is known (the middleware wraps a resource, or the response told it).
    pub(crate) route_known: bool,
    pub(crate) status: Option<u16>,
    phase: Phase,
    /// Set while a poll of the inner future or body runs: still set on drop means it panicked.
    polling: bool,
}

impl Telemetry {
    pub(crate) fn new(cx: Context, recording: bool, metrics: Option<ActiveServerRequest>, route_known: bool) -> Self {
        Self { cx, recording, metrics, route_known, status: None, phase: Phase::Handler, polling: false }
    }

    /// An excluded request that carried a context: no span, but `cx` is made current while
    /// the request is served.
    pub(crate) fn excluded(cx: Context) -> Self {
        Self::new(cx, false, None, false)
    }

    /// Whether a span is recorded for this request.
    pub(crate) fn is_recording(&self) -> bool {
        self.recording
    }

    /// Whether metrics are recorded for this request.
    pub(crate) fn has_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// The route the router matched, for the duration metric.
    pub(crate) fn set_metrics_route(&mut self, route: Cow<'static, str>) {
        if let Some(metrics) = &mut self.metrics {
            metrics.set_route(route);
        }
    }

    /// The request's span (a no-op when not recording).
    pub(crate) fn span(&self) -> SpanRef<'_> {
        self.cx.span()
    }

    /// Makes the request's context current until the guard drops.
    pub(crate) fn attach(&self) -> ContextGuard {
        self.cx.clone().attach()
    }

    /// Runs one poll of the inner future or body, noting a panic (the caller attaches the
    /// context).
    pub(crate) fn poll<R>(&mut self, poll: impl FnOnce() -> R) -> R {
        self.polling = true;
        let result = poll();
        self.polling = false;
        result
    }

    /// The response head is out: from now on, dropping is a normal end.
    pub(crate) fn responded(&mut self, status: u16) {
        self.status = Some(status);
        self.phase = Phase::Body;
    }

    /// Ends span and metrics, with `failure` = (`error.type`, message) when the request failed
    /// without a response status to say so.
    pub(crate) fn finish(&mut self, failure: Option<(&'static str, &str)>) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        if self.recording {
            let span = self.cx.span();
            if let Some((error_type, message)) = failure {
                record_server_failure(&span, error_type, message);
            }
            span.end();
        }
        if let Some(metrics) = self.metrics.take() {
            let error_type = match failure {
                Some((error_type, _)) => Some(Cow::Borrowed(error_type)),
                None => self.status.and_then(server_error_type),
            };
            metrics.finish(RequestOutcome { status: self.status, error_type });
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        match self.phase {
            Phase::Done => {}
            Phase::Handler if self.polling => self.finish(Some((ERROR_TYPE_PANIC, "the request handler panicked"))),
            Phase::Body if self.polling => self.finish(Some((ERROR_TYPE_PANIC, "the response body panicked"))),
            Phase::Handler => self.finish(Some((ERROR_TYPE_CANCELLED, "the request was cancelled before a response"))),
            // The body was dropped before its end: an empty body actix never polls, or a client
            // that went away. The response status already tells how the request went.
            Phase::Body => self.finish(None),
        }
    }
}
