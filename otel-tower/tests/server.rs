//! The server layer end to end: real axum and hyper servers on 127.0.0.1, real hyper clients.

mod support;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{any, get};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use opentelemetry::trace::{SpanContext, SpanKind, SpanRef, TraceContextExt};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::Sampler;
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::config::HttpServerConfig;
use otel_core::semconv::http::HttpMethod;
use otel_core::testing::{SpanRecorder, remote_context};
use otel_tower::server::{ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC};
use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::sync::mpsc;
use tower::ServiceExt;

fn incoming(traceparent: &str) -> SpanContext {
    remote_context(traceparent).span().span_context().clone()
}

/// The id of the span current in the handler, as text.
fn current_span_id() -> String {
    Context::current().span().span_context().span_id().to_string()
}

/// Calls `/echo` on this same server through the traced client and returns the `traceparent`
/// it received.
async fn call_echo(client: TracedClient, host: &str) -> String {
    let (_, _, body) = send(client, get_request(&format!("http://{host}/echo"), &[])).await;
    body
}

async fn echo(request: Request<Body>) -> String {
    request.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

fn host_of(request: &Request<Body>) -> String {
    request.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// A route handler that calls `/echo` downstream and answers with what it received.
fn downstream_caller(client: TracedClient) -> axum::routing::MethodRouter {
    get(move |request: Request<Body>| {
        let client = client.clone();
        async move { call_echo(client, &host_of(&request)).await }
    })
}

#[tokio::test]
async fn one_trace_from_client_to_server_with_full_attribute_sets() {
    for axum_body in [false, true] {
        full_attribute_sets(axum_body).await;
    }
}

async fn full_attribute_sets(axum_body: bool) {
    let recorder = SpanRecorder::new();
    let layer = server_layer(&recorder)
        .config(HttpServerConfig::builder().capture_request_headers(["x-user-id"]).environment(|_| None))
        .request_hook(|span: &SpanRef<'_>, request: &Request<Body>| {
            if let Some(id) = request.headers().get("x-user-id").and_then(|v| v.to_str().ok()) {
                span.set_attribute(KeyValue::new("user.id", id.to_owned()));
            }
        });
    let handler =
        |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("{} {}", peer.port(), current_span_id()) };
    let addr = serve(layered!(Router::new().route("/users/{id}", get(handler)), layer, axum_body)).await;

    let url = format!("http://{addr}/users/7?sig=secret&page=2");
    let request = get_request(&url, &[("user-agent", "otel-test/1.0"), ("x-user-id", "42")]);
    let (status, _, body) = send(traced_client(&recorder), request).await;
    assert_eq!(status, StatusCode::OK);
    let (peer_port, handler_span_id) = body.split_once(' ').unwrap();

    let spans = wait_for(&recorder, 2).await;
    spans.assert_count(2).assert_single_trace();
    let client =
        spans.one("GET").assert_kind(SpanKind::Client).assert_root().assert_status_unset().assert_attrs_exactly(&[
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
            KeyValue::new(semconv::SERVER_PORT, i64::from(addr.port())),
            KeyValue::new(semconv::URL_FULL, format!("http://{addr}/users/7?sig=REDACTED&page=2")),
            KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
            KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "1.1"),
        ]);
    let server = spans.one("GET /users/{id}");
    server.assert_kind(SpanKind::Server).assert_child_of(&client).assert_status_unset().assert_attrs_exactly(&[
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, "GET"),
        KeyValue::new(semconv::URL_PATH, "/users/7"),
        KeyValue::new(semconv::URL_QUERY, "sig=REDACTED&page=2"),
        KeyValue::new(semconv::URL_SCHEME, "http"),
        KeyValue::new(semconv::HTTP_ROUTE, "/users/{id}"),
        KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::SERVER_PORT, i64::from(addr.port())),
        KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "1.1"),
        KeyValue::new(semconv::USER_AGENT_ORIGINAL, "otel-test/1.0"),
        KeyValue::new(semconv::CLIENT_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::NETWORK_PEER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::NETWORK_PEER_PORT, peer_port.parse::<i64>().unwrap()),
        KeyValue::new("http.request.header.x-user-id", Value::Array(Array::String(vec![StringValue::from("42")]))),
        KeyValue::new("user.id", "42"),
        KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
    ]);
    assert_eq!(handler_span_id, server.span_id().to_string(), "the server span is current in the handler");
}

#[tokio::test]
async fn unsampled_requests_still_propagate_and_export_nothing() {
    let cases = [(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), UNSAMPLED), (Sampler::AlwaysOff, SAMPLED)];
    for (sampler, traceparent) in cases {
        let recorder = SpanRecorder::with_sampler(sampler);
        let app = Router::new()
            .route("/call", downstream_caller(traced_client(&recorder)))
            .route("/echo", get(echo))
            .layer(server_layer(&recorder).build());
        let addr = serve(app).await;
        let (status, _, downstream) =
            send(raw_client(), get_request(&format!("http://{addr}/call"), &[("traceparent", traceparent)])).await;
        assert_eq!(status, StatusCode::OK);
        let fields: Vec<&str> = downstream.split('-').collect();
        assert_eq!(fields.len(), 4, "{downstream}");
        assert_eq!(fields[1], TRACE_ID, "the trace continues downstream");
        assert_ne!(fields[2], PARENT_ID, "the downstream parent is this service's span");
        assert_eq!(fields[3], "00", "and says it was not sampled");
        settle(&recorder).await.assert_count(0);
    }
}

#[tokio::test]
async fn excluded_urls_from_code_and_environment_have_no_span_but_keep_the_trace() {
    for axum_body in [false, true] {
        excluded_urls(axum_body).await;
    }
}

async fn excluded_urls(axum_body: bool) {
    let recorder = SpanRecorder::new();
    let config = HttpServerConfig::builder()
        .exclude_path("/health")
        .environment(|name| (name == "OTEL_RUST_TOWER_EXCLUDED_URLS").then(|| "^/ready".to_owned()));
    let client = traced_client(&recorder);
    let app = Router::new()
        .route("/health", downstream_caller(client.clone()))
        .route("/ready", downstream_caller(client))
        .route("/echo", get(echo));
    let addr = serve(layered!(app, server_layer(&recorder).config(config), axum_body)).await;

    for path in ["/health", "/ready?probe=1"] {
        recorder.reset();
        let (status, _, downstream) =
            send(raw_client(), get_request(&format!("http://{addr}{path}"), &[("traceparent", SAMPLED)])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(downstream.split('-').nth(1), Some(TRACE_ID), "{path}: downstream keeps the incoming trace");
        let spans = wait_for(&recorder, 2).await;
        spans.assert_count(2).assert_none_named("GET /health").assert_none_named("GET /ready");
        let client = spans.one("GET").assert_kind(SpanKind::Client).assert_remote_parent(&incoming(SAMPLED));
        spans.one("GET /echo").assert_child_of(&client);
    }
    // A probe without trace context: the layer passes it through, the body is the handler's.
    recorder.reset();
    let (status, _, downstream) = send(raw_client(), get_request(&format!("http://{addr}/health"), &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(downstream.split('-').nth(3), Some("01"), "downstream starts its own trace");
    let spans = wait_for(&recorder, 2).await;
    spans.assert_count(2).assert_none_named("GET /health");
    spans.one("GET").assert_kind(SpanKind::Client).assert_root();
}

#[tokio::test]
async fn public_endpoint_starts_a_new_trace_linked_to_the_caller() {
    let recorder = SpanRecorder::new();
    let config = HttpServerConfig::builder().public_endpoint(true).environment(|_| None);
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ok" }))
        .layer(server_layer(&recorder).config(config).build());
    let addr = serve(app).await;
    send(raw_client(), get_request(&format!("http://{addr}/users/1"), &[("traceparent", SAMPLED)])).await;
    let spans = wait_for(&recorder, 1).await;
    let server = spans.one("GET /users/{id}").assert_root().assert_links_to(&incoming(SAMPLED));
    assert_ne!(server.trace_id().to_string(), TRACE_ID);
}

/// A body that sends what the channel gives, each chunk tagged with the span current when the
/// body was polled.
fn channel_body(rx: mpsc::Receiver<&'static str>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(format!("{chunk}:{};", current_span_id())), rx))
    });
    Body::from_stream(stream)
}

#[tokio::test]
async fn a_streamed_body_keeps_the_span_open_until_it_ends() {
    for axum_body in [false, true] {
        streamed_body(axum_body).await;
    }
}

async fn streamed_body(axum_body: bool) {
    let recorder = SpanRecorder::new();
    let (tx, rx) = mpsc::channel(4);
    let rx = Arc::new(Mutex::new(Some(rx)));
    let handler = move || {
        let rx = rx.lock().unwrap().take().expect("one request");
        async move { channel_body(rx) }
    };
    let app = layered!(Router::new().route("/stream", get(handler)), server_layer(&recorder), axum_body);
    let addr = serve(app).await;

    let response = raw_client().oneshot(get_request(&format!("http://{addr}/stream"), &[])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    tx.send("first").await.unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    settle(&recorder).await.assert_count(0);
    tx.send("last").await.unwrap();
    drop(tx);
    let rest = body.collect().await.unwrap().to_bytes();

    let spans = wait_for(&recorder, 1).await;
    let server = spans.one("GET /stream").assert_status_unset();
    let id = server.span_id().to_string();
    let text = format!("{}{}", String::from_utf8_lossy(&first), String::from_utf8_lossy(&rest));
    assert_eq!(text, format!("first:{id};last:{id};"), "the span is current while the body is polled");
}

#[tokio::test]
async fn a_body_dropped_before_its_end_ends_the_span() {
    for axum_body in [false, true] {
        dropped_body(axum_body).await;
    }
}

async fn dropped_body(axum_body: bool) {
    let recorder = SpanRecorder::new();
    let ticks = || async {
        let stream = futures_util::stream::unfold(0u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Some((Ok::<_, Infallible>(Bytes::from(format!("tick {n}\n"))), n + 1))
        });
        Body::from_stream(stream)
    };
    let app = layered!(Router::new().route("/forever", get(ticks)), server_layer(&recorder), axum_body);
    let addr = serve(app).await;
    let response = raw_client().oneshot(get_request(&format!("http://{addr}/forever"), &[])).await.unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    let spans = wait_for(&recorder, 1).await;
    spans.one("GET /forever").assert_status_unset().assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 200);
}

async fn boom() -> &'static str {
    panic!("boom")
}

#[tokio::test]
async fn a_panicking_handler_ends_the_span_with_error() {
    use tower_http::catch_panic::CatchPanicLayer;
    let recorder = SpanRecorder::new();

    // CatchPanicLayer outside ours: the panic unwinds through our future.
    let app =
        Router::new().route("/boom", get(boom)).layer(server_layer(&recorder).build()).layer(CatchPanicLayer::new());
    let addr = serve(app).await;
    let (status, _, _) = send(raw_client(), get_request(&format!("http://{addr}/boom"), &[])).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let spans = wait_for(&recorder, 1).await;
    spans.one("GET /boom").assert_status_error().assert_attr(semconv::ERROR_TYPE, ERROR_TYPE_PANIC);
    assert_eq!(spans.one("GET /boom").data().events.len(), 1, "an exception event");

    // CatchPanicLayer inside ours: we see its 500.
    recorder.reset();
    let app =
        Router::new().route("/boom", get(boom)).layer(CatchPanicLayer::new()).layer(server_layer(&recorder).build());
    let addr = serve(app).await;
    send(raw_client(), get_request(&format!("http://{addr}/boom"), &[])).await;
    let spans = wait_for(&recorder, 1).await;
    spans.one("GET /boom").assert_status_error().assert_attr(semconv::ERROR_TYPE, "500");

    // No CatchPanicLayer: the connection dies, the span still ends.
    recorder.reset();
    let app = Router::new().route("/boom", get(boom)).layer(server_layer(&recorder).build());
    let addr = serve(app).await;
    let result = raw_client().oneshot(get_request(&format!("http://{addr}/boom"), &[])).await;
    assert!(result.is_err(), "the connection closed without a response");
    let spans = wait_for(&recorder, 1).await;
    spans.one("GET /boom").assert_status_error().assert_attr(semconv::ERROR_TYPE, ERROR_TYPE_PANIC);
}

#[tokio::test]
async fn a_cancelled_request_ends_the_span_with_error() {
    use tower_http::timeout::TimeoutLayer;
    let recorder = SpanRecorder::new();
    let slow = || async { std::future::pending::<&'static str>().await };
    // The timeout drops our future: a cancellation.
    let app = Router::new()
        .route("/slow", get(slow))
        .layer(server_layer(&recorder).build())
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, Duration::from_millis(50)));
    let addr = serve(app).await;
    let (status, _, _) = send(raw_client(), get_request(&format!("http://{addr}/slow"), &[])).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let spans = wait_for(&recorder, 1).await;
    spans
        .one("GET /slow")
        .assert_status_error()
        .assert_attr(semconv::ERROR_TYPE, ERROR_TYPE_CANCELLED)
        .assert_no_attr(semconv::HTTP_RESPONSE_STATUS_CODE);
}

#[tokio::test]
async fn status_codes_unknown_methods_and_unmatched_routes() {
    let recorder = SpanRecorder::new();
    let app = Router::new()
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/pot", any(|| async { "teapot" }))
        .layer(server_layer(&recorder).build());
    let addr = serve(app).await;

    let (status, _, _) = send(raw_client(), get_request(&format!("http://{addr}/nope/42"), &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let spans = wait_for(&recorder, 1).await;
    spans
        .one("GET")
        .assert_status_unset()
        .assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 404)
        .assert_attr(semconv::URL_PATH, "/nope/42")
        .assert_no_attr(semconv::HTTP_ROUTE)
        .assert_no_attr(semconv::ERROR_TYPE);

    recorder.reset();
    send(raw_client(), get_request(&format!("http://{addr}/fail"), &[])).await;
    let spans = wait_for(&recorder, 1).await;
    spans
        .one("GET /fail")
        .assert_status_error()
        .assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 500)
        .assert_attr(semconv::ERROR_TYPE, "500");

    for (path, name) in [("/pot", "HTTP /pot"), ("/nowhere", "HTTP")] {
        recorder.reset();
        let request =
            Request::builder().method("BREW").uri(format!("http://{addr}{path}")).body(Full::default()).unwrap();
        send(raw_client(), request).await;
        let spans = wait_for(&recorder, 1).await;
        spans
            .one(name)
            .assert_attr(semconv::HTTP_REQUEST_METHOD, "_OTHER")
            .assert_attr(semconv::HTTP_REQUEST_METHOD_ORIGINAL, "BREW");
    }
}

#[tokio::test]
async fn malformed_and_hostile_headers_never_panic() {
    let recorder = SpanRecorder::new();
    let app = Router::new().route("/users/{id}", get(|| async { "ok" })).layer(server_layer(&recorder).build());
    let addr = serve(app).await;
    let huge = "a".repeat(64 * 1024);
    let huge_traceparent = format!("00-{TRACE_ID}-{}-01", "b".repeat(64 * 1024));
    let cases: Vec<Vec<(&str, HeaderValue)>> = vec![
        vec![("traceparent", HeaderValue::from_static("00-zzzz-b7ad6b7169203331-01"))],
        vec![("traceparent", HeaderValue::from_bytes(b"00-\xff\xfe-b7ad6b7169203331-01").unwrap())],
        vec![("traceparent", HeaderValue::from_str(&huge_traceparent).unwrap())],
        vec![
            ("traceparent", HeaderValue::from_static(SAMPLED)),
            ("traceparent", HeaderValue::from_static(SAMPLED)),
            ("tracestate", HeaderValue::from_str(&huge).unwrap()),
        ],
        vec![
            ("user-agent", HeaderValue::from_str(&huge).unwrap()),
            ("x-forwarded-for", HeaderValue::from_str(&huge).unwrap()),
            ("forwarded", HeaderValue::from_str(&huge).unwrap()),
            ("baggage", HeaderValue::from_str(&huge).unwrap()),
        ],
        vec![
            ("user-agent", HeaderValue::from_bytes(b"agent \xff\xfe").unwrap()),
            ("x-forwarded-for", HeaderValue::from_bytes(b"\xc3\x28, 10.0.0.1").unwrap()),
            ("x-forwarded-host", HeaderValue::from_bytes(b"\xe2\x82").unwrap()),
        ],
    ];
    for headers in cases {
        recorder.reset();
        let mut request = get_request(&format!("http://{addr}/users/1"), &[]);
        for (name, value) in headers {
            request.headers_mut().append(name, value);
        }
        let (status, _, _) = send(raw_client(), request).await;
        assert_eq!(status, StatusCode::OK);
        let spans = wait_for(&recorder, 1).await;
        let server = spans.one("GET /users/{id}").assert_status_unset();
        assert_ne!(server.trace_id().to_string(), TRACE_ID, "an invalid traceparent starts a new trace");
        if let Some(agent) = server.attr(semconv::USER_AGENT_ORIGINAL) {
            assert!(agent.as_str().starts_with("a") || agent.as_str() == "agent \u{fffd}\u{fffd}");
        }
    }
}

#[tokio::test]
async fn traceresponse_names_the_server_span() {
    let recorder = SpanRecorder::new();
    let app =
        Router::new().route("/", get(|| async { "ok" })).layer(server_layer(&recorder).traceresponse(true).build());
    let addr = serve(app).await;
    let (_, headers, _) =
        send(raw_client(), get_request(&format!("http://{addr}/"), &[("traceparent", SAMPLED)])).await;
    let spans = wait_for(&recorder, 1).await;
    let server = spans.one("GET /");
    let expected = format!("00-{TRACE_ID}-{}-01", server.span_id());
    assert_eq!(headers.get("traceresponse").unwrap(), expected.as_str());
}

#[tokio::test]
async fn hooks_and_span_name_formatter() {
    let recorder = SpanRecorder::new();
    let layer = server_layer(&recorder)
        .response_hook(|span: &SpanRef<'_>, response: &http::Response<Body>| {
            let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("none");
            span.set_attribute(KeyValue::new("app.content_type", kind.to_owned()));
        })
        .span_name(|method: HttpMethod<'_>, route: Option<&str>, _: &Request<Body>| -> Cow<'static, str> {
            Cow::Owned(format!("api {} {}", method.as_str(), route.unwrap_or("-")))
        })
        .build();
    let app = Router::new().route("/items", get(|| async { "ok" })).layer(layer);
    let addr = serve(app).await;
    send(raw_client(), get_request(&format!("http://{addr}/items"), &[])).await;
    let spans = wait_for(&recorder, 1).await;
    spans.one("api GET /items").assert_attr("app.content_type", "text/plain; charset=utf-8");
}

/// A route extractor for a hand-written router.
fn orders_route(request: &Request<hyper::body::Incoming>) -> Option<Cow<'static, str>> {
    request.uri().path().starts_with("/orders/").then_some(Cow::Borrowed("/orders/:id"))
}

#[tokio::test]
async fn a_hyper_service_with_a_route_function() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let recorder = SpanRecorder::new();
    let service = tower::service_fn(|request: Request<hyper::body::Incoming>| async move {
        let body = format!("{} {}", request.uri().path(), current_span_id());
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body))))
    });
    let layer = server_layer(&recorder).route(orders_route).build();
    let service = tower::Layer::layer(&layer, service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .await;
    });
    let (_, _, body) = send(raw_client(), get_request(&format!("http://{addr}/orders/9"), &[])).await;
    let spans = wait_for(&recorder, 1).await;
    let server =
        spans.one("GET /orders/:id").assert_kind(SpanKind::Server).assert_attr(semconv::HTTP_ROUTE, "/orders/:id");
    assert_eq!(body, format!("/orders/9 {}", server.span_id()));
}

#[tokio::test]
async fn listed_credentials_are_recorded_redacted_on_both_sides() {
    let recorder = SpanRecorder::new();
    let listed = ["authorization", "x-api-token", "x-user-id"];
    let layer = server_layer(&recorder).config(
        HttpServerConfig::builder()
            .capture_request_headers(listed)
            .sensitive_headers(["x-.*-token"])
            .environment(|_| None),
    );
    // The handler sees the credentials as sent: redaction is only what the span records.
    let handler = |headers: http::HeaderMap| async move {
        headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let addr = serve(Router::new().route("/me", get(handler)).layer(layer.build())).await;
    let client_config = otel_core::config::HttpClientConfig::builder()
        .capture_request_headers(listed)
        .sensitive_headers(["x-.*-token"])
        .environment(|_| None);
    let client = tower::Layer::layer(&client_layer(&recorder).config(client_config).build(), raw_client());
    let headers = [("authorization", "Bearer s3cret"), ("x-api-token", "t0ken"), ("x-user-id", "42")];
    let (status, _, body) = send(client, get_request(&format!("http://{addr}/me"), &headers)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Bearer s3cret"));

    let spans = wait_for(&recorder, 2).await;
    let value = |v: &str| Value::Array(Array::String(vec![StringValue::from(v.to_owned())]));
    for span in [spans.one("GET"), spans.one("GET /me")] {
        span.assert_attr("http.request.header.authorization", value("[REDACTED]"))
            .assert_attr("http.request.header.x-api-token", value("[REDACTED]"))
            .assert_attr("http.request.header.x-user-id", value("42"));
    }
    assert!(!spans.describe().contains("s3cret") && !spans.describe().contains("t0ken"));
}
