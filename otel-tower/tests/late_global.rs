//! Layers built with no tracer or meter provider, before the SDK is installed, trace and record
//! metrics once it is (issue #28): they resolve the global providers when each operation starts,
//! not when they are built. A binary of its own, with one test, since the global providers and
//! propagator are the process's.

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{MetricRecorder, SpanRecorder, remote_context};
use otel_tower::{OtelClientLayer, OtelLayer};
use support::{get_request, raw_client, send, serve};
use tower::ServiceExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn echo(request: Request<Body>) -> String {
    request.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

#[tokio::test]
async fn layers_built_before_the_sdk_is_installed_trace_with_it() {
    // Built while nothing is installed: the global provider is the no-op one.
    let app = Router::new().route("/users/{id}", get(|| async { "ada" })).layer(OtelLayer::axum());
    let client = tower::ServiceBuilder::new().layer(OtelClientLayer::new()).service(raw_client());

    // Installed with opentelemetry's own calls, as most applications do.
    let recorder = SpanRecorder::new();
    let metrics = MetricRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_meter_provider(metrics.provider().clone());
    global::set_text_map_propagator(StrictTraceContextPropagator::new());

    // (a) The server layer: a SERVER span under the caller's remote parent.
    let caller = remote_context(TRACEPARENT).span().span_context().clone();
    let request = Request::get("/users/7").header("traceparent", TRACEPARENT).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();
    let spans = recorder.spans();
    spans.one("GET /users/{id}").assert_kind(SpanKind::Server).assert_remote_parent(&caller).assert_status_unset();
    assert_eq!(
        metrics.histogram("http.server.request.duration"),
        [(
            "http.request.method=GET http.response.status_code=200 http.route=/users/{id} \
             network.protocol.version=1.1 url.scheme=http"
                .to_owned(),
            1
        )]
    );

    // (b) The client layer: a CLIENT span under the current span, its context on the wire.
    recorder.reset();
    let addr = serve(Router::new().route("/echo", get(echo))).await;
    let parent = recorder.provider().tracer("test").start("parent");
    let cx = Context::current_with_span(parent);
    let (status, _, sent) =
        send(client, get_request(&format!("http://{addr}/echo"), &[])).with_context(cx.clone()).await;
    assert_eq!(status, StatusCode::OK);
    cx.span().end();

    let spans = recorder.spans();
    spans.assert_count(2);
    let parent = spans.one("parent");
    let client = spans.one("GET").assert_kind(SpanKind::Client).assert_child_of(&parent).assert_status_unset();
    assert_eq!(sent, format!("00-{}-{}-01", client.trace_id(), client.span_id()), "the traceparent the server saw");
    let recorded = metrics.histogram("http.client.request.duration");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert!(recorded[0].0.starts_with("http.request.method=GET http.response.status_code=200"), "{recorded:?}");
}
