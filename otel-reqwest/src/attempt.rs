//! One attempt on the wire: its span (ended exactly once) and its duration metric.
//!
//! The span ends when the response headers arrive or the request fails ([`Attempt::finish`]),
//! or, when the caller drops the request future first, on `Drop`: a cancelled request ends its
//! span with status Unset and records no metric, since nothing was learnt about the server.

use crate::error::{error_message, error_type};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use otel_core::config::HttpClientConfig;
use otel_core::hooks::ResponseHook;
use otel_core::metrics::{ClientRequestStart, HttpClientMetrics, Instruments};
use otel_core::semconv::http::{client_error_type, protocol_version, record_client_failure, record_client_response};
use reqwest::Response;
use std::borrow::Cow;

/// An attempt in flight; ends its span exactly once, whatever happens to the request.
///
/// The span is a recording one, held in a context where hooks and the semconv helpers reach
/// it. A span that records nothing was ended as soon as its context was injected: there is
/// nothing to add to it, and its end time is never seen.
#[derive(Debug)]
pub(crate) struct Attempt {
    span: Option<Context>,
    metric: Option<ClientRequestStart>,
}

impl Attempt {
    pub(crate) fn new(span: Option<Context>, metric: Option<ClientRequestStart>) -> Self {
        Self { span, metric }
    }

    /// Records the outcome on the span (when it records) and the metric (when on), then ends
    /// the span.
    #[inline]
    pub(crate) fn finish(
        self,
        result: &reqwest_middleware::Result<Response>,
        config: &HttpClientConfig,
        response_hook: &impl ResponseHook<Response>,
        metrics: &Instruments<HttpClientMetrics>,
    ) {
        // The unsampled request without metrics has nothing to record: no call at all.
        if self.span.is_some() || self.metric.is_some() {
            self.record(result, config, response_hook, metrics);
        }
    }

    fn record(
        mut self,
        result: &reqwest_middleware::Result<Response>,
        config: &HttpClientConfig,
        response_hook: &impl ResponseHook<Response>,
        metrics: &Instruments<HttpClientMetrics>,
    ) {
        if let Some(cx) = self.span.take() {
            let span = cx.span();
            match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let version = protocol_version(response.version());
                    record_client_response(&span, status, version, Some(response.headers()), config);
                    response_hook.on_response(&span, response);
                }
                Err(error) => {
                    let message = error_message(error, config.sensitive_query_parameters());
                    record_client_failure(&span, error_type(error), &message);
                }
            }
            span.end();
        }
        if let Some(metric) = self.metric.take() {
            let (status, error_type, protocol_version) = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (Some(status), client_error_type(status), protocol_version(response.version()))
                }
                Err(error) => (None, Some(Cow::Borrowed(error_type(error))), None),
            };
            metrics.with(|metrics| metrics.finish(metric, status, error_type, protocol_version));
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        // Only reached with a span when the request future was dropped before it finished.
        if let Some(cx) = self.span.take() {
            cx.span().end();
        }
    }
}
