//! The middleware and the awc client with the real process environment and the global
//! provider and propagator (one test in its own binary: both are process-wide).
#![allow(unsafe_code)] // `std::env::set_var` is unsafe in edition 2024; this binary runs one test, before any thread reads the environment

mod common;

use actix_web::{App, web};
use common::{current_traceparent, get, wait_for_spans};
use opentelemetry::trace::SpanKind;
use otel_actix::OtelMiddleware;
use otel_actix::client::ClientRequestExt;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::SpanRecorder;

#[actix_web::test]
async fn globals_and_process_environment() {
    // SAFETY: this binary's only test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("OTEL_RUST_EXCLUDED_URLS", "^/users/");
        std::env::set_var("OTEL_RUST_ACTIX_EXCLUDED_URLS", "^/health$");
    }
    let recorder = SpanRecorder::new();
    opentelemetry::global::set_tracer_provider(recorder.provider().clone());
    opentelemetry::global::set_text_map_propagator(StrictTraceContextPropagator::new());

    let otel = OtelMiddleware::new();
    let addr = serve!(move || {
        App::new()
            .wrap(otel.clone())
            .route("/health", web::get().to(|| async { "ok" }))
            .route("/users/{id}", web::get().to(|| async { current_traceparent() }))
    });

    get(addr, "/health", &[]).await; // excluded by actix's own variable
    // Not excluded: `OTEL_RUST_ACTIX_EXCLUDED_URLS` replaces `OTEL_RUST_EXCLUDED_URLS`.
    let response = awc::Client::default().get(format!("http://{addr}/users/7")).send_traced().await.unwrap();
    assert!(response.status().is_success());

    let spans = wait_for_spans(&recorder, 2).await;
    spans.assert_count(2).assert_single_trace();
    let client = spans.one("GET").assert_kind(SpanKind::Client);
    spans.one("GET /users/{id}").assert_kind(SpanKind::Server).assert_child_of(&client);
}
