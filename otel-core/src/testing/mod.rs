//! Test support: capture finished spans and metric points in memory and assert on them.
//!
//! Enabled by the `testing` feature (use it as a dev-dependency). Tests read like the trace they
//! check:
//!
//! ```
//! use opentelemetry::trace::{SpanKind, Tracer, TracerProvider};
//! use otel_core::testing::SpanRecorder;
//!
//! let recorder = SpanRecorder::new();
//! let tracer = recorder.provider().tracer("test");
//! tracer.in_span("parent", |_| {
//!     tracer.span_builder("child").with_kind(SpanKind::Client).start(&tracer);
//! });
//! let spans = recorder.spans();
//! let parent = spans.one("parent");
//! spans.one("child").assert_kind(SpanKind::Client).assert_child_of(&parent);
//! ```

mod measure;
mod metrics;

pub use measure::{CountingAllocator, DroppingExporter};
pub use metrics::MetricRecorder;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use std::fmt::Write as _;

/// A tracer provider whose spans are exported, synchronously, into memory.
#[derive(Clone, Debug)]
pub struct SpanRecorder {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

impl Default for SpanRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanRecorder {
    /// Records every span (always-on sampler).
    pub fn new() -> Self {
        Self::with_sampler(Sampler::AlwaysOn)
    }

    /// Records the spans `sampler` samples.
    pub fn with_sampler(sampler: Sampler) -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider =
            SdkTracerProvider::builder().with_sampler(sampler).with_simple_exporter(exporter.clone()).build();
        Self { exporter, provider }
    }

    /// The provider to hand to the code under test.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Every span finished so far, in the order they ended.
    pub fn spans(&self) -> FinishedSpans {
        let _ = self.provider.force_flush();
        FinishedSpans(self.exporter.get_finished_spans().unwrap_or_default())
    }

    /// Forgets the spans finished so far.
    pub fn reset(&self) {
        self.exporter.reset();
    }
}

/// A snapshot of finished spans.
#[derive(Clone, Debug)]
pub struct FinishedSpans(pub Vec<SpanData>);

impl FinishedSpans {
    /// How many spans finished.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no span finished.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every span, in the order they ended.
    pub fn iter(&self) -> impl Iterator<Item = SpanView<'_>> {
        self.0.iter().map(SpanView)
    }

    /// Spans named `name`.
    pub fn named(&self, name: &str) -> Vec<SpanView<'_>> {
        self.iter().filter(|s| s.name() == name).collect()
    }

    /// The one span named `name`; panics, listing every span, when there is not exactly one.
    #[track_caller]
    pub fn one(&self, name: &str) -> SpanView<'_> {
        let found = self.named(name);
        match found.as_slice() {
            [span] => *span,
            _ => panic!("expected exactly one span named {name:?}, found {}:\n{}", found.len(), self.describe()),
        }
    }

    /// Panics when any span is named `name`.
    #[track_caller]
    pub fn assert_none_named(&self, name: &str) -> &Self {
        assert!(self.named(name).is_empty(), "expected no span named {name:?}:\n{}", self.describe());
        self
    }

    /// Panics unless exactly `count` spans finished.
    #[track_caller]
    pub fn assert_count(&self, count: usize) -> &Self {
        assert_eq!(self.len(), count, "span count:\n{}", self.describe());
        self
    }

    /// Panics unless every span belongs to one trace; returns its id.
    #[track_caller]
    pub fn assert_single_trace(&self) -> TraceId {
        let first = self.0.first().map(|s| s.span_context.trace_id());
        let Some(trace_id) = first else { panic!("no span finished") };
        assert!(
            self.0.iter().all(|s| s.span_context.trace_id() == trace_id),
            "expected one trace:\n{}",
            self.describe()
        );
        trace_id
    }

    /// One line per span: name, kind, ids, parent, status. Used in every failure message.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for s in &self.0 {
            let _ = writeln!(
                out,
                "  {:?} {:?} trace={} span={} parent={} status={:?}",
                s.name,
                s.span_kind,
                s.span_context.trace_id(),
                s.span_context.span_id(),
                s.parent_span_id,
                s.status
            );
        }
        if out.is_empty() {
            out.push_str("  (no spans)\n");
        }
        out
    }
}

/// One finished span, with assertions that name the span when they fail.
#[derive(Clone, Copy, Debug)]
pub struct SpanView<'a>(pub &'a SpanData);

impl<'a> SpanView<'a> {
    /// The span's name.
    pub fn name(&self) -> &'a str {
        &self.0.name
    }

    /// The span's kind.
    pub fn kind(&self) -> SpanKind {
        self.0.span_kind.clone()
    }

    /// The span's context (trace id, span id, flags).
    pub fn span_context(&self) -> &'a SpanContext {
        &self.0.span_context
    }

    /// The span's trace id.
    pub fn trace_id(&self) -> TraceId {
        self.0.span_context.trace_id()
    }

    /// The span's id.
    pub fn span_id(&self) -> SpanId {
        self.0.span_context.span_id()
    }

    /// The parent span's id (`SpanId::INVALID` for a root).
    pub fn parent_span_id(&self) -> SpanId {
        self.0.parent_span_id
    }

    /// The span's status.
    pub fn status(&self) -> &'a Status {
        &self.0.status
    }

    /// Every attribute.
    pub fn attributes(&self) -> &'a [KeyValue] {
        &self.0.attributes
    }

    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&'a Value> {
        self.0.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }

    /// The underlying span data.
    pub fn data(&self) -> &'a SpanData {
        self.0
    }

    /// Panics unless the span has kind `kind`.
    #[track_caller]
    pub fn assert_kind(self, kind: SpanKind) -> Self {
        assert_eq!(self.0.span_kind, kind, "kind of span {:?}", self.name());
        self
    }

    /// Panics unless attribute `key` equals `value`.
    #[track_caller]
    pub fn assert_attr(self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        assert_eq!(
            self.attr(key),
            Some(&value),
            "attribute {key:?} of span {:?}: {:#?}",
            self.name(),
            self.0.attributes
        );
        self
    }

    /// Panics when attribute `key` is present.
    #[track_caller]
    pub fn assert_no_attr(self, key: &str) -> Self {
        assert!(self.attr(key).is_none(), "span {:?} has attribute {key:?} = {:?}", self.name(), self.attr(key));
        self
    }

    /// Panics unless the attributes are exactly `expected`, in any order. Values compare by
    /// content and type (a string is equal whatever its storage; `1` and `"1"` differ).
    #[track_caller]
    pub fn assert_attrs_exactly(self, expected: &[KeyValue]) -> Self {
        let describe = |attributes: &[KeyValue]| {
            let mut lines: Vec<String> =
                attributes.iter().map(|kv| format!("{} = {}", kv.key, describe_value(&kv.value))).collect();
            lines.sort();
            lines
        };
        assert_eq!(describe(&self.0.attributes), describe(expected), "attributes of span {:?}", self.name());
        self
    }

    /// Panics unless the status is Unset.
    #[track_caller]
    pub fn assert_status_unset(self) -> Self {
        assert_eq!(self.0.status, Status::Unset, "status of span {:?}", self.name());
        self
    }

    /// Panics unless the status is Error.
    #[track_caller]
    pub fn assert_status_error(self) -> Self {
        assert!(matches!(self.0.status, Status::Error { .. }), "status of span {:?}: {:?}", self.name(), self.0.status);
        self
    }

    /// Panics unless this span is a child of `parent` (same trace, parent id).
    #[track_caller]
    pub fn assert_child_of(self, parent: &SpanView<'_>) -> Self {
        assert_eq!(self.trace_id(), parent.trace_id(), "trace of span {:?}", self.name());
        assert_eq!(self.parent_span_id(), parent.span_id(), "parent of span {:?}", self.name());
        self
    }

    /// Panics unless this span's parent is the remote span `parent` (from an incoming request).
    #[track_caller]
    pub fn assert_remote_parent(self, parent: &SpanContext) -> Self {
        assert_eq!(self.trace_id(), parent.trace_id(), "trace of span {:?}", self.name());
        assert_eq!(self.parent_span_id(), parent.span_id(), "parent of span {:?}", self.name());
        assert!(self.0.parent_span_is_remote, "parent of span {:?} is not remote", self.name());
        self
    }

    /// Panics unless this span is a root (no parent).
    #[track_caller]
    pub fn assert_root(self) -> Self {
        assert_eq!(self.parent_span_id(), SpanId::INVALID, "span {:?} has a parent", self.name());
        self
    }

    /// Panics unless this span links to `target`.
    #[track_caller]
    pub fn assert_links_to(self, target: &SpanContext) -> Self {
        let linked =
            self.0.links.iter().any(|l| {
                l.span_context.trace_id() == target.trace_id() && l.span_context.span_id() == target.span_id()
            });
        assert!(linked, "span {:?} has no link to {target:?}: {:?}", self.name(), self.0.links);
        self
    }
}

/// A value with its type, for comparisons and failure messages: `"text"`, `42`, `true`, `[..]`.
fn describe_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", s.as_str()),
        Value::I64(i) => i.to_string(),
        Value::F64(f) => format!("{f:?}"),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}").replace("Static(", "(").replace("Owned(", "(").replace("RefCounted(", "("),
    }
}

/// A context whose current span is the remote parent described by a `traceparent` value, as
/// a server would extract it. Panics on an invalid value (it is test input).
#[track_caller]
pub fn remote_context(traceparent: &str) -> Context {
    let parent = crate::propagation::Traceparent::parse(traceparent).expect("a valid traceparent");
    Context::new().with_remote_span_context(SpanContext::new(
        parent.trace_id,
        parent.span_id,
        parent.flags,
        true,
        Default::default(),
    ))
}

use opentelemetry::trace::TraceContextExt as _;
