//! The middleware against a real actix-web server on 127.0.0.1, with requests sent as raw bytes.

mod common;

use actix_web::dev::ServiceResponse;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, error};
use common::{PARENT_ID, TRACE_ID, current_span_recording, current_traceparent, get, raw, traceparent, wait_for_spans};
use futures_util::StreamExt as _;
use opentelemetry::trace::{SpanContext, SpanKind, SpanRef, Status, TraceContextExt as _};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, SdkTracer, ShouldSample};
use otel_actix::{OtelMiddleware, OtelMiddlewareBuilder};
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::semconv::http::HttpMethod;
use otel_core::testing::{SpanRecorder, remote_context};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// The middleware on the recorder's provider, the strict propagator, and no environment.
fn otel(recorder: &SpanRecorder) -> OtelMiddlewareBuilder<SdkTracer> {
    OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}", web::get().to(|| async { "user" }))
        .route("/context", web::get().to(|| async { current_traceparent() }))
        .route("/health", web::get().to(|| async { current_traceparent() }))
        .route("/internal/stats", web::get().to(|| async { current_traceparent() }))
        .route("/fail", web::get().to(HttpResponse::InternalServerError))
        .route(
            "/unavailable",
            web::get().to(|| async { Err::<String, _>(error::ErrorServiceUnavailable("database down")) }),
        )
        .route("/bad", web::get().to(|| async { Err::<String, _>(error::ErrorBadRequest("bad input")) }))
        .route("/panic", web::get().to(panic_handler))
        .route(
            "/stream",
            web::get().to(|| async {
                // Each chunk reports the context current while the body is polled, and whether
                // the server span is still open then.
                let chunks = futures_util::stream::iter(0..3).map(|_| {
                    Ok::<_, actix_web::Error>(Bytes::from(format!(
                        "{} {}\n",
                        current_traceparent(),
                        current_span_recording()
                    )))
                });
                HttpResponse::Ok().streaming(chunks)
            }),
        );
}

async fn panic_handler() -> &'static str {
    panic!("handler bug")
}

fn remote_parent() -> SpanContext {
    remote_context(&format!("00-{TRACE_ID}-{PARENT_ID}-01")).span().span_context().clone()
}

fn addr_attrs(exchange: &common::Exchange, server: std::net::SocketAddr) -> Vec<KeyValue> {
    vec![
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("server.port", i64::from(server.port())),
        KeyValue::new("client.address", "127.0.0.1"),
        KeyValue::new("network.peer.address", "127.0.0.1"),
        KeyValue::new("network.peer.port", i64::from(exchange.local.port())),
        KeyValue::new("network.protocol.version", "1.1"),
    ]
}

#[actix_web::test]
async fn a_matched_route_gets_the_full_attribute_set() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = raw(
        addr,
        format!(
            "GET /users/42?page=2&sig=secret HTTP/1.1\r\nHost: shop.example:8443\r\nUser-Agent: test-agent/1.0\r\n{}",
            traceparent("01")
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(exchange.status(), 200);

    let spans = wait_for_spans(&recorder, 1).await;
    spans.assert_count(1);
    spans
        .one("GET /users/{id}")
        .assert_kind(SpanKind::Server)
        .assert_remote_parent(&remote_parent())
        .assert_status_unset()
        .assert_attrs_exactly(&[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.path", "/users/42"),
            KeyValue::new("url.query", "page=2&sig=REDACTED"),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.route", "/users/{id}"),
            KeyValue::new("server.address", "shop.example"),
            KeyValue::new("server.port", 8443_i64),
            KeyValue::new("network.protocol.version", "1.1"),
            KeyValue::new("user_agent.original", "test-agent/1.0"),
            KeyValue::new("client.address", "127.0.0.1"),
            KeyValue::new("network.peer.address", "127.0.0.1"),
            KeyValue::new("network.peer.port", i64::from(exchange.local.port())),
            KeyValue::new("http.response.status_code", 200_i64),
        ]);
}

#[actix_web::test]
async fn the_server_span_is_current_in_the_handler() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = get(addr, "/context", &[&traceparent("01")]).await;
    let spans = wait_for_spans(&recorder, 1).await;
    let span = spans.one("GET /context");
    assert_eq!(exchange.body(), format!("00-{TRACE_ID}-{}-01", span.span_id()));
}

#[actix_web::test]
async fn an_unsampled_caller_is_propagated_without_recording() {
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let recorder_off = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let (mw, mw_off) = (otel(&recorder).build(), otel(&recorder_off).build());
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));
    let addr_off = serve!(move || App::new().wrap(mw_off.clone()).configure(routes));

    // The caller did not sample, or this service's sampler drops what the caller sampled: the
    // trace continues, unsampled, from this service's (unrecorded) span.
    for (addr, flags) in [(addr, "00"), (addr_off, "01")] {
        let exchange = get(addr, "/context", &[&traceparent(flags)]).await;
        let sent = exchange.body();
        assert!(sent.starts_with(&format!("00-{TRACE_ID}-")) && sent.ends_with("-00"), "{sent}");
        assert!(!sent.contains(PARENT_ID), "{sent}");
    }

    // A marker request proves the server finished the previous ones.
    get(addr, "/users/1", &[]).await;
    let spans = wait_for_spans(&recorder, 1).await;
    spans.assert_count(1).one("GET /users/{id}");
    assert!(recorder_off.spans().is_empty());
}

#[actix_web::test]
async fn excluded_requests_get_no_span_but_keep_the_callers_context() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder)
        .config(
            HttpServerConfig::builder()
                .exclude_path("/health")
                .environment(|name| (name == "OTEL_RUST_ACTIX_EXCLUDED_URLS").then(|| "^/internal/".to_owned())),
        )
        .build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    for path in ["/health", "/internal/stats"] {
        let exchange = get(addr, path, &[&traceparent("01")]).await;
        assert_eq!(exchange.status(), 200);
        assert_eq!(exchange.body(), format!("00-{TRACE_ID}-{PARENT_ID}-01"), "{path}: the caller's context");
    }
    get(addr, "/users/1", &[]).await;
    wait_for_spans(&recorder, 1).await.assert_count(1).one("GET /users/{id}");
}

#[actix_web::test]
async fn the_adapter_variable_replaces_the_common_one() {
    let recorder = SpanRecorder::new();
    let env = |name: &str| match name {
        "OTEL_RUST_EXCLUDED_URLS" => Some("/users/".to_owned()),
        "OTEL_RUST_TOWER_EXCLUDED_URLS" => Some("/context".to_owned()),
        _ => None,
    };
    let mw = otel(&recorder).config(HttpServerConfig::builder().environment(env)).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));
    get(addr, "/users/1", &[]).await; // excluded by the common variable
    get(addr, "/context", &[]).await; // another adapter's variable does not apply
    wait_for_spans(&recorder, 1).await.assert_count(1).one("GET /context");

    let recorder = SpanRecorder::new();
    let env = |name: &str| match name {
        "OTEL_RUST_EXCLUDED_URLS" => Some("/users/".to_owned()),
        "OTEL_RUST_ACTIX_EXCLUDED_URLS" => Some("/context".to_owned()),
        _ => None,
    };
    let mw = otel(&recorder).config(HttpServerConfig::builder().environment(env)).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));
    get(addr, "/context", &[]).await; // excluded by actix's own variable
    get(addr, "/users/1", &[]).await; // which replaces the common one
    wait_for_spans(&recorder, 1).await.assert_count(1).one("GET /users/{id}");
}

#[actix_web::test]
async fn a_public_endpoint_starts_a_new_trace_linked_to_the_caller() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).config(HttpServerConfig::builder().public_endpoint(true).environment(|_| None)).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = get(addr, "/context", &[&traceparent("01")]).await;
    let spans = wait_for_spans(&recorder, 1).await;
    let span = spans.one("GET /context").assert_root().assert_links_to(&remote_parent());
    assert_ne!(span.trace_id().to_string(), TRACE_ID);
    assert_eq!(exchange.body(), format!("00-{}-{}-01", span.trace_id(), span.span_id()));
}

#[actix_web::test]
async fn a_streaming_body_runs_in_the_span_which_ends_with_it() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = get(addr, "/stream", &[&traceparent("01")]).await;
    let spans = wait_for_spans(&recorder, 1).await;
    let span = spans.one("GET /stream").assert_status_unset().assert_attr("http.response.status_code", 200_i64);
    let expected = format!("00-{TRACE_ID}-{}-01 true", span.span_id());
    let lines: Vec<&str> = exchange.body().lines().filter(|l| l.starts_with("00-")).collect();
    assert_eq!(lines, [expected.as_str(); 3], "every chunk polled inside the open span");
}

#[actix_web::test]
async fn a_panicking_handler_ends_its_span_with_an_error() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = get(addr, "/panic", &[]).await;
    assert_eq!(exchange.status(), 0, "actix-web drops the connection: {:?}", exchange.response);
    let spans = wait_for_spans(&recorder, 1).await;
    let span = spans
        .one("GET")
        .assert_status_error()
        .assert_attr("error.type", "panic")
        .assert_no_attr("http.response.status_code")
        .assert_no_attr("http.route");
    let event = &span.data().events.events[0];
    assert_eq!(event.name, "exception");
}

#[actix_web::test]
async fn unmatched_paths_are_named_by_the_method_alone() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = get(addr, "/nowhere/7", &[]).await;
    assert_eq!(exchange.status(), 404);
    let spans = wait_for_spans(&recorder, 1).await;
    spans
        .one("GET")
        .assert_status_unset()
        .assert_no_attr("http.route")
        .assert_no_attr("error.type")
        .assert_attr("http.response.status_code", 404_i64)
        .assert_attr("url.path", "/nowhere/7");
}

#[actix_web::test]
async fn server_errors_are_errors_and_client_errors_are_not() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    assert_eq!(get(addr, "/fail", &[]).await.status(), 500);
    assert_eq!(get(addr, "/unavailable", &[]).await.status(), 503);
    assert_eq!(get(addr, "/bad", &[]).await.status(), 400);
    let spans = wait_for_spans(&recorder, 3).await;

    let fail = spans.one("GET /fail").assert_status_error().assert_attr("error.type", "500");
    assert_eq!(fail.status(), &Status::error(""), "no description repeating the code");
    assert!(fail.data().events.events.is_empty(), "a plain 500 response carries no error");

    let unavailable = spans.one("GET /unavailable").assert_status_error().assert_attr("error.type", "503");
    let event = &unavailable.data().events.events[0];
    assert_eq!(event.name, "exception");
    assert_eq!(event.attributes, [KeyValue::new("exception.message", "database down")]);

    spans
        .one("GET /bad")
        .assert_status_unset()
        .assert_no_attr("error.type")
        .assert_attr("http.response.status_code", 400_i64);
}

#[actix_web::test]
async fn unknown_methods_are_recorded_as_other() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder).build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    let exchange = raw(addr, format!("PURGE /users/7 HTTP/1.1\r\nHost: {addr}").as_bytes()).await;
    assert_eq!(exchange.status(), 404, "no PURGE route");
    let spans = wait_for_spans(&recorder, 1).await;
    let mut expected = vec![
        KeyValue::new("http.request.method", "_OTHER"),
        KeyValue::new("http.request.method_original", "PURGE"),
        KeyValue::new("url.path", "/users/7"),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.response.status_code", 404_i64),
    ];
    expected.extend(addr_attrs(&exchange, addr));
    // The path matched a resource whose only route is GET: the route template is still known.
    expected.push(KeyValue::new("http.route", "/users/{id}"));
    spans.one("HTTP /users/{id}").assert_attrs_exactly(&expected);
}

#[actix_web::test]
async fn hostile_headers_never_break_a_request() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder)
        .config(HttpServerConfig::builder().capture_request_headers(["x-blob"]).environment(|_| None))
        .build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));
    let big = "a".repeat(64 * 1024);

    let cases: Vec<Vec<u8>> = vec![
        b"traceparent: 00-zzzz-00f067aa0ba902b7-01".to_vec(),
        format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-01\r\ntraceparent: 00-{TRACE_ID}-{PARENT_ID}-01").into_bytes(),
        format!("traceparent: {big}").into_bytes(),
        format!("x-blob: {big}").into_bytes(),
        format!("user-agent: {big}").into_bytes(),
        format!("tracestate: {big}").into_bytes(),
        b"traceparent: 00-\xff\xfe-\x80-01\r\nuser-agent: \xff\xfeagent\r\nx-forwarded-for: \xc3\x28\r\nx-blob: \xff"
            .to_vec(),
        b"forwarded: for=\"[::1\";host=\xff\r\nx-forwarded-host: :::".to_vec(),
    ];
    for (i, headers) in cases.iter().enumerate() {
        let mut head = format!("GET /context HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
        head.extend_from_slice(headers);
        let exchange = raw(addr, &head).await;
        assert_eq!(exchange.status(), 200, "case {i}: {:?}", exchange.response.get(..200));
        assert!(!exchange.body().contains(TRACE_ID), "case {i}: an invalid traceparent starts a new trace");
    }
    let spans = wait_for_spans(&recorder, cases.len()).await;
    spans.assert_count(cases.len());
    for span in spans.iter() {
        assert_eq!(span.name(), "GET /context");
        span.assert_root();
    }
    // Bytes that are not UTF-8 are replaced, never dropped or a panic.
    let agents: Vec<&Value> = spans.iter().filter_map(|s| s.attr("user_agent.original")).collect();
    assert!(agents.contains(&&Value::from("\u{fffd}\u{fffd}agent")), "{agents:?}");
    let blobs: Vec<&Value> = spans.iter().filter_map(|s| s.attr("http.request.header.x-blob")).collect();
    assert!(blobs.contains(&&Value::Array(Array::String(vec![StringValue::from("\u{fffd}")]))), "{blobs:?}");
}

#[actix_web::test]
async fn a_scope_or_a_resource_can_be_wrapped() {
    let recorder = SpanRecorder::new();
    let (scope_mw, resource_mw) = (otel(&recorder).build(), otel(&recorder).build());
    let addr = serve!(move || {
        App::new()
            .service(web::scope("/api").wrap(scope_mw.clone()).route("/users/{id}", web::get().to(|| async { "u" })))
            .service(web::resource("/items/{id}").wrap(resource_mw.clone()).route(web::get().to(|| async { "i" })))
            .route("/untraced", web::get().to(|| async { "x" }))
    });

    get(addr, "/api/users/7", &[]).await;
    get(addr, "/api/nothing", &[]).await;
    get(addr, "/items/9", &[]).await;
    get(addr, "/untraced", &[]).await;
    let spans = wait_for_spans(&recorder, 3).await;
    spans.assert_count(3);
    spans.one("GET /api/users/{id}").assert_attr("http.route", "/api/users/{id}");
    spans.one("GET").assert_attr("url.path", "/api/nothing").assert_no_attr("http.route");
    spans.one("GET /items/{id}").assert_attr("http.route", "/items/{id}");
}

/// A sampler that samples everything and remembers what it saw at span start.
#[derive(Clone, Debug, Default)]
struct SeenBySampler(Arc<Mutex<Vec<SeenSpan>>>);

/// A span's name and the attribute keys its sampler saw, sorted.
type SeenSpan = (String, Vec<String>);

impl ShouldSample for SeenBySampler {
    fn should_sample(
        &self,
        _: Option<&opentelemetry::Context>,
        _: opentelemetry::trace::TraceId,
        name: &str,
        _: &SpanKind,
        attributes: &[KeyValue],
        _: &[opentelemetry::trace::Link],
    ) -> SamplingResult {
        let mut keys: Vec<String> = attributes.iter().map(|kv| kv.key.to_string()).collect();
        keys.sort();
        self.0.lock().unwrap().push((name.to_owned(), keys));
        SamplingResult {
            decision: SamplingDecision::RecordAndSample,
            attributes: Vec::new(),
            trace_state: Default::default(),
        }
    }
}

#[actix_web::test]
async fn the_sampler_sees_the_request_attributes_at_start() {
    let seen = SeenBySampler::default();
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(seen.clone())));
    let (app_mw, resource_mw) = (otel(&recorder).build(), otel(&recorder).build());
    let addr = serve!(move || {
        App::new()
            .service(web::resource("/items/{id}").wrap(resource_mw.clone()).route(web::get().to(|| async { "i" })))
            .service(web::scope("").wrap(app_mw.clone()).route("/users/{id}", web::get().to(|| async { "u" })))
    });
    get(addr, "/users/1", &[]).await;
    get(addr, "/items/2", &[]).await;
    wait_for_spans(&recorder, 2).await;

    let seen = seen.0.lock().unwrap().clone();
    let common = [
        "client.address",
        "http.request.method",
        "network.peer.address",
        "network.peer.port",
        "network.protocol.version",
        "server.address",
        "server.port",
        "url.path",
        "url.scheme",
    ];
    // Wrapping an app or scope, the route is matched after the span started.
    assert_eq!(seen[0], ("GET".to_owned(), common.map(String::from).to_vec()));
    // Wrapping a resource, it is known at start.
    let mut with_route = common.map(String::from).to_vec();
    with_route.push("http.route".to_owned());
    with_route.sort();
    assert_eq!(seen[1], ("GET /items/{id}".to_owned(), with_route));
}

#[actix_web::test]
async fn hooks_and_span_name_formatter() {
    let recorder = SpanRecorder::new();
    let mw = otel(&recorder)
        .request_hook(|span: &SpanRef<'_>, request: &HttpRequest| {
            if let Some(tenant) = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
                span.set_attribute(KeyValue::new("tenant.id", tenant.to_owned()));
            }
        })
        .response_hook(|span: &SpanRef<'_>, response: &ServiceResponse| {
            span.set_attribute(KeyValue::new("test.response_status", i64::from(response.status().as_u16())));
        })
        .span_name(|method: HttpMethod<'_>, route: Option<&str>, _: &HttpRequest| {
            Cow::Owned(format!("{} {}", method.as_str(), route.unwrap_or("(unmatched)")))
        })
        .build();
    let addr = serve!(move || App::new().wrap(mw.clone()).configure(routes));

    get(addr, "/users/3", &["x-tenant: acme"]).await;
    get(addr, "/nowhere", &[]).await;
    let spans = wait_for_spans(&recorder, 2).await;
    spans.one("GET /users/{id}").assert_attr("tenant.id", "acme").assert_attr("test.response_status", 200_i64);
    spans.one("GET (unmatched)").assert_no_attr("tenant.id").assert_attr("test.response_status", 404_i64);
}
