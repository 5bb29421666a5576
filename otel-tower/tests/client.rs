//! The client layer against real servers on 127.0.0.1: what goes on the wire and what is exported.

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use opentelemetry::trace::SpanKind;
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::testing::SpanRecorder;
use otel_tower::client::UrlTemplate;
use otel_tower::server::ERROR_TYPE_PANIC;
use support::*;
use tower::{Layer, ServiceExt};

async fn echo(request: Request<Body>) -> String {
    request.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

async fn plain_server() -> std::net::SocketAddr {
    serve(Router::new().route("/echo", get(echo)).route("/missing", get(|| async { StatusCode::NOT_FOUND }))).await
}

#[tokio::test]
async fn the_span_context_goes_on_the_wire() {
    let recorder = SpanRecorder::new();
    let addr = plain_server().await;
    let (_, _, sent) = send(traced_client(&recorder), get_request(&format!("http://{addr}/echo"), &[])).await;
    let spans = recorder.spans();
    let client = spans.one("GET").assert_kind(SpanKind::Client).assert_root().assert_status_unset();
    assert_eq!(sent, format!("00-{}-{}-01", client.trace_id(), client.span_id()));
}

#[tokio::test]
async fn a_traceparent_the_caller_set_is_kept() {
    let recorder = SpanRecorder::new();
    let addr = plain_server().await;
    let request = get_request(&format!("http://{addr}/echo"), &[("traceparent", SAMPLED)]);
    let (_, _, sent) = send(traced_client(&recorder), request).await;
    assert_eq!(sent, SAMPLED, "the caller's traceparent is not overwritten");
    recorder.spans().one("GET").assert_kind(SpanKind::Client);
}

#[tokio::test]
async fn client_and_server_errors_are_errors() {
    let recorder = SpanRecorder::new();
    let addr = plain_server().await;
    let (status, _, _) = send(traced_client(&recorder), get_request(&format!("http://{addr}/missing"), &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    recorder
        .spans()
        .one("GET")
        .assert_status_error()
        .assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 404)
        .assert_attr(semconv::ERROR_TYPE, "404");
}

#[tokio::test]
async fn a_transport_error_is_named_and_passed_through() {
    let recorder = SpanRecorder::new();
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let result = traced_client(&recorder).oneshot(get_request(&format!("http://{addr}/"), &[])).await;
    let error = result.expect_err("nothing listens");
    assert!(error.is_connect(), "the client's own error comes back unchanged");
    let spans = recorder.spans();
    let span = spans.one("GET").assert_status_error().assert_attr(semconv::ERROR_TYPE, "connection_refused");
    assert!(span.attr(semconv::HTTP_RESPONSE_STATUS_CODE).is_none());
}

#[tokio::test]
async fn a_url_template_names_the_span() {
    let recorder = SpanRecorder::new();
    let addr = plain_server().await;
    let mut request = get_request(&format!("http://{addr}/echo?token=1"), &[]);
    request.extensions_mut().insert(UrlTemplate::new("/echo"));
    send(traced_client(&recorder), request).await;
    recorder
        .spans()
        .one("GET /echo")
        .assert_attr(semconv::URL_TEMPLATE, "/echo")
        .assert_attr(semconv::URL_FULL, format!("http://{addr}/echo?token=1"));
}

#[tokio::test]
async fn a_panicking_client_ends_the_span_with_error_and_a_cancelled_call_without() {
    let recorder = SpanRecorder::new();
    let panicking = tower::service_fn(|_: Request<Body>| async {
        tokio::task::yield_now().await;
        panic!("the client broke");
        #[allow(unreachable_code)]
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
    });
    let client = client_layer(&recorder).build().layer(panicking);
    let call = client.clone().oneshot(Request::get("http://api.example/boom").body(Body::empty()).unwrap());
    assert!(tokio::spawn(call).await.expect_err("the client panicked").is_panic());
    recorder.spans().one("GET").assert_status_error().assert_attr(semconv::ERROR_TYPE, ERROR_TYPE_PANIC);

    let recorder = SpanRecorder::new();
    let pending = tower::service_fn(|_: Request<Body>| {
        std::future::pending::<Result<http::Response<Body>, std::convert::Infallible>>()
    });
    let client = client_layer(&recorder).build().layer(pending);
    let call = client.oneshot(Request::get("http://api.example/slow").body(Body::empty()).unwrap());
    assert!(tokio::time::timeout(std::time::Duration::from_millis(20), call).await.is_err());
    recorder.spans().one("GET").assert_status_unset().assert_no_attr(semconv::ERROR_TYPE);
}

#[tokio::test]
async fn hooks_add_attributes_from_the_request_and_the_response_head() {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::SpanRef;
    let recorder = SpanRecorder::new();
    let addr = plain_server().await;
    let client = client_layer(&recorder)
        .request_hook(|span: &SpanRef<'_>, request: &Request<http_body_util::Full<bytes::Bytes>>| {
            let tenant = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("none");
            // The context headers are already on the request the hook sees.
            let injected = request.headers().contains_key("traceparent");
            span.set_attributes([
                KeyValue::new("app.tenant", tenant.to_owned()),
                KeyValue::new("app.injected", injected),
            ]);
        })
        .response_hook(|span: &SpanRef<'_>, response: &http::Response<hyper::body::Incoming>| {
            let length = response.headers().get("content-length").and_then(|v| v.to_str().ok()).unwrap_or("none");
            span.set_attribute(KeyValue::new("app.response_length", length.to_owned()));
        })
        .build()
        .layer(raw_client());
    let (_, _, sent) = send(client.clone(), get_request(&format!("http://{addr}/echo"), &[("x-tenant", "acme")])).await;
    let spans = recorder.spans();
    spans
        .one("GET")
        .assert_attr("app.tenant", "acme")
        .assert_attr("app.injected", true)
        .assert_attr("app.response_length", sent.len().to_string());

    // A failed call: the request hook ran, the response hook did not (there is no response).
    recorder.reset();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    client.clone().oneshot(get_request(&format!("http://{closed}/"), &[])).await.expect_err("nothing listens");
    recorder.spans().one("GET").assert_attr("app.tenant", "none").assert_no_attr("app.response_length");
}

#[tokio::test]
async fn hooks_are_not_called_for_a_span_that_does_not_record() {
    use opentelemetry::trace::SpanRef;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let recorder = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let addr = plain_server().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (on_request, on_response) = (Arc::clone(&calls), Arc::clone(&calls));
    let client = client_layer(&recorder)
        .request_hook(move |_: &SpanRef<'_>, _: &Request<http_body_util::Full<bytes::Bytes>>| {
            on_request.fetch_add(1, Ordering::Relaxed);
        })
        .response_hook(move |_: &SpanRef<'_>, _: &http::Response<hyper::body::Incoming>| {
            on_response.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .layer(raw_client());
    let (status, _, _) = send(client, get_request(&format!("http://{addr}/echo"), &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::Relaxed), 0, "no hook runs for an unsampled span");
    assert!(recorder.spans().is_empty());
}
