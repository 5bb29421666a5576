//! awc CLIENT spans against a real actix-web server on 127.0.0.1.

mod common;

use actix_web::{App, HttpRequest, HttpResponse, web};
use common::wait_for_spans;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracer};
use otel_actix::client::{ClientRequestExt, ClientTracing};
use otel_core::config::HttpClientConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::SpanRecorder;

/// Answers with the `traceparent` it received, or with the status named in the path.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/echo",
        web::get().to(|request: HttpRequest| async move {
            let received = request.headers().get("traceparent").map(|v| v.to_str().unwrap_or_default().to_owned());
            received.unwrap_or_default()
        }),
    )
    .route(
        "/status/{code}",
        web::get().to(|code: web::Path<u16>| async move {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(*code).unwrap()).finish()
        }),
    );
}

fn tracing(recorder: &SpanRecorder) -> ClientTracing<SdkTracer> {
    ClientTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpClientConfig::builder().environment(|_| None))
        .build()
}

#[actix_web::test]
async fn a_request_gets_a_client_span_and_carries_its_context() {
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::new();
    let tracing = tracing(&recorder);
    let client = awc::Client::default();

    let url = format!("http://{addr}/echo?page=2&sig=secret");
    let mut response = client.get(&url).traced(&tracing).send().await.unwrap();
    let received = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();

    let spans = wait_for_spans(&recorder, 1).await;
    let span =
        spans.one("GET").assert_kind(SpanKind::Client).assert_root().assert_status_unset().assert_attrs_exactly(&[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", i64::from(addr.port())),
            KeyValue::new("url.full", format!("http://{addr}/echo?page=2&sig=REDACTED")),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("network.protocol.version", "1.1"),
        ]);
    assert_eq!(received, format!("00-{}-{}-01", span.trace_id(), span.span_id()), "the header on the wire");
}

#[actix_web::test]
async fn the_client_span_is_a_child_of_the_current_span() {
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::new();
    let tracing = tracing(&recorder);
    let tracer = recorder.provider().tracer("test");
    let parent = tracer.start("handler");
    let cx = opentelemetry::Context::current_with_span(parent);

    let request = {
        let _current = cx.clone().attach();
        awc::Client::default()
            .get(format!("http://{addr}/status/204"))
            .traced(&tracing)
            .url_template("/status/{code}")
            .send()
    };
    request.await.unwrap();
    cx.span().end();

    let spans = wait_for_spans(&recorder, 2).await;
    let handler = spans.one("handler");
    spans
        .one("GET /status/{code}")
        .assert_child_of(&handler)
        .assert_attr("url.template", "/status/{code}")
        .assert_attr("http.response.status_code", 204_i64);
}

#[actix_web::test]
async fn client_and_server_errors_are_errors() {
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::new();
    let tracing = tracing(&recorder);
    let client = awc::Client::default();

    for code in [404, 503] {
        let response = client.get(format!("http://{addr}/status/{code}")).traced(&tracing).send().await.unwrap();
        assert_eq!(response.status().as_u16(), code, "the response passes through unchanged");
    }
    let spans = wait_for_spans(&recorder, 2).await;
    for (span, code) in spans.iter().zip(["404", "503"]) {
        span.assert_status_error().assert_attr("error.type", code);
    }
}

#[actix_web::test]
async fn transport_errors_get_a_low_cardinality_error_type() {
    let recorder = SpanRecorder::new();
    let tracing = tracing(&recorder);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // dropped: refused

    let error = awc::Client::default().get(format!("http://{closed}/")).traced(&tracing).send().await.unwrap_err();
    assert!(matches!(error, awc::error::SendRequestError::Connect(_)), "the error passes through: {error:?}");

    let spans = wait_for_spans(&recorder, 1).await;
    let span = spans.one("GET").assert_status_error().assert_attr("error.type", "connect");
    assert_eq!(span.data().events.events[0].name, "exception");
}

#[actix_web::test]
async fn credentials_never_reach_the_span() {
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::new();
    let tracing = tracing(&recorder);

    let url = format!("http://bob:hunter2@{addr}/echo");
    let _ = awc::Client::default().get(&url).traced(&tracing).send().await;
    let spans = wait_for_spans(&recorder, 1).await;
    spans.one("GET").assert_attr("url.full", format!("http://REDACTED:REDACTED@{addr}/echo"));
}

#[actix_web::test]
async fn an_unsampled_caller_is_propagated_without_attribute_work() {
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let tracing = tracing(&recorder);
    let parent = otel_core::testing::remote_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");

    let request = {
        let _current = parent.attach();
        awc::Client::default().get(format!("http://{addr}/echo")).traced(&tracing).send()
    };
    let received = String::from_utf8(request.await.unwrap().body().await.unwrap().to_vec()).unwrap();
    assert!(received.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && received.ends_with("-00"), "{received}");
    assert!(recorder.spans().is_empty());
}

/// A tracing whose hooks record the request's `x-tenant`, whether the context headers were on
/// the request the hook saw, and the response's status and content type; `calls` counts them.
fn tracing_with_hooks(
    recorder: &SpanRecorder,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> ClientTracing<SdkTracer> {
    use opentelemetry::trace::SpanRef;
    use otel_actix::client::ClientResponseHead;
    use std::sync::atomic::Ordering;
    let on_response = std::sync::Arc::clone(&calls);
    ClientTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpClientConfig::builder().environment(|_| None))
        .request_hook(move |span: &SpanRef<'_>, request: &awc::ClientRequest| {
            calls.fetch_add(1, Ordering::Relaxed);
            let tenant = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("none");
            span.set_attribute(KeyValue::new("app.tenant", tenant.to_owned()));
            span.set_attribute(KeyValue::new("app.injected", request.headers().contains_key("traceparent")));
        })
        .response_hook(move |span: &SpanRef<'_>, response: &ClientResponseHead<'_>| {
            on_response.fetch_add(1, Ordering::Relaxed);
            span.set_attribute(KeyValue::new("app.status", i64::from(response.status.as_u16())));
            let length = response.headers.get("content-length").and_then(|v| v.to_str().ok()).unwrap_or("none");
            span.set_attribute(KeyValue::new("app.response_length", length.to_owned()));
        })
        .build()
}

#[actix_web::test]
async fn hooks_add_attributes_from_the_request_and_the_response_head() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::new();
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let tracing = tracing_with_hooks(&recorder, std::sync::Arc::clone(&calls));

    let request = awc::Client::default().get(format!("http://{addr}/echo")).insert_header(("x-tenant", "acme"));
    let mut response = request.traced(&tracing).send().await.unwrap();
    let received = response.body().await.unwrap();
    let spans = wait_for_spans(&recorder, 1).await;
    spans
        .one("GET")
        .assert_attr("app.tenant", "acme")
        .assert_attr("app.injected", true)
        .assert_attr("app.status", 200_i64)
        .assert_attr("app.response_length", received.len().to_string());
    assert_eq!(calls.load(Ordering::Relaxed), 2);

    // A failed send: the request hook ran, the response hook did not (there is no response).
    recorder.reset();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // dropped: refused
    awc::Client::default().get(format!("http://{closed}/")).traced(&tracing).send().await.unwrap_err();
    let spans = wait_for_spans(&recorder, 1).await;
    spans.one("GET").assert_attr("app.tenant", "none").assert_no_attr("app.status");
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[actix_web::test]
async fn hooks_are_not_called_for_a_span_that_does_not_record() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let addr = serve!(|| App::new().configure(routes));
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let tracing = tracing_with_hooks(&recorder, std::sync::Arc::clone(&calls));

    let response = awc::Client::default().get(format!("http://{addr}/echo")).traced(&tracing).send().await.unwrap();
    assert!(response.status().is_success());
    assert_eq!(calls.load(Ordering::Relaxed), 0, "no hook runs for an unsampled span");
    assert!(recorder.spans().is_empty());
}
