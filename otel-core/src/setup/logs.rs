//! Trace ids in log lines: a `tracing-subscriber` event format that adds the current span's
//! `trace_id`, `span_id` and `sampled` flag to every event, so a log line leads to its trace.
//!
//! "Current span" is the current OpenTelemetry [`Context`]: the one this project's adapters
//! attach while a request is handled, and the one tracing-opentelemetry attaches when one of its
//! bridged `tracing` spans is entered (its context activation, on by default). An event with no
//! valid current span gets no trace fields.
//!
//! Wrap the fmt layer's event format, text or JSON:
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(otel_core::setup::logs::text_layer());
//! // or with(otel_core::setup::logs::json_layer()), or any fmt layer with
//! // .event_format(otel_core::setup::logs::TraceIdFormat::text(your_format))
//! tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
//! ```
//!
//! Text lines start with `trace_id=… span_id=… sampled=true` (written before the wrapped format's
//! output, so its colors and layout stay as they are); JSON objects get `"trace_id"`,
//! `"span_id"` and `"sampled"` as their first keys.

use opentelemetry::Context;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An event format that adds the current trace ids to what `inner` writes.
#[derive(Clone, Debug)]
pub struct TraceIdFormat<F> {
    inner: F,
    json: bool,
}

impl<F> TraceIdFormat<F> {
    /// For a text format (`Full`, `Compact`, `Pretty`, your own): the line starts with
    /// `trace_id=<32 hex> span_id=<16 hex> sampled=<bool> `.
    pub fn text(inner: F) -> Self {
        Self { inner, json: false }
    }

    /// For a format that writes one JSON object per event: the object gets `"trace_id"`,
    /// `"span_id"` (hex strings) and `"sampled"` (a boolean) as its first keys.
    pub fn json(inner: F) -> Self {
        Self { inner, json: true }
    }
}

/// The ids of the current valid span, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// The trace id.
    pub trace_id: TraceId,
    /// The span id.
    pub span_id: SpanId,
    /// Whether the span is sampled.
    pub sampled: bool,
}

impl TraceIds {
    /// The current OpenTelemetry context's span, when it is valid.
    pub fn current() -> Option<Self> {
        Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid().then(|| Self { trace_id: sc.trace_id(), span_id: sc.span_id(), sampled: sc.is_sampled() })
        })
    }
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let Some(ids) = TraceIds::current() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let TraceIds { trace_id, span_id, sampled } = ids;
        if !self.json {
            write!(writer, "trace_id={trace_id} span_id={span_id} sampled={sampled} ")?;
            return self.inner.format_event(ctx, writer, event);
        }
        let mut buffer = String::new();
        self.inner.format_event(ctx, Writer::new(&mut buffer), event)?;
        match buffer.strip_prefix('{') {
            Some(rest) => {
                let separator = if rest.trim_start().starts_with('}') { "" } else { "," };
                write!(
                    writer,
                    "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",\"sampled\":{sampled}{separator}{rest}"
                )
            }
            // Not an object after all: leave the output as it was.
            None => writer.write_str(&buffer),
        }
    }
}

/// A fmt layer in the default text format, with trace ids.
pub fn text_layer<S>() -> tracing_subscriber::fmt::Layer<S, DefaultFields, TraceIdFormat<Format<Full>>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().event_format(TraceIdFormat::text(Format::default()))
}

/// A fmt layer in the JSON format, with trace ids.
pub fn json_layer<S>() -> tracing_subscriber::fmt::Layer<S, JsonFields, TraceIdFormat<Format<Json>>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().json().event_format(TraceIdFormat::json(Format::default().json()))
}
