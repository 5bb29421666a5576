//! The layers a user gets with no options (`OtelLayer::axum()`, `OtelLayer::new()`) take the
//! global tracer provider and propagator: a binary of its own, since those are the process's.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use opentelemetry::global;
use opentelemetry::trace::SpanKind;
use opentelemetry::trace::TraceContextExt;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{SpanRecorder, remote_context};
use otel_tower::OtelLayer;
use tower::ServiceExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn the_default_layers_trace_with_the_global_provider_and_propagator() {
    let recorder = SpanRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_text_map_propagator(StrictTraceContextPropagator::new());
    let caller = remote_context(TRACEPARENT).span().span_context().clone();

    let axum_app = Router::new().route("/users/{id}", get(|| async { "ada" })).layer(OtelLayer::axum());
    let any_service = Router::new().route("/orders/{id}", get(|| async { "order" })).layer(OtelLayer::new());
    for (app, path) in [(axum_app, "/users/7"), (any_service, "/orders/7")] {
        let request = Request::get(path).header("traceparent", TRACEPARENT).body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.into_body().collect().await.unwrap();
    }

    let spans = recorder.spans();
    spans.assert_count(2);
    for name in ["GET /users/{id}", "GET /orders/{id}"] {
        spans.one(name).assert_kind(SpanKind::Server).assert_remote_parent(&caller).assert_status_unset();
    }
}
