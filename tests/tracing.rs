//! `tracing` spans and events inside handlers: with tracing-opentelemetry's layer installed, a
//! `#[tracing::instrument]` function a handler calls exports a span whose parent is the adapter's
//! server span, and otel-core's log format gives the events logged there the server span's trace
//! id. The README promises both; these tests hold it to them (axum and actix-web, in process).

use opentelemetry::trace::TracerProvider as _;
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::SpanRecorder;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// Log lines, collected.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The application's subscriber: tracing-opentelemetry's layer on the recorder's provider, and
/// otel-core's text log format into `lines`.
fn subscriber(recorder: &SpanRecorder, lines: &Lines) -> impl tracing::Subscriber + Send + Sync {
    let lines = lines.clone();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(recorder.provider().tracer("app")))
        .with(otel_core::setup::logs::text_layer().with_ansi(false).with_writer(move || lines.clone()))
}

/// What a handler calls: a `tracing` span with an event in it.
#[tracing::instrument]
async fn load_user(id: u32) -> String {
    tracing::info!("loading the user");
    format!("user {id}")
}

/// The server span, the `load_user` span under it, and a log line with its trace id.
fn assert_nested(recorder: &SpanRecorder, lines: &Lines) {
    let spans = recorder.spans();
    let server = spans.one("GET /users/{id}");
    spans.one("load_user").assert_child_of(&server);
    let text = lines.text();
    let line = text.lines().find(|line| line.contains("loading the user")).expect("the event was logged");
    assert!(line.starts_with(&format!("trace_id={} ", server.trace_id())), "{line}");
}

#[tokio::test]
async fn axum_handler_spans_and_logs_join_the_server_span() {
    use axum::extract::Path;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let recorder = SpanRecorder::new();
    let lines = Lines::default();
    let _subscriber = tracing::subscriber::set_default(subscriber(&recorder, &lines));
    let layer = otel_tower::OtelLayer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .build();
    let app =
        axum::Router::new().route("/users/{id}", axum::routing::get(|Path(id): Path<u32>| load_user(id))).layer(layer);
    let request = http::Request::get("/users/7").body(axum::body::Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"user 7");
    assert_nested(&recorder, &lines);
}

#[actix_web::test]
async fn actix_handler_spans_and_logs_join_the_server_span() {
    use actix_web::{App, test, web};

    let recorder = SpanRecorder::new();
    let lines = Lines::default();
    let _subscriber = tracing::subscriber::set_default(subscriber(&recorder, &lines));
    let middleware = otel_actix::OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .build();
    let app = test::init_service(
        App::new()
            .wrap(middleware)
            .route("/users/{id}", web::get().to(|id: web::Path<u32>| load_user(id.into_inner()))),
    )
    .await;
    let body = test::call_and_read_body(&app, test::TestRequest::get().uri("/users/7").to_request()).await;
    assert_eq!(&body[..], b"user 7");
    assert_nested(&recorder, &lines);
}
