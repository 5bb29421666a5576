//! The ten-line program of the issue, configured by the real process environment: with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, `init()` sends spans to OTLP (one test per binary: the
//! environment and the globals are process-wide).
#![cfg(feature = "setup")]
#![allow(unsafe_code)] // `std::env::set_var` is unsafe in edition 2024; this binary has one thread using it

mod support;

use opentelemetry::global;
use opentelemetry::trace::Tracer;
use std::time::Duration;

#[test]
fn an_endpoint_in_the_environment_sends_spans_to_otlp() {
    let receiver = support::Receiver::start();
    // SAFETY: set before anything else in this single-test binary reads the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", receiver.http));
        std::env::set_var("OTEL_SERVICE_NAME", "ten-liner");
        std::env::set_var("OTEL_RESOURCE_ATTRIBUTES", "service.name=loses,service.version=0.1.0");
    }
    let guard = otel_core::setup::init();
    global::tracer("example").in_span("checkout", |_| global::tracer("example").in_span("load cart", |_| {}));
    drop(guard);

    let spans = receiver.wait_for(2, Duration::from_secs(5));
    let root = support::one(&spans, "checkout");
    let child = support::one(&spans, "load cart");
    assert_eq!(child.span.parent_span_id, root.span.span_id);
    assert_eq!(root.resource["service.name"], "ten-liner", "OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES");
    assert_eq!(root.resource["service.version"], "0.1.0");
    assert_eq!(root.transport, "http", "http/protobuf is the default protocol");
}
