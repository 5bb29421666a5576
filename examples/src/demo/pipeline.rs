//! Business steps as custom spans: what an application adds on top of the automatic ones.

use opentelemetry::trace::{FutureExt, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use std::future::Future;

/// An error a step can fail with: it names itself for `error.type`.
pub(crate) trait StepError: std::error::Error {
    /// A short, low-cardinality name.
    fn error_type(&self) -> &'static str;
}

/// Runs `work` inside a span named `name`, a child of the current span, and ends it. The work
/// gets the span's context to add attributes and events; an `Err` becomes the span's error (an
/// `exception` event, `error.type`, Error status).
pub(crate) async fn step<T, E, F, Fut>(
    tracer: &impl Tracer<Span: Send + Sync + 'static>,
    name: &'static str,
    work: F,
) -> Result<T, E>
where
    E: StepError,
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let span = tracer.start(name);
    let cx = Context::current_with_span(span);
    let result = work(cx.clone()).with_context(cx.clone()).await;
    if let Err(error) = &result {
        let span = cx.span();
        span.record_error(error);
        span.set_attribute(KeyValue::new("error.type", error.error_type()));
        span.set_status(Status::error(error.to_string()));
    }
    cx.span().end();
    result
}

/// Sets an attribute on the span of `cx`.
pub(crate) fn attribute(cx: &Context, attribute: KeyValue) {
    cx.span().set_attribute(attribute);
}

/// Adds an event to the span of `cx`.
pub(crate) fn event(cx: &Context, name: &'static str, attributes: Vec<KeyValue>) {
    cx.span().add_event(name, attributes);
}
