//! `Setup::install` sets process-wide globals, so this binary holds a single test.
//!
//! Dropping the guard inside a current-thread Tokio runtime flushes without deadlocking, and
//! with a collector that never answers it returns within the export timeout.
#![cfg(feature = "setup")]

mod support;

use opentelemetry::global;
use opentelemetry::trace::{TraceContextExt, Tracer};
use otel_core::setup::Setup;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::{Receiver, one, unresponsive_collector};

fn install(endpoint: String, timeout_ms: &str) -> otel_core::setup::TelemetryGuard {
    let vars: HashMap<&str, String> = HashMap::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms.to_owned()),
        ("OTEL_SERVICE_NAME", "installed".to_owned()),
        // Only the guard's shutdown exports: nothing leaves before the drop.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()),
    ]);
    Setup::new().environment(move |name| vars.get(name).cloned()).install()
}

#[test]
fn dropping_the_guard_on_a_current_thread_runtime_flushes_and_is_bounded() {
    let receiver = Receiver::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    runtime.block_on(async {
        let guard = install(format!("http://{}", receiver.grpc), "10000");
        assert!(guard.provider().is_some());
        global::tracer("test").in_span("handle request", |cx| {
            // The propagator is installed too: the strict W3C one, with baggage.
            let mut headers = HashMap::new();
            global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
            let trace_id = cx.span().span_context().trace_id().to_string();
            assert!(headers["traceparent"].contains(&trace_id), "{headers:?}");
        });
        tokio::task::yield_now().await;
        drop(guard); // inside the runtime's only thread
    });
    let spans = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(one(&spans, "handle request").resource["service.name"], "installed", "flushed by the drop");

    // A collector that accepts connections and never answers.
    let stuck = unresponsive_collector();
    let elapsed = runtime.block_on(async {
        let guard = install(format!("http://{stuck}"), "500");
        assert!(guard.shutdown_timeout() <= Duration::from_millis(1500), "{:?}", guard.shutdown_timeout());
        global::tracer("test").in_span("lost", |_| {});
        let started = Instant::now();
        drop(guard);
        started.elapsed()
    });
    // Bounded by the 500 ms export timeout plus the guard's one-second margin; generous for CI.
    assert!(elapsed < Duration::from_secs(10), "dropping the guard took {elapsed:?}");
}
