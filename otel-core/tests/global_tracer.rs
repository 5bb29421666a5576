//! `GlobalTracer` follows the global tracer provider: installed after the tracer was made,
//! replaced through otel-core, or replaced directly once the old one is shut down. A binary of its
//! own: the global provider is the whole process's.

use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, InstrumentationScope, global};
use otel_core::global::GlobalTracer;
use otel_core::testing::{SpanRecorder, remote_context};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn one_span(tracer: &GlobalTracer, name: &'static str) {
    let parent = remote_context(TRACEPARENT);
    let mut span = tracer.span_builder(name).with_kind(SpanKind::Server).start_with_context(tracer, &parent);
    span.end();
}

#[test]
fn a_global_tracer_follows_the_provider_installed_or_replaced_after_it_was_made() {
    let tracer = GlobalTracer::new(InstrumentationScope::builder("test").build());
    let caller = remote_context(TRACEPARENT).span().span_context().clone();

    // Nothing installed: the no-op tracer, which hands the parent's context back.
    let parent = remote_context(TRACEPARENT);
    let span = tracer.build_with_context(tracer.span_builder("before"), &parent);
    assert!(!span.is_recording());
    assert_eq!(span.span_context(), &caller);
    drop(span);

    // Installed with opentelemetry's own call, after the tracer was made: the next span is its.
    let first = SpanRecorder::new();
    global::set_tracer_provider(first.provider().clone());
    one_span(&tracer, "installed");
    first.spans().assert_count(1).one("installed").assert_remote_parent(&caller);

    // Replaced through otel-core while the first still runs: the next span goes to the second.
    let second = SpanRecorder::new();
    otel_core::global::set_tracer_provider(second.provider().clone());
    one_span(&tracer, "replaced");
    first.spans().assert_count(1);
    second.spans().assert_count(1).one("replaced").assert_remote_parent(&caller);

    // Replaced directly after the second was shut down: the span that finds it shut down is
    // lost, the next one goes to the third.
    second.provider().shutdown().unwrap();
    let third = SpanRecorder::new();
    global::set_tracer_provider(third.provider().clone());
    one_span(&tracer, "lost");
    one_span(&tracer, "after shutdown");
    third.spans().assert_count(1).one("after shutdown").assert_remote_parent(&caller);

    // A span without a parent: a root span of the third provider, which the tracer keeps.
    let mut root = tracer.start_with_context("root", &Context::new());
    root.end();
    third.spans().assert_count(2).one("root");
}
