//! An adapter's instruments follow the global meter provider: installed after they were made
//! (through otel-core, or directly beside a tracer provider), replaced, or given explicitly. A
//! binary of its own: the global providers are the whole process's.

use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::trace::{Span, Tracer};
use opentelemetry::{Context, InstrumentationScope, KeyValue, global};
use otel_core::global::GlobalTracer;
use otel_core::metrics::{Instruments, MeterSource};
use otel_core::testing::{MetricRecorder, SpanRecorder};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("test").build()
}

/// Instruments that count how often they were built.
fn counting(source: MeterSource, builds: &Arc<AtomicUsize>) -> Instruments<Counter<u64>> {
    let builds = Arc::clone(builds);
    source.instruments(scope(), move |meter: &Meter| {
        builds.fetch_add(1, Ordering::Relaxed);
        meter.u64_counter("operations").build()
    })
}

fn one_operation(instruments: &Instruments<Counter<u64>>, name: &'static str) -> bool {
    instruments.with(|counter| counter.add(1, &[KeyValue::new("op", name)])).is_some()
}

fn one_span(tracer: &GlobalTracer) {
    tracer.start_with_context("operation", &Context::new()).end();
}

#[test]
fn instruments_follow_the_global_meter_provider_and_a_given_one_stays() {
    let builds = Arc::new(AtomicUsize::new(0));
    let instruments = counting(MeterSource::Global, &builds);
    let given = MetricRecorder::new();
    let given_instruments = counting(MeterSource::provider(given.provider(), scope()), &builds);
    assert_eq!(builds.load(Ordering::Relaxed), 1, "a given provider's are built at once; the global no-op gets none");

    // Nothing installed: no instruments, no call.
    assert!(!one_operation(&instruments, "before"));
    assert!(!instruments.active());

    // Installed directly, with a tracer provider beside it: the first span resolves the tracer,
    // which tells the instruments to look again.
    let tracer = GlobalTracer::new(scope());
    let spans = SpanRecorder::new();
    let first = MetricRecorder::new();
    global::set_tracer_provider(spans.provider().clone());
    global::set_meter_provider(first.provider().clone());
    one_span(&tracer);
    assert!(one_operation(&instruments, "installed"));
    assert_eq!(first.sum_u64("operations"), [("op=installed".to_owned(), 1)]);
    assert_eq!(builds.load(Ordering::Relaxed), 2);

    // Looking again at the same provider builds nothing.
    otel_core::global::set_tracer_provider(spans.provider().clone());
    assert!(one_operation(&instruments, "same"));
    assert_eq!(builds.load(Ordering::Relaxed), 2, "the same provider: the same instruments");

    // Replaced through otel-core while the first still runs: the next operation records on the
    // second.
    let second = MetricRecorder::new();
    otel_core::global::set_meter_provider(second.provider().clone());
    assert!(one_operation(&instruments, "replaced"));
    assert_eq!(first.sum_u64("operations"), [("op=installed".to_owned(), 1), ("op=same".to_owned(), 1)]);
    assert_eq!(second.sum_u64("operations"), [("op=replaced".to_owned(), 1)]);

    // Instruments made while a provider is installed are built at once.
    let later = counting(MeterSource::Global, &builds);
    assert_eq!(builds.load(Ordering::Relaxed), 4);
    assert!(one_operation(&later, "later"));
    assert_eq!(builds.load(Ordering::Relaxed), 4);

    // Turned off: nothing, whatever is installed.
    assert!(!one_operation(&counting(MeterSource::Off, &builds), "off"));

    // A given provider is never replaced by the global one.
    assert!(one_operation(&given_instruments, "given"));
    assert_eq!(given.sum_u64("operations"), [("op=given".to_owned(), 1)]);
    assert_eq!(second.sum_u64("operations"), [("op=later".to_owned(), 1), ("op=replaced".to_owned(), 1)]);
}
