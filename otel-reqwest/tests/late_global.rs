//! A middleware built with no tracer or meter provider, before the SDK is installed, traces and
//! records metrics once it is (issue #28): it resolves the global providers when each operation
//! starts, not when it is built. A binary of its own, with one test, since the global providers
//! and propagator are the process's.

mod common;

use common::TestServer;
use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{MetricRecorder, SpanRecorder};
use otel_reqwest::OtelMiddleware;
use reqwest_middleware::ClientBuilder;

#[tokio::test]
async fn a_middleware_built_before_the_sdk_is_installed_traces_with_it() {
    // Built while nothing is installed: the global provider is the no-op one.
    let client = ClientBuilder::new(reqwest::Client::new()).with(OtelMiddleware::default()).build();

    // Installed with opentelemetry's own calls, as most applications do.
    let recorder = SpanRecorder::new();
    let metrics = MetricRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_meter_provider(metrics.provider().clone());
    global::set_text_map_propagator(StrictTraceContextPropagator::new());

    let server = TestServer::start().await;
    let parent = recorder.provider().tracer("test").start("parent");
    let cx = Context::current_with_span(parent);
    let response = client.get(server.url("/ok")).send().with_context(cx.clone()).await.unwrap();
    assert!(response.status().is_success());
    cx.span().end();

    let spans = recorder.spans();
    spans.assert_count(2);
    let parent = spans.one("parent");
    let client = spans.one("GET").assert_kind(SpanKind::Client).assert_child_of(&parent).assert_status_unset();
    let (trace_id, span_id, _) = server.received()[0].traceparent();
    assert_eq!((trace_id, span_id), (client.trace_id(), client.span_id()), "the traceparent the server saw");
    let recorded = metrics.histogram("http.client.request.duration");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert!(recorded[0].0.starts_with("http.request.method=GET http.response.status_code=200"), "{recorded:?}");
}
