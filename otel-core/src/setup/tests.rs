use super::*;
use crate::config::reported_problems;
use crate::setup::waterfall::SharedBuffer;
use opentelemetry::trace::{Span as _, Tracer, TracerProvider};
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn disabled_builds_no_provider() {
    assert!(Setup::new().environment(env(&[(SDK_DISABLED, "true")])).build_provider().is_none());
    assert!(Setup::new().environment(env(&[(SDK_DISABLED, "TRUE")])).build_provider().is_none());
    assert!(Setup::new().disabled(true).environment(env(&[])).build_provider().is_none());
    let enabled = Setup::new().disabled(false).environment(env(&[(SDK_DISABLED, "true")]));
    assert!(enabled.exporter(TracesExporter::None).build_provider().is_some(), "code wins");
    let odd = Setup::new().environment(env(&[(SDK_DISABLED, "yes"), ("OTEL_TRACES_EXPORTER", "none")]));
    assert!(odd.build_provider().is_some(), "only `true` disables");
    assert!(reported_problems().iter().any(|p| p.source == SDK_DISABLED && p.value == "yes"));
}

#[test]
fn a_provider_per_service_prints_to_a_shared_waterfall() {
    let buffer = SharedBuffer::default();
    let shared = Waterfall::builder().writer(buffer.clone()).linger(Duration::from_millis(20)).build();
    let build = |name: &str| {
        Setup::new()
            .service_name(name)
            .waterfall(shared.clone())
            .environment(env(&[("OTEL_SERVICE_NAME", "ignored")]))
            .build_provider()
            .expect("enabled")
    };
    let (orders, billing) = (build("orders"), build("billing"));
    orders.tracer("t").in_span("take order", |_| {});
    billing.tracer("t").in_span("charge", |_| {});
    orders.shutdown().expect("flushed");
    billing.shutdown().expect("flushed");
    let text = buffer.contents();
    assert!(text.contains("orders  take order"), "{text}");
    assert!(text.contains("billing  charge"), "{text}");
}

#[test]
fn the_sampler_comes_from_code_or_the_environment() {
    let buffer = SharedBuffer::default();
    let shared = Waterfall::builder().writer(buffer.clone()).build();
    let off = Setup::new()
        .waterfall(shared.clone())
        .environment(env(&[("OTEL_TRACES_SAMPLER", "always_off")]))
        .build_provider()
        .expect("enabled");
    assert!(!off.tracer("t").start("dropped").span_context().is_sampled());
    let on = Setup::new()
        .sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .waterfall(shared)
        .environment(env(&[("OTEL_TRACES_SAMPLER", "always_off")]))
        .build_provider()
        .expect("enabled");
    assert!(on.tracer("t").start("kept").span_context().is_sampled(), "code wins");
}

#[test]
fn a_broken_otlp_configuration_never_panics() {
    let setup = Setup::new().environment(env(&[
        ("OTEL_TRACES_EXPORTER", "otlp,console"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "::::"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
    ]));
    let provider = setup.waterfall(Waterfall::builder().writer(SharedBuffer::default()).build()).build_provider();
    let provider = provider.expect("enabled");
    provider.tracer("t").in_span("still works", |_| {});
    // Nothing listens on localhost:4317 in tests: the export fails, bounded and quietly.
    let _ = provider.shutdown_with_timeout(Duration::from_secs(15));
}
