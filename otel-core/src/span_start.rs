//! Starting an adapter's span so that a request the sampler drops costs as little as possible.
//!
//! The conventions want a request's attributes in the span builder, for the sampler; computing
//! them costs allocations that are wasted when the sampler drops the span. [`start_span`] puts
//! them in the builder when the sampler kept the previous span with the same kind of parent
//! (none, sampled, unsampled), and otherwise computes them after start, only for a span that
//! records. Samplers that decide from the parent and the trace id (all the SDK's) are thereby
//! predicted after one request. A sampler that reads attributes should see them every time:
//! [`SamplingHint::new`] with `always` = true.

use opentelemetry::trace::{Span as _, SpanBuilder, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the sampler kept the last span, per kind of parent.
#[derive(Debug)]
pub struct SamplingHint {
    always: bool,
    kept: [AtomicBool; 3],
}

impl SamplingHint {
    /// `always`: give the sampler the attributes on every request.
    pub fn new(always: bool) -> Self {
        Self { always, kept: [AtomicBool::new(true), AtomicBool::new(true), AtomicBool::new(true)] }
    }

    fn slot(&self, parent: &Context) -> &AtomicBool {
        let span = parent.span();
        let parent = span.span_context();
        &self.kept[match (parent.is_valid(), parent.is_sampled()) {
            (false, _) => 0,
            (true, true) => 1,
            (true, false) => 2,
        }]
    }
}

/// A started span, made the current span of a context.
#[derive(Debug)]
pub struct Started {
    /// The parent context with the new span in it.
    pub cx: Context,
    /// Whether the span records (sampled, or record-only).
    pub recording: bool,
}

/// Starts the span `builder` describes under `parent`. A span that does not record is not put
/// in the context: its span context alone carries the trace downstream, and costs no box.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use otel_core::span_start::{SamplingHint, start_span};
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("doc");
/// let hint = SamplingHint::new(false);
/// let started = start_span(&tracer, tracer.span_builder("GET"), &opentelemetry::Context::new(), &hint, || {
///     vec![KeyValue::new("url.path", "/users/7")]
/// });
/// assert!(started.recording);
/// ```
pub fn start_span<T>(
    tracer: &T,
    builder: SpanBuilder,
    parent: &Context,
    hint: &SamplingHint,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Started
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    start_span_named(tracer, builder, parent, hint, None::<fn() -> Cow<'static, str>>, attributes)
}

/// [`start_span`] whose full name is also computed only for a span that may record: `builder`
/// carries a name that costs nothing (the HTTP method), the sampler sees it when the span is
/// predicted to be dropped, and a span that records anyway is renamed with `name`.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use otel_core::span_start::{SamplingHint, start_span_named};
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("doc");
/// let hint = SamplingHint::new(false);
/// let started = start_span_named(&tracer, tracer.span_builder("GET"), &opentelemetry::Context::new(), &hint,
///     Some(|| "GET /users/{id}".into()), Vec::new);
/// assert!(started.recording);
/// ```
#[inline]
pub fn start_span_named<T>(
    tracer: &T,
    builder: SpanBuilder,
    parent: &Context,
    hint: &SamplingHint,
    name: Option<impl FnOnce() -> Cow<'static, str>>,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Started
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let (span, recording) = start_bare_span(tracer, builder, parent, hint, name, attributes);
    if !recording {
        return Started { cx: parent.with_remote_span_context(span.span_context().clone()), recording: false };
    }
    Started { cx: parent.with_span(span), recording: true }
}

/// [`start_span_named`] without the context: the span itself and whether it records, for an
/// adapter whose span is a leaf it ends itself (nothing runs inside it), so that no context (an
/// `Arc`, and a box around the span) is built.
///
/// ```
/// use opentelemetry::trace::{Span, Tracer, TracerProvider};
/// use otel_core::span_start::{SamplingHint, start_bare_span};
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("doc");
/// let hint = SamplingHint::new(false);
/// let (mut span, recording) = start_bare_span(&tracer, tracer.span_builder("send orders"),
///     &opentelemetry::Context::new(), &hint, None::<fn() -> std::borrow::Cow<'static, str>>, Vec::new);
/// assert!(recording);
/// span.end();
/// ```
#[inline]
pub fn start_bare_span<T: Tracer>(
    tracer: &T,
    mut builder: SpanBuilder,
    parent: &Context,
    hint: &SamplingHint,
    name: Option<impl FnOnce() -> Cow<'static, str>>,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> (T::Span, bool) {
    let slot = hint.slot(parent);
    let predicted = hint.always || slot.load(Ordering::Relaxed);
    let mut attributes = Some(attributes);
    let mut name = name;
    if predicted {
        if let Some(name) = name.take() {
            builder.name = name();
        }
        builder.attributes = attributes.take().map(|f| f());
    }
    let mut span = tracer.build_with_context(builder, parent);
    let recording = span.is_recording();
    if recording != predicted {
        slot.store(recording, Ordering::Relaxed);
    }
    if recording {
        if let Some(name) = name {
            span.update_name(name());
        }
        if let Some(attributes) = attributes {
            span.set_attributes(attributes());
        }
    }
    (span, recording)
}
