//! A middleware built with no tracer or meter provider, before the SDK is installed, traces and
//! records metrics once it is (issue #28): it resolves the global providers when each operation
//! starts, not when it is built. A binary of its own, with one test, since the global providers
//! and propagator are the process's.

use actix_web::{App, test, web};
use opentelemetry::global;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use otel_actix::OtelMiddleware;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{MetricRecorder, SpanRecorder, remote_context};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[actix_web::test]
async fn a_middleware_built_before_the_sdk_is_installed_traces_with_it() {
    // Built while nothing is installed: the global provider is the no-op one.
    let otel = OtelMiddleware::new();

    // Installed with opentelemetry's own calls, as most applications do.
    let recorder = SpanRecorder::new();
    let metrics = MetricRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_meter_provider(metrics.provider().clone());
    global::set_text_map_propagator(StrictTraceContextPropagator::new());

    let app = test::init_service(App::new().wrap(otel).route("/users/{id}", web::get().to(|| async { "user" }))).await;
    let request = test::TestRequest::get().uri("/users/7").insert_header(("traceparent", TRACEPARENT)).to_request();
    let response = test::call_service(&app, request).await;
    assert!(response.status().is_success());
    assert_eq!(test::read_body(response).await, "user");

    let caller = remote_context(TRACEPARENT).span().span_context().clone();
    recorder
        .spans()
        .assert_count(1)
        .one("GET /users/{id}")
        .assert_kind(SpanKind::Server)
        .assert_remote_parent(&caller)
        .assert_status_unset();
    assert_eq!(
        metrics.histogram("http.server.request.duration"),
        [(
            "http.request.method=GET http.response.status_code=200 http.route=/users/{id} \
             network.protocol.version=1.1 url.scheme=http"
                .to_owned(),
            1
        )]
    );
}
