//! The global tracer provider, followed: an adapter given no provider uses [`GlobalTracer`], which
//! starts each span with the provider installed *now*, not the one installed when the adapter was
//! built.
//!
//! `opentelemetry::global` keeps its provider behind a lock and says nothing when it changes, so
//! [`GlobalTracer`] keeps the tracer it resolved and resolves again only when it must:
//! - while the tracer it has is not usable: the no-op one (nothing installed yet) or a provider
//!   that was shut down. A span tells: a working SDK gives every span a new span id, even one its
//!   sampler drops; the no-op tracer returns the parent's context, or none;
//! - when a provider is installed through [`set_tracer_provider`] (which `setup` uses): it bumps
//!   a generation number that every [`GlobalTracer`] compares on each span.
//!
//! A provider installed with `opentelemetry::global::set_tracer_provider` in place of another
//! that keeps running is not noticed (no lock is taken per span to look); install it with
//! [`set_tracer_provider`], or shut the old one down first.

use arc_swap::ArcSwapOption;
use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::trace::{Span, SpanBuilder, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped by [`set_tracer_provider`]: a [`GlobalTracer`] holding an older tracer resolves again.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Installs `provider` as the global tracer provider (`opentelemetry::global::set_tracer_provider`)
/// and makes every [`GlobalTracer`] take it for its next span, even if the provider it replaces is
/// still running.
pub fn set_tracer_provider<P>(provider: P)
where
    P: TracerProvider + Send + Sync + 'static,
    P::Tracer: Send + Sync + 'static,
    <P::Tracer as Tracer>::Span: Send + Sync + 'static,
{
    global::set_tracer_provider(provider);
    GENERATION.fetch_add(1, Ordering::Release);
}

/// The tracer of an adapter built without a tracer provider: the global provider's, as installed
/// when each span starts (see the [module](self) for how that stays free of locks). Clones share
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
        let generation = GENERATION.load(Ordering::Acquire);
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
