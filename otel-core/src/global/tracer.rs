//! [`GlobalTracer`]: the global tracer provider's tracer, resolved again only when it must.

use super::{TRACER_GENERATION, tracer_resolved};
use arc_swap::ArcSwapOption;
use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::trace::{Span, SpanBuilder, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The tracer of an adapter built without a tracer provider: the global provider's, as installed
/// when each span starts (see the [module](super) for how that stays free of locks). Clones share
/// what they resolved.
#[derive(Clone)]
pub struct GlobalTracer(Arc<Inner>);

struct Inner {
    scope: InstrumentationScope,
    resolved: ArcSwapOption<Resolved>,
}

/// A usable tracer, and the generation it was resolved in.
struct Resolved {
    generation: u64,
    tracer: BoxedTracer,
}

impl GlobalTracer {
    /// A tracer with the adapter's instrumentation `scope`, resolved on its first span.
    pub fn new(scope: InstrumentationScope) -> Self {
        Self(Arc::new(Inner { scope, resolved: ArcSwapOption::empty() }))
    }
}

impl fmt::Debug for GlobalTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalTracer")
            .field("scope", &self.0.scope.name())
            .field("resolved", &self.0.resolved.load().is_some())
            .finish()
    }
}

impl Tracer for GlobalTracer {
    type Span = BoxedSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> BoxedSpan {
        let Inner { scope, resolved: slot } = &*self.0;
        let generation = TRACER_GENERATION.load(Ordering::Acquire);
        if let Some(resolved) = &*slot.load()
            && resolved.generation == generation
        {
            let span = resolved.tracer.build_with_context(builder, parent_cx);
            if usable(&span, parent_cx) == Some(false) {
                // Shut down since: this span is lost, the next one resolves again.
                slot.store(None);
            }
            return span;
        }
        let tracer = global::tracer_provider().tracer_with_scope(scope.clone());
        let span = tracer.build_with_context(builder, parent_cx);
        if usable(&span, parent_cx) == Some(true) {
            slot.store(Some(Arc::new(Resolved { generation, tracer })));
            tracer_resolved();
        }
        span
    }
}

/// Whether `span` came from a working SDK: a new span id (the no-op tracer hands back the
/// parent's context, or an invalid one; a shut-down SDK an invalid one). `None` under a context
/// that suppresses telemetry, where an SDK starts nothing either.
fn usable(span: &BoxedSpan, parent_cx: &Context) -> Option<bool> {
    if parent_cx.is_telemetry_suppressed() {
        return None;
    }
    let context = span.span_context();
    Some(context.is_valid() && context.span_id() != parent_cx.span().span_context().span_id())
}
