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
            .exporter(TracesExporter::Waterfall)
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
        .exporter(TracesExporter::Waterfall)
        .waterfall(shared.clone())
        .environment(env(&[("OTEL_TRACES_SAMPLER", "always_off")]))
        .build_provider()
        .expect("enabled");
    assert!(!off.tracer("t").start("dropped").span_context().is_sampled());
    let on = Setup::new()
        .sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .exporter(TracesExporter::Waterfall)
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

#[test]
fn each_exporter_none_turns_its_signal_off_and_disabled_turns_off_all_three() {
    // An endpoint nothing listens on: every signal goes to OTLP by default, terminal or not.
    let with = |pairs: &[(&str, &str)]| {
        let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")];
        all.extend_from_slice(pairs);
        let guard = Setup::new().environment(env(&all)).build_guard();
        let signals =
            (guard.tracer_provider.is_some(), guard.meter_provider.is_some(), guard.logger_provider.is_some());
        assert_eq!(signals.2, guard.log_layer().is_some());
        signals
    };
    assert_eq!(with(&[]), (true, true, true));
    assert_eq!(with(&[("OTEL_METRICS_EXPORTER", "none")]), (true, false, true));
    assert_eq!(with(&[("OTEL_LOGS_EXPORTER", "none")]), (true, true, false));
    // Spans are still sampled (and dropped) with no traces exporter: the provider stays.
    assert_eq!(with(&[("OTEL_TRACES_EXPORTER", "none")]), (true, true, true));
    assert_eq!(with(&[(SDK_DISABLED, "true")]), (false, false, false));
    let code = Setup::new()
        .metrics_exporter(MetricsExporter::None)
        .logs_exporter(LogsExporter::Console)
        .environment(env(&[("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_LOGS_EXPORTER", "none")]))
        .build_guard();
    assert!(code.meter_provider.is_none() && code.logger_provider.is_some(), "code wins");
}

#[test]
fn the_guard_shuts_down_within_its_timeout_whatever_the_collector_does() {
    // A listener that accepts (the kernel's backlog) and never answers; a port that refuses; an
    // address that is not routed (TEST-NET-1: the SYNs go unanswered, or the network says at once
    // that it is unreachable).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for (case, endpoint) in [
        ("never answers", format!("http://{}", silent.local_addr().unwrap())),
        ("refuses", format!("http://{refusing}")),
        ("unreachable", "http://192.0.2.1:4318".to_owned()),
    ] {
        let guard = Setup::new()
            .environment(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_EXPORTER_OTLP_TIMEOUT", "500")]))
            .build_guard();
        assert_eq!(guard.shutdown_timeout(), Duration::from_millis(1500));
        guard.provider().expect("enabled").tracer("t").in_span("never exported", |_| {});
        let started = std::time::Instant::now();
        drop(guard);
        // The bound is the guard's timeout; generous for a loaded machine: timeout + 5 s.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500) + Duration::from_secs(5), "a collector that {case}: {took:?}");
    }
}
