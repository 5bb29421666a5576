//! One gRPC call from its start to its end, on either side: its status as the response head or
//! the trailers tell it, and its span and metric ended from that status.

use super::{GrpcStatus, RPC_RESPONSE_STATUS_CODE, RpcMethod, Side, error_type, record_status};
use crate::metrics::{RpcCallMetrics, RpcCallStart};
use crate::propagation::HeaderSource;
use crate::semconv::http::record_failure;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanRef;
use std::borrow::Cow;

/// A gRPC call in flight: what its end needs to record.
#[derive(Debug)]
pub struct GrpcCall {
    side: Side,
    method: RpcMethod,
    /// The status the server sent (or a non-200 HTTP status implies).
    status: Option<GrpcStatus>,
    /// Whether a response head arrived.
    answered: bool,
    metric: Option<(RpcCallMetrics, RpcCallStart)>,
}

/// How a call ended.
#[derive(Debug)]
pub enum CallEnd<'a> {
    /// The response stream ended: the status is the one the server sent (`UNKNOWN` if it sent
    /// none).
    Finished,
    /// The call, or its response stream, was dropped before its end: the caller went away
    /// (`CANCELLED`, unless a status had arrived).
    Dropped,
    /// The call failed without a status (a transport error, a panic): `error.type` and a message
    /// that never carries request data.
    Failed(Cow<'static, str>, &'a str),
}

impl GrpcCall {
    /// A call to `method`, timed by `metric` when metrics are on.
    pub fn new(side: Side, method: RpcMethod, metric: Option<(RpcCallMetrics, RpcCallStart)>) -> Self {
        Self { side, method, status: None, answered: false, metric }
    }

    /// The call's method.
    pub fn method(&self) -> &RpcMethod {
        &self.method
    }

    /// The status known so far.
    pub fn status(&self) -> Option<GrpcStatus> {
        self.status
    }

    /// Reads the response head: the `grpc-status` of a trailers-only response (the usual form of
    /// an error), or for an HTTP status other than 200 the code gRPC maps it to (a proxy or a
    /// layer answered, not the service).
    pub fn response_head(&mut self, http_status: u16, headers: Option<&(impl HeaderSource + ?Sized)>) {
        self.answered = true;
        if let Some(value) = headers.and_then(|headers| headers.first(super::GRPC_STATUS_HEADER)) {
            self.status = Some(GrpcStatus::parse(value));
        } else if http_status != 200 {
            self.status = Some(GrpcStatus::from_http_status(http_status));
        }
    }

    /// Reads the trailers at the end of the response stream: its `grpc-status`.
    pub fn trailers(&mut self, trailers: &(impl HeaderSource + ?Sized)) {
        if let Some(value) = trailers.first(super::GRPC_STATUS_HEADER) {
            self.status = Some(GrpcStatus::parse(value));
        }
    }

    /// Ends the call: on `span` (when it records) `rpc.response.status_code`, and by the side's
    /// rule `error.type` and the Error status; a method the server answered `UNIMPLEMENTED`
    /// or never answered is `_OTHER` (see [`RpcMethod`]); the duration metric with the same
    /// outcome. The span
    /// itself is the caller's to end.
    pub fn end(self, span: Option<&SpanRef<'_>>, end: CallEnd<'_>) {
        let status = match &end {
            CallEnd::Finished => Some(self.status.unwrap_or(GrpcStatus::UNKNOWN)),
            CallEnd::Dropped => Some(self.status.unwrap_or(GrpcStatus::CANCELLED)),
            CallEnd::Failed(..) => self.status,
        };
        // A response head without a status is a handler streaming its answer: a method served.
        let answer = self.status.or(self.answered.then_some(GrpcStatus::OK));
        let recognized = self.method.recognized(answer);
        if let Some(span) = span {
            self.method.record_decision(span, recognized);
            match (&end, status) {
                (CallEnd::Failed(error_type, message), status) => {
                    if let Some(status) = status {
                        span.set_attribute(KeyValue::new(RPC_RESPONSE_STATUS_CODE, status.name()));
                    }
                    record_failure(span, error_type.clone(), message);
                }
                (_, Some(status)) => record_status(span, self.side, status),
                (_, None) => {}
            }
        }
        self.method.learn(answer);
        if let Some((metrics, start)) = self.metric {
            let error_type = match end {
                CallEnd::Failed(error_type, _) => Some(error_type),
                _ => status.and_then(|status| error_type(self.side, status)).map(Cow::Borrowed),
            };
            metrics.finish(start, self.method.attribute(recognized), status.map(GrpcStatus::name), error_type);
        }
    }
}
