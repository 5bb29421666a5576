//! One request's telemetry, from its start to the end of its response body: the context made
//! current during every poll, and the span and metrics ended exactly once.
//!
//! The span ends when the body ends or fails, when the request fails before a response, or when
//! this value is dropped: a drop during a poll (the poll never returned) is a panic, a drop
//! before the response head is a cancellation, and a drop after it (a body dropped before its
//! end: the client went away, or an empty body never polled) leaves the response's status
//! standing. A gRPC call's span ends with the status its response head or trailers carried, and
//! a call dropped before any is `CANCELLED`.

use crate::metrics::{ActiveServerRequest, RequestOutcome};
use crate::propagation::HeaderSource;
use crate::semconv::http::{
    ERROR_TYPE_CANCELLED, ERROR_TYPE_OTHER, ERROR_TYPE_PANIC, record_failure, server_error_type,
};
use crate::semconv::rpc::{CallEnd, GrpcCall};
use opentelemetry::trace::{SpanContext, SpanRef, TraceContextExt};
use opentelemetry::{Context, ContextGuard};
use std::borrow::Cow;
use std::cell::Cell;

/// Where the request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The handler runs; no response yet.
    Handler,
    /// The response head is out; its body is streaming.
    Body,
    /// Nothing left to end: the span and metrics ended, or the request never had them.
    Done,
}

/// One request's telemetry, made by [`ServerTelemetry::start`](super::ServerTelemetry::start)
/// and carried by the adapter through the handler's future and then the response body.
///
/// It is one of three things: a request with a span (recording or not), a request that only
/// carries the caller's context (excluded), or nothing (a request that passes through
/// untouched, and what is left once the span ended).
#[derive(Debug)]
pub struct RequestTelemetry {
    /// Current during every poll: the server span's context, or an excluded request's incoming
    /// context. `None`: nothing to attach.
    cx: Option<Context>,
    /// Whether `cx` holds a recording span this request must end.
    recording: bool,
    phase: Phase,
    /// Set while a poll runs: still set on drop means the poll panicked.
    polling: bool,
    /// Whether `http.route` is known (at start, or once the router told it).
    route_known: bool,
    status: Option<u16>,
    /// What the end records beyond the span.
    tail: Option<Tail>,
}

/// What a request's end records beyond its span, boxed: a request carries a pointer for it (and
/// nothing when there is nothing: an HTTP request without metrics). Carried inline, it would be
/// copied with the adapter's future at every move, which costs every request more than the box.
#[derive(Debug)]
enum Tail {
    /// An HTTP request's metrics.
    Http(Box<ActiveServerRequest>),
    /// A gRPC call: its status and metric, instead of HTTP's.
    Grpc(Box<GrpcCall>),
}

thread_local! {
    /// A finished request's metrics box, for the thread's next request: the box is then not
    /// allocated and freed for every request.
    static SPARE: Cell<Option<Box<ActiveServerRequest>>> = const { Cell::new(None) };
}

/// `metrics` in the thread's spare box, or a new one.
#[inline]
fn boxed(metrics: ActiveServerRequest) -> Box<ActiveServerRequest> {
    match SPARE.try_with(Cell::take).ok().flatten() {
        Some(mut spare) => {
            *spare = metrics;
            spare
        }
        None => Box::new(metrics),
    }
}

/// Keeps a finished request's box as the thread's spare.
#[inline]
fn recycle(finished: Box<ActiveServerRequest>) {
    let _ = SPARE.try_with(|spare| spare.set(Some(finished)));
}

/// How the request's span and metrics end.
enum Ending<'a> {
    /// The response body ended.
    Finished,
    /// Dropped, not during a poll: before the response head (cancelled), or with the body
    /// unfinished (the client went away).
    Dropped,
    /// Failed: `error.type` and a message.
    Failed(&'static str, &'a str),
}

/// Nothing to attach or end: a request that passes through.
impl Default for RequestTelemetry {
    #[inline]
    fn default() -> Self {
        Self::excluded(None)
    }
}

impl RequestTelemetry {
    /// A request with a span (in `cx`).
    #[inline]
    pub(crate) fn started(
        cx: Context,
        recording: bool,
        metrics: Option<ActiveServerRequest>,
        route_known: bool,
    ) -> Self {
        Self {
            cx: Some(cx),
            recording,
            phase: Phase::Handler,
            polling: false,
            route_known,
            status: None,
            tail: metrics.map(|metrics| Tail::Http(boxed(metrics))),
        }
    }

    /// A gRPC call with a span (in `cx`).
    pub(crate) fn call(cx: Context, recording: bool, call: GrpcCall) -> Self {
        let mut telemetry = Self::started(cx, recording, None, true);
        telemetry.tail = Some(Tail::Grpc(Box::new(call)));
        telemetry
    }

    /// An excluded request: no span, but the caller's context (if any) is current while it is
    /// served.
    #[inline]
    pub(crate) fn excluded(cx: Option<Context>) -> Self {
        Self { cx, recording: false, phase: Phase::Done, polling: false, route_known: false, status: None, tail: None }
    }

    /// Whether there is nothing to attach or end: the adapter may hand the request and its body
    /// on untouched.
    #[inline]
    pub fn passes_through(&self) -> bool {
        self.cx.is_none()
    }

    /// Makes the request's context current until the guard drops (for a framework that does
    /// work when the handler is called, before its future is polled).
    #[inline]
    pub fn attach(&self) -> Option<ContextGuard> {
        self.cx.as_ref().map(|cx| cx.clone().attach())
    }

    /// Runs one poll of the handler's future or of the response body (and what the adapter does
    /// with its result) with the request's context current. A panic inside ends the span with
    /// `error.type` = `panic` when this value is dropped.
    #[inline]
    pub fn poll<R>(&mut self, poll: impl FnOnce(&mut Self) -> R) -> R {
        let _current = self.attach();
        self.polling = true;
        let result = poll(self);
        self.polling = false;
        result
    }

    /// Takes the telemetry out, for the response body, leaving one that passes through. Called
    /// inside [`poll`](Self::poll) once the handler answered: the poll that returns is not the
    /// body's.
    #[inline]
    pub fn take(&mut self) -> Self {
        let mut taken = std::mem::take(self);
        taken.polling = false;
        taken
    }

    /// Ends the span and the metrics normally, with the status the response gave: the body
    /// ended. An excluded request lets go of its context.
    #[inline]
    pub fn end(&mut self) {
        self.finish(Ending::Finished);
    }

    /// Ends the span and the metrics as failed: Error, `error.type` (a low-cardinality name such
    /// as `_OTHER`), an `exception` event with `message` (never request data).
    pub fn fail(&mut self, error_type: &'static str, message: &str) {
        self.finish(Ending::Failed(error_type, message));
    }

    /// Ends the span and the metrics because the response body failed while streaming: Error,
    /// `error.type` `_OTHER` (a body error's type is the framework's, not the application's).
    pub fn body_failed(&mut self) {
        self.fail(ERROR_TYPE_OTHER, "the response body failed");
    }

    /// Reads the trailers at the end of the response body: a gRPC call's `grpc-status`. Called
    /// by adapters whose bodies carry trailers, before [`end`](Self::end).
    pub fn trailers(&mut self, trailers: &(impl HeaderSource + ?Sized)) {
        if let Some(call) = self.grpc_mut() {
            call.trailers(trailers);
        }
    }

    fn finish(&mut self, ending: Ending<'_>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        let Some(cx) = self.cx.take() else { return };
        if phase == Phase::Done {
            return;
        }
        let metrics = match self.tail.take() {
            Some(Tail::Grpc(call)) => return self.end_call(*call, &cx, ending),
            Some(Tail::Http(metrics)) => Some(metrics),
            None => None,
        };
        let failure = match ending {
            Ending::Failed(error_type, message) => Some((error_type, message)),
            Ending::Dropped if phase == Phase::Handler => {
                Some((ERROR_TYPE_CANCELLED, "the request was cancelled before a response"))
            }
            // The body was dropped before its end: the response's status tells how it went.
            Ending::Finished | Ending::Dropped => None,
        };
        if self.recording {
            let span = cx.span();
            if let Some((error_type, message)) = failure {
                record_failure(&span, error_type, message);
            }
            span.end();
        }
        if let Some(mut metrics) = metrics {
            let error_type = match failure {
                Some((error_type, _)) => Some(Cow::Borrowed(error_type)),
                None => self.status.and_then(server_error_type),
            };
            metrics.finish(RequestOutcome { status: self.status, error_type });
            recycle(metrics);
        }
    }

    /// [`Drop`] for a request not yet ended: out of line, so that the adapters' futures and
    /// bodies, which drop a `RequestTelemetry` in many places, inline only the phase check.
    #[inline(never)]
    fn drop_unfinished(&mut self) {
        match (self.phase, self.polling) {
            (Phase::Done, _) => {}
            (Phase::Handler, true) => self.fail(ERROR_TYPE_PANIC, "the request handler panicked"),
            (Phase::Body, true) => self.fail(ERROR_TYPE_PANIC, "the response body panicked"),
            (Phase::Handler | Phase::Body, false) => self.finish(Ending::Dropped),
        }
    }

    /// Ends a gRPC call's span and metric. Out of line: an HTTP request's end stays small.
    #[inline(never)]
    fn end_call(&self, call: GrpcCall, cx: &Context, ending: Ending<'_>) {
        let span = self.recording.then(|| cx.span());
        call.end(
            span.as_ref(),
            match ending {
                Ending::Finished => CallEnd::Finished,
                Ending::Dropped => CallEnd::Dropped,
                Ending::Failed(error_type, message) => CallEnd::Failed(error_type.into(), message),
            },
        );
        if let Some(span) = span {
            span.end();
        }
    }

    /// The span, when it records and has not ended.
    #[inline]
    pub(crate) fn recording_span(&self) -> Option<SpanRef<'_>> {
        self.cx.as_ref().filter(|_| self.recording && self.phase != Phase::Done).map(Context::span)
    }

    /// The span's context, when there is a span that has not ended (recording or not).
    #[inline]
    pub(crate) fn span_context(&self) -> Option<SpanContext> {
        self.cx.as_ref().filter(|_| self.phase != Phase::Done).map(|cx| cx.span().span_context().clone())
    }

    /// Whether a route told only after routing is still wanted: unknown, and a span or a metric
    /// would record it.
    #[inline]
    pub(crate) fn wants_route(&self) -> bool {
        !self.route_known && self.phase != Phase::Done && (self.recording || matches!(self.tail, Some(Tail::Http(_))))
    }

    /// The route the router matched, for the metrics.
    pub(crate) fn set_route(&mut self, route: Cow<'static, str>) {
        self.route_known = true;
        if let Some(Tail::Http(metrics)) = &mut self.tail {
            metrics.set_route(route);
        }
    }

    /// The gRPC call this request is, if it is one.
    #[inline]
    pub(crate) fn grpc_mut(&mut self) -> Option<&mut GrpcCall> {
        match &mut self.tail {
            Some(Tail::Grpc(call)) => Some(call),
            _ => None,
        }
    }

    /// The response head is out with `status`.
    #[inline]
    pub(crate) fn responded(&mut self, status: u16) {
        if self.phase == Phase::Handler {
            self.status = Some(status);
            self.phase = Phase::Body;
        }
    }
}

impl Drop for RequestTelemetry {
    #[inline]
    fn drop(&mut self) {
        if self.phase == Phase::Done {
            return;
        }
        self.drop_unfinished();
    }
}
