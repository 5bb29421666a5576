//! `OtelMiddleware::default()` uses the global tracer provider and propagator. This binary has
//! one test because it installs both globals.

mod common;

use common::{TestServer, client};
use opentelemetry::global;
use opentelemetry::trace::SpanKind;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::SpanRecorder;
use otel_reqwest::OtelMiddleware;
use std::sync::Arc;

#[tokio::test]
async fn default_uses_the_global_provider_and_propagator() {
    let recorder = SpanRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_text_map_propagator(StrictTraceContextPropagator::new());
    let server = TestServer::start().await;
    let client = client(vec![Arc::new(OtelMiddleware::default())]);

    client.get(server.url("/ok")).send().await.unwrap();

    let spans = recorder.spans();
    let span = spans.one("GET").assert_kind(SpanKind::Client);
    assert_eq!(span.data().instrumentation_scope.name(), "otel-reqwest");
    assert_eq!(server.received()[0].traceparent().1, span.span_id());
}
