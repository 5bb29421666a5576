//! Starting an adapter's span so that a request the sampler drops costs as little as possible.
//!
//! The conventions want a request's attributes in the span builder, for the sampler; computing
//! them costs allocations that are wasted when the sampler drops the span. [`start_span`] puts
//! them in the builder when the sampler kept the previous span with the same kind of parent
//! (none, sampled, unsampled), and otherwise computes them after start, only for a span that
//! records. Samplers that decide from the parent and the trace id (all the SDK's) are thereby
//! predicted after one request. A sampler that reads attributes should see them every time:
//! [`SamplingHint::new`] with `always` = true.

use opentelemetry::trace::{Link, Span, SpanBuilder, SpanKind, TraceContextExt, Tracer};
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

/// What an adapter's span starts with: its name, kind and links. The functions below build the
/// SDK's `SpanBuilder` from it right where the tracer takes it: a builder is a few hundred bytes,
/// and handing one over by value costs two copies of it per span.
#[derive(Debug)]
pub struct NewSpan {
    /// The span's name (for [`start_span_named`], the name that costs nothing).
    pub name: Cow<'static, str>,
    /// The span's kind.
    pub kind: SpanKind,
    /// Links, if any.
    pub links: Option<Vec<Link>>,
}

impl NewSpan {
    /// A span named `name` of kind `kind`, without links.
    pub fn new(name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Self {
        Self { name: name.into(), kind, links: None }
    }

    /// The same span with `links`.
    pub fn with_links(self, links: Vec<Link>) -> Self {
        Self { links: Some(links), ..self }
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

/// Starts the span `new` describes under `parent`. A span that does not record is not put
/// in the context: its span context alone carries the trace downstream, and costs no box.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::{SpanKind, TracerProvider};
/// use otel_core::internal::span_start::{NewSpan, SamplingHint, start_span};
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("doc");
/// let hint = SamplingHint::new(false);
/// let span = NewSpan::new("GET", SpanKind::Server);
/// let started = start_span(&tracer, span, &opentelemetry::Context::new(), &hint, || {
///     vec![KeyValue::new("url.path", "/users/7")]
/// });
/// assert!(started.recording);
/// ```
#[inline]
pub fn start_span<T>(
    tracer: &T,
    new: NewSpan,
    parent: &Context,
    hint: &SamplingHint,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Started
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    start_span_named(tracer, new, parent, hint, None::<fn() -> Cow<'static, str>>, attributes)
}

/// [`start_span`] whose full name is also computed only for a span that may record: `new`
/// carries a name that costs nothing (the HTTP method), the sampler sees it when the span is
/// predicted to be dropped, and a span that records anyway is renamed with `name`.
///
/// ```
/// use opentelemetry::trace::{SpanKind, TracerProvider};
/// use otel_core::internal::span_start::{NewSpan, SamplingHint, start_span_named};
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("doc");
/// let hint = SamplingHint::new(false);
/// let started = start_span_named(&tracer, NewSpan::new("GET", SpanKind::Server), &opentelemetry::Context::new(),
///     &hint, Some(|| "GET /users/{id}".into()), Vec::new);
/// assert!(started.recording);
/// ```
#[inline]
pub fn start_span_named<T>(
    tracer: &T,
    new: NewSpan,
    parent: &Context,
    hint: &SamplingHint,
    name: Option<impl FnOnce() -> Cow<'static, str>>,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Started
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let mut plan = Plan::new(hint, parent, name, attributes);
    let mut span = tracer.build_with_context(plan.builder(new), parent);
    if !plan.started(&mut span) {
        return Started { cx: parent.with_remote_span_context(span.span_context().clone()), recording: false };
    }
    Started { cx: parent.with_span(span), recording: true }
}

/// [`start_span_named`] without the context: the span itself and whether it records, for an
/// adapter whose span is a leaf it ends itself (nothing runs inside it), so that no context (an
/// `Arc`, and a box around the span) is built.
///
/// ```
/// use opentelemetry::trace::{Span, SpanKind, TracerProvider};
/// use otel_core::internal::span_start::{NewSpan, SamplingHint, start_bare_span};
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("doc");
/// let hint = SamplingHint::new(false);
/// let (mut span, recording) = start_bare_span(&tracer, NewSpan::new("send orders", SpanKind::Producer),
///     &opentelemetry::Context::new(), &hint, None::<fn() -> std::borrow::Cow<'static, str>>, Vec::new);
/// assert!(recording);
/// span.end();
/// ```
#[inline]
pub fn start_bare_span<T: Tracer>(
    tracer: &T,
    new: NewSpan,
    parent: &Context,
    hint: &SamplingHint,
    name: Option<impl FnOnce() -> Cow<'static, str>>,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> (T::Span, bool) {
    let mut plan = Plan::new(hint, parent, name, attributes);
    let mut span = tracer.build_with_context(plan.builder(new), parent);
    let recording = plan.started(&mut span);
    (span, recording)
}

/// What the hint predicts for one span, and the name and attributes still to be computed.
///
/// The functions above build the span in three steps rather than call one another: the SDK's
/// span is a few hundred bytes, and handing it from one function to the next copies it.
struct Plan<'h, N, A> {
    slot: &'h AtomicBool,
    predicted: bool,
    name: Option<N>,
    attributes: Option<A>,
}

impl<'h, N, A> Plan<'h, N, A>
where
    N: FnOnce() -> Cow<'static, str>,
    A: FnOnce() -> Vec<KeyValue>,
{
    #[inline(always)]
    fn new(hint: &'h SamplingHint, parent: &Context, name: Option<N>, attributes: A) -> Self {
        let slot = hint.slot(parent);
        let predicted = hint.always || slot.load(Ordering::Relaxed);
        Self { slot, predicted, name, attributes: Some(attributes) }
    }

    /// The builder for `new`: with the full name and the attributes when the span is predicted
    /// to record. Meant as the tracer's argument, so that it is built in place.
    #[inline(always)]
    fn builder(&mut self, new: NewSpan) -> SpanBuilder {
        let (name, attributes) = match self.predicted {
            true => (self.name.take().map(|f| f()), self.attributes.take().map(|f| f())),
            false => (None, None),
        };
        SpanBuilder {
            name: name.unwrap_or(new.name),
            span_kind: Some(new.kind),
            links: new.links,
            attributes,
            ..SpanBuilder::default()
        }
    }

    /// Whether `span` records; remembers it for the next span, and gives a recording span the
    /// name and attributes not given to the builder.
    #[inline(always)]
    fn started(self, span: &mut impl Span) -> bool {
        let recording = span.is_recording();
        if recording != self.predicted {
            self.slot.store(recording, Ordering::Relaxed);
        }
        if recording {
            if let Some(name) = self.name {
                span.update_name(name());
            }
            if let Some(attributes) = self.attributes {
                span.set_attributes(attributes());
            }
        }
        recording
    }
}
