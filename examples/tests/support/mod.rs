//! What the demo's tests share: a service's provider exporting into memory, the scenario's run,
//! and a trace's spans.

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::BaggagePropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::FinishedSpans;
use otel_examples::demo::{Backends, Demo, MetricsSummary, Ports, Providers};
use std::time::Duration;

/// Runs the demo's scenario on `backends` as the demo does (W3C trace context and baggage, the
/// meter provider installed globally), checks every request's status, and returns the metrics.
pub(crate) async fn run_scenario(providers: &Providers, backends: Backends) -> MetricsSummary {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(StrictTraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let metrics = MetricsSummary::new();
    otel_core::global::set_meter_provider(metrics.provider().clone());
    let services = backends.redis.is_some();
    let demo = Demo::start(providers, Ports::ANY, backends).await.expect("the demo starts");
    assert_eq!(demo.services, services);
    let outcomes = demo.run_scenario(|_| std::thread::sleep(Duration::from_millis(50))).await;
    providers.flush();
    demo.stop();
    let statuses: Vec<u16> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [200, 200, 200, 502, 200, 200, 200, 200, 200, 200], "{outcomes:?}");
    metrics
}

/// A tracer provider with `service.name` = `name`, exporting each span as it ends into the
/// returned exporter.
pub(crate) fn service(name: &'static str) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder_empty().with_attribute(KeyValue::new("service.name", name)).build())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// The spans of `trace` that `exporter` holds.
pub(crate) fn spans_of(exporter: &InMemorySpanExporter, trace: TraceId) -> FinishedSpans {
    FinishedSpans(
        exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s: &SpanData| s.span_context.trace_id() == trace)
            .collect(),
    )
}
