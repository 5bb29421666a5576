//! The exported spans: names, kinds, full attribute sets, statuses, one span per attempt.

mod common;

use common::{TestServer, client, client_from, closed_port, middleware};
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, SpanRef, Status, TraceContextExt};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::config::HttpClientConfig;
use otel_core::semconv::http::{SensitiveQueryParameters, redact_url};
use otel_core::testing::SpanRecorder;
use otel_reqwest::UrlTemplate;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The attributes every span of a request to `server` at `path` starts with.
fn request_attrs(server: &TestServer, method: &'static str, path: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, method),
        KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::SERVER_PORT, server.port()),
        KeyValue::new(semconv::URL_FULL, server.url(path)),
    ]
}

/// `request_attrs` plus the response's status code and protocol version.
fn response_attrs(server: &TestServer, path: &str, status: i64) -> Vec<KeyValue> {
    let mut attrs = request_attrs(server, "GET", path);
    attrs.push(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, status));
    attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "1.1"));
    attrs
}

fn with(mut attrs: Vec<KeyValue>, more: impl IntoIterator<Item = KeyValue>) -> Vec<KeyValue> {
    attrs.extend(more);
    attrs
}

#[tokio::test]
async fn ok_response() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let response = client.get(server.url("/ok")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");

    recorder
        .spans()
        .assert_count(1)
        .one("GET")
        .assert_kind(SpanKind::Client)
        .assert_root()
        .assert_attrs_exactly(&response_attrs(&server, "/ok", 200))
        .assert_status_unset();
}

#[tokio::test]
async fn not_found_is_an_error_on_a_client_and_the_response_is_returned() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let response = client.get(server.url("/missing")).send().await.expect("a 404 is a response, not an error");
    assert_eq!(response.status(), 404);

    recorder
        .spans()
        .one("GET")
        .assert_attrs_exactly(&with(
            response_attrs(&server, "/missing", 404),
            [KeyValue::new(semconv::ERROR_TYPE, "404")],
        ))
        .assert_status_error();
}

#[tokio::test]
async fn server_error() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    assert_eq!(client.get(server.url("/fail")).send().await.unwrap().status(), 500);

    recorder
        .spans()
        .one("GET")
        .assert_attrs_exactly(&with(response_attrs(&server, "/fail", 500), [KeyValue::new(semconv::ERROR_TYPE, "500")]))
        .assert_status_error();
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_passed_through_unchanged() {
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);
    let port = closed_port();
    // Built by hand, the request keeps its credentials in the URL (reqwest's request builder
    // would have moved them to an `Authorization` header), so the error's message names them.
    let url = format!("http://alice:secret@127.0.0.1:{port}/ok?sig=s3cr3t");
    let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());

    let error = client.execute(request).await.expect_err("nothing listens");
    assert!(error.to_string().contains("secret"), "the error reaches the caller as it was: {error}");
    assert!(error.is_connect(), "{error:?}");
    assert!(matches!(error, reqwest_middleware::Error::Reqwest(_)));

    let spans = recorder.spans();
    let span = spans
        .one("GET")
        .assert_attrs_exactly(&[
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
            KeyValue::new(semconv::SERVER_PORT, i64::from(port)),
            KeyValue::new(semconv::URL_FULL, format!("http://REDACTED:REDACTED@127.0.0.1:{port}/ok?sig=REDACTED")),
            KeyValue::new(semconv::ERROR_TYPE, "connect"),
        ])
        .assert_status_error();
    let event = &span.data().events.events[0];
    assert_eq!(event.name, "exception");
    let message = event.attributes.iter().find(|kv| kv.key.as_str() == semconv::EXCEPTION_MESSAGE).unwrap();
    let message = message.value.as_str();
    assert!(message.contains("error sending request"), "{message}");
    assert!(!message.contains("secret") && !message.contains("s3cr3t"), "{message}");
    let Status::Error { description } = span.status() else { unreachable!() };
    assert!(!description.contains("secret") && !description.contains("s3cr3t"), "{description}");
}

#[tokio::test]
async fn timeout() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let error = client.get(server.url("/slow")).timeout(Duration::from_millis(200)).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");

    recorder
        .spans()
        .one("GET")
        .assert_attrs_exactly(&with(
            request_attrs(&server, "GET", "/slow"),
            [KeyValue::new(semconv::ERROR_TYPE, "timeout")],
        ))
        .assert_status_error();
}

#[tokio::test]
async fn a_cancelled_request_ends_its_span_without_error() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let outcome = tokio::time::timeout(Duration::from_millis(200), client.get(server.url("/slow")).send()).await;
    assert!(outcome.is_err(), "the caller gave up first");

    recorder.spans().one("GET").assert_attrs_exactly(&request_attrs(&server, "GET", "/slow")).assert_status_unset();
}

#[tokio::test]
async fn each_retry_is_a_span_with_its_resend_count() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let backoff = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(1))
        .build_with_max_retries(3);
    let client = client(vec![
        Arc::new(RetryTransientMiddleware::new_with_policy(backoff)),
        Arc::new(middleware(&recorder).build()),
    ]);

    let response = client.get(server.url("/flaky")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let spans = recorder.spans();
    spans.assert_count(3);
    let attempts: Vec<_> = spans.iter().collect();
    let error_503 = KeyValue::new(semconv::ERROR_TYPE, "503");
    attempts[0]
        .assert_attrs_exactly(&with(response_attrs(&server, "/flaky", 503), [error_503.clone()]))
        .assert_status_error();
    attempts[1]
        .assert_attrs_exactly(&with(
            response_attrs(&server, "/flaky", 503),
            [error_503, KeyValue::new(semconv::HTTP_REQUEST_RESEND_COUNT, 1)],
        ))
        .assert_status_error();
    attempts[2]
        .assert_attrs_exactly(&with(
            response_attrs(&server, "/flaky", 200),
            [KeyValue::new(semconv::HTTP_REQUEST_RESEND_COUNT, 2)],
        ))
        .assert_status_unset();

    // Each attempt sent its own span as the parent.
    let received = server.received();
    assert_eq!(received.len(), 3);
    for (attempt, request) in attempts.iter().zip(&received) {
        assert_eq!(request.traceparent().1, attempt.span_id());
    }

    // A later request through the same client starts counting again.
    recorder.reset();
    client.get(server.url("/ok")).send().await.unwrap();
    recorder.spans().one("GET").assert_no_attr(semconv::HTTP_REQUEST_RESEND_COUNT);
}

#[tokio::test]
async fn credentials_and_signed_query_values_are_redacted() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);
    let port = server.port();
    let url =
        format!("http://alice:secret@127.0.0.1:{port}/bucket/key?X-Amz-Credential=AKIA&X-Amz-Signature=abc123&part=2");
    let query = "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&part=2";

    // A request built by hand keeps the credentials in its URL: they become REDACTED.
    client.execute(reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap())).await.unwrap();
    let mut attrs = response_attrs(&server, "/bucket/key", 200);
    attrs[3] =
        KeyValue::new(semconv::URL_FULL, format!("http://REDACTED:REDACTED@127.0.0.1:{port}/bucket/key?{query}"));
    recorder.spans().one("GET").assert_attrs_exactly(&attrs);

    // reqwest's request builder moves them to an `Authorization` header, which is not recorded.
    recorder.reset();
    client.get(&url).send().await.unwrap();
    recorder.spans().one("GET").assert_attrs_exactly(&response_attrs(&server, &format!("/bucket/key?{query}"), 200));
    assert!(server.received()[1].headers.contains_key("authorization"));
}

#[tokio::test]
async fn a_url_template_names_the_span() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    client.get(server.url("/users/42")).with_extension(UrlTemplate::new("/users/{id}")).send().await.unwrap();
    client.post(server.url("/users")).send().await.unwrap();

    let spans = recorder.spans();
    spans.one("GET /users/{id}").assert_attrs_exactly(&with(
        response_attrs(&server, "/users/42", 200),
        [KeyValue::new(semconv::URL_TEMPLATE, "/users/{id}")],
    ));
    let mut post = request_attrs(&server, "POST", "/users");
    post.extend([
        KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
        KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "1.1"),
    ]);
    spans.one("POST").assert_attrs_exactly(&post);
}

#[tokio::test]
async fn an_unknown_method_is_other_and_names_the_span_http() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    client.request(brew, server.url("/pot")).send().await.unwrap();

    let mut attrs = request_attrs(&server, "_OTHER", "/pot");
    attrs.extend([
        KeyValue::new(semconv::HTTP_REQUEST_METHOD_ORIGINAL, "BREW"),
        KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
        KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "1.1"),
    ]);
    recorder.spans().one("HTTP").assert_attrs_exactly(&attrs);
}

#[tokio::test]
async fn redirects_followed_by_reqwest_are_one_span_with_the_final_response() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    client.get(server.url("/redirect")).send().await.unwrap();

    let spans = recorder.spans();
    let span = spans.assert_count(1).one("GET").assert_attrs_exactly(&response_attrs(&server, "/redirect", 200));
    let received = server.received();
    assert_eq!(received.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/redirect", "/ok"]);
    for hop in &received {
        assert_eq!(hop.traceparent().1, span.span_id(), "every hop carries the span's context");
    }
}

#[tokio::test]
async fn with_redirects_off_the_redirect_is_the_response() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let inner = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let client = client_from(inner, vec![Arc::new(middleware(&recorder).build())]);

    assert_eq!(client.get(server.url("/redirect")).send().await.unwrap().status(), 302);

    recorder.spans().one("GET").assert_attrs_exactly(&response_attrs(&server, "/redirect", 302)).assert_status_unset();
}

#[tokio::test]
async fn hooks_see_the_request_and_the_response() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let sensitive = SensitiveQueryParameters::default();
    let middleware = middleware(&recorder)
        // The seeds' example: the outbound URL on every request span (redacted, as url.full is).
        .request_hook(move |span: &SpanRef<'_>, request: &reqwest::Request| {
            let url = redact_url(request.url().as_str(), &sensitive).into_owned();
            span.set_attribute(KeyValue::new("app.outbound.url", url));
        })
        .response_hook(|span: &SpanRef<'_>, response: &reqwest::Response| {
            if let Some(id) = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()) {
                span.set_attribute(KeyValue::new("app.request_id", id.to_owned()));
            }
        })
        .build();
    let client = client(vec![Arc::new(middleware)]);

    client.get(server.url("/ok?sig=abc")).send().await.unwrap();

    let mut attrs = response_attrs(&server, "/ok?sig=REDACTED", 200);
    attrs.extend([
        KeyValue::new("app.outbound.url", server.url("/ok?sig=REDACTED")),
        KeyValue::new("app.request_id", "req-1"),
    ]);
    recorder.spans().one("GET").assert_attrs_exactly(&attrs);
}

#[tokio::test]
async fn allow_listed_headers_are_recorded_and_no_others() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let config = HttpClientConfig::builder()
        .capture_request_headers(["x-tenant"])
        .capture_response_headers(["x-request-id"])
        .environment(|_| None);
    let client = client(vec![Arc::new(middleware(&recorder).config(config).build())]);

    client.get(server.url("/ok")).header("x-tenant", "blue").header("authorization", "Bearer t").send().await.unwrap();

    let mut attrs = response_attrs(&server, "/ok", 200);
    attrs.extend([
        KeyValue::new("http.request.header.x-tenant", Value::Array(Array::String(vec!["blue".into()]))),
        KeyValue::new("http.response.header.x-request-id", Value::Array(Array::String(vec!["req-1".into()]))),
    ]);
    recorder.spans().one("GET").assert_attrs_exactly(&attrs);
}

#[tokio::test]
async fn a_span_recorded_under_an_unsampled_parent_still_gets_every_attribute() {
    // Always-on samples even a child of an unsampled parent; the attributes, not built for the
    // sampler in that case, are added right after the span starts.
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let parent = otel_core::testing::remote_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    client.get(server.url("/ok")).send().with_context(parent.clone()).await.unwrap();

    recorder
        .spans()
        .one("GET")
        .assert_remote_parent(&parent.span().span_context().clone())
        .assert_attrs_exactly(&response_attrs(&server, "/ok", 200));
}

#[tokio::test]
async fn hooks_are_not_called_for_spans_that_record_nothing() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let calls = Arc::new(AtomicUsize::new(0));
    let (on_request, on_response) = (Arc::clone(&calls), Arc::clone(&calls));
    let middleware = middleware(&recorder)
        .request_hook(move |_: &SpanRef<'_>, _: &reqwest::Request| {
            on_request.fetch_add(1, Ordering::SeqCst);
        })
        .response_hook(move |_: &SpanRef<'_>, _: &reqwest::Response| {
            on_response.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let client = client(vec![Arc::new(middleware)]);

    client.get(server.url("/ok")).send().await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(server.received()[0].headers.contains_key("traceparent"), "the context is still propagated");
}
