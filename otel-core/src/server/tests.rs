//! The lifecycle on its own, without any framework: start, respond, end, fail, drop, panic.

use super::*;
use crate::config::HttpServerConfig;
use crate::propagation::StrictTraceContextPropagator;
use crate::testing::{SpanRecorder, remote_context};
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceFlags};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::Sampler;
use std::net::SocketAddr;

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A request described field by field, as an adapter would from its framework's request.
#[derive(Debug)]
pub(crate) struct TestRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) scheme: &'static str,
    pub(crate) protocol_version: Option<&'static str>,
    pub(crate) authority: Option<&'a str>,
    pub(crate) headers: &'a http::HeaderMap,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) route: Option<&'a str>,
}

impl<'a> TestRequest<'a> {
    fn get(target: &'a str, headers: &'a http::HeaderMap) -> Self {
        Self {
            method: "GET",
            target,
            scheme: "http",
            protocol_version: Some("1.1"),
            authority: None,
            headers,
            peer: None,
            route: None,
        }
    }
}

impl ServerRequest for TestRequest<'_> {
    type Headers = http::HeaderMap;
    type Native = str;

    fn method(&self) -> &str {
        self.method
    }
    fn target(&self) -> &str {
        self.target
    }
    fn headers(&self) -> &http::HeaderMap {
        self.headers
    }
    fn scheme(&self) -> &'static str {
        self.scheme
    }
    fn protocol_version(&self) -> Option<&'static str> {
        self.protocol_version
    }
    fn authority(&self) -> Option<&str> {
        self.authority
    }
    fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
    fn route(&self) -> Option<Cow<'_, str>> {
        self.route.map(Cow::Borrowed)
    }
    /// Hooks and formatters see the request target.
    fn native(&self) -> &str {
        self.target
    }
}

/// A response described by its status, with an optional error attached.
struct TestResponse {
    status: u16,
    error: Option<&'static str>,
}

impl ServerResponse for TestResponse {
    type Headers = http::HeaderMap;
    type Native = u16;

    fn status(&self) -> u16 {
        self.status
    }
    fn headers(&self) -> Option<&http::HeaderMap> {
        None
    }
    fn error(&self) -> Option<&dyn fmt::Display> {
        self.error.as_ref().map(|e| e as &dyn fmt::Display)
    }
    fn native(&self) -> Option<&u16> {
        Some(&self.status)
    }
}

fn ok() -> TestResponse {
    TestResponse { status: 200, error: None }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("lifecycle-test").build()
}

fn builder(recorder: &SpanRecorder) -> ServerTelemetryBuilder<opentelemetry_sdk::trace::SdkTracer> {
    ServerTelemetry::builder(scope())
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().exclude_path("/health").environment(|_| None))
}

fn caller() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", CALLER.parse().unwrap());
    headers.insert("host", "shop.example:8080".parse().unwrap());
    headers
}

#[test]
fn a_request_is_one_server_span_under_the_caller_ended_with_its_body() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let headers = caller();
    let request = TestRequest { route: Some("/users/{id}"), ..TestRequest::get("/users/7?page=2", &headers) };
    let mut telemetry = server.start(&request);
    assert!(!telemetry.passes_through());
    let current = telemetry.poll(|telemetry| {
        server.respond(telemetry, &ok());
        Context::current().span().span_context().clone()
    });
    assert!(recorder.spans().is_empty(), "the body is still to come");
    telemetry.end();
    telemetry.end();
    drop(telemetry);
    let spans = recorder.spans();
    spans.assert_count(1);
    let span = spans
        .one("GET /users/{id}")
        .assert_kind(SpanKind::Server)
        .assert_remote_parent(remote_context(CALLER).span().span_context())
        .assert_attr("http.route", "/users/{id}")
        .assert_attr("url.path", "/users/7")
        .assert_attr("url.query", "page=2")
        .assert_attr("server.address", "shop.example")
        .assert_attr("server.port", 8080_i64)
        .assert_attr("http.response.status_code", 200_i64)
        .assert_status_unset();
    assert_eq!(span.span_context(), &current, "the span is current while the handler runs");
}

#[test]
fn an_excluded_request_has_no_span_and_keeps_the_callers_context_when_it_carries_one() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let none = http::HeaderMap::new();
    let mut probe = server.start(&TestRequest::get("/health", &none));
    assert!(probe.passes_through(), "no context to carry: untouched");
    assert!(probe.attach().is_none());
    server.respond(&mut probe, &ok());
    probe.end();

    let headers = caller();
    let mut excluded = server.start(&TestRequest::get("/health?verbose=1", &headers));
    assert!(!excluded.passes_through());
    let trace_id = excluded.poll(|_| Context::current().span().span_context().trace_id());
    assert_eq!(trace_id, remote_context(CALLER).span().span_context().trace_id());
    server.respond(&mut excluded, &ok());
    assert_eq!(server.traceresponse(&excluded), None);
    excluded.end();
    assert!(excluded.passes_through(), "the context is let go at the end");
    assert!(recorder.spans().is_empty());
}

#[test]
fn dropped_before_a_response_is_a_cancelled_request() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let headers = caller();
    let telemetry = server.start(&TestRequest::get("/slow", &headers));
    drop(telemetry);
    let spans = recorder.spans();
    spans.assert_count(1);
    let span = spans.one("GET").assert_status_error().assert_attr("error.type", "cancelled");
    assert_eq!(span.data().events.len(), 1, "an exception event");
}

#[test]
fn dropped_after_the_response_head_keeps_the_status() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let headers = caller();
    let mut telemetry = server.start(&TestRequest::get("/stream", &headers));
    server.respond(&mut telemetry, &TestResponse { status: 404, error: None });
    drop(telemetry); // the client went away during the body
    let spans = recorder.spans();
    spans.assert_count(1);
    spans
        .one("GET")
        .assert_status_unset()
        .assert_attr("http.response.status_code", 404_i64)
        .assert_no_attr("error.type");
}

#[test]
fn a_panic_in_the_handler_or_the_body_ends_the_span_as_a_panic() {
    for respond_first in [false, true] {
        let recorder = SpanRecorder::new();
        let server = builder(&recorder).build("test");
        let headers = caller();
        let mut telemetry = server.start(&TestRequest::get("/boom", &headers));
        if respond_first {
            server.respond(&mut telemetry, &ok());
        }
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            telemetry.poll(|_| panic!("the handler failed"));
        }));
        assert!(unwound.is_err());
        assert!(recorder.spans().is_empty(), "ended when dropped, once");
        drop(telemetry);
        let spans = recorder.spans();
        spans.assert_count(1);
        spans.one("GET").assert_status_error().assert_attr("error.type", "panic");
    }
}

#[test]
fn a_failure_and_a_server_error_are_errors_a_client_error_is_not() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let headers = caller();
    let mut failed = server.start(&TestRequest::get("/fail", &headers));
    failed.fail(crate::semconv::http::ERROR_TYPE_OTHER, "the service failed");
    drop(failed);
    let mut server_error = server.start(&TestRequest::get("/five", &headers));
    server.respond(&mut server_error, &TestResponse { status: 503, error: Some("database unavailable") });
    server_error.end();
    let mut client_error = server.start(&TestRequest::get("/four", &headers));
    server.respond(&mut client_error, &TestResponse { status: 400, error: Some("bad input") });
    client_error.end();

    let spans = recorder.spans();
    spans.assert_count(3);
    let by_path =
        |path: &str| spans.iter().find(|s| s.attr("url.path").map(|v| v.as_str()) == Some(path.into())).unwrap();
    by_path("/fail")
        .assert_status_error()
        .assert_attr("error.type", "_OTHER")
        .assert_no_attr("http.response.status_code");
    let five = by_path("/five").assert_status_error().assert_attr("error.type", "503");
    let message = five
        .data()
        .events
        .iter()
        .next()
        .and_then(|e| e.attributes.iter().find(|kv| kv.key.as_str() == "exception.message"));
    assert_eq!(message.map(|kv| kv.value.as_str().into_owned()), Some("database unavailable".to_owned()));
    let four = by_path("/four").assert_status_unset().assert_no_attr("error.type");
    assert!(four.data().events.is_empty(), "a 4xx error is the client's: no exception");
}

#[test]
fn a_route_told_after_routing_names_the_span_once() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let headers = caller();
    let request = TestRequest::get("/orders/9", &headers);
    let mut telemetry = server.start(&request);
    let routed = TestRequest { route: Some("/orders/{id}"), ..TestRequest::get("/orders/9", &headers) };
    server.route_matched(&mut telemetry, &routed);
    let again = TestRequest { route: Some("/not/{this}"), ..TestRequest::get("/orders/9", &headers) };
    server.route_matched(&mut telemetry, &again);
    server.respond(&mut telemetry, &ok());
    telemetry.end();
    recorder.spans().one("GET /orders/{id}").assert_attr("http.route", "/orders/{id}");
}

#[test]
fn hooks_and_the_span_name_formatter_see_the_native_request_and_response() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder)
        .request_hook(|span: &opentelemetry::trace::SpanRef<'_>, target: &str| {
            span.set_attribute(KeyValue::new("test.target", target.to_owned()));
        })
        .response_hook(|span: &opentelemetry::trace::SpanRef<'_>, status: &u16| {
            span.set_attribute(KeyValue::new("test.status", i64::from(*status)));
        })
        .span_name(|method: crate::semconv::http::HttpMethod<'_>, route: Option<&str>, target: &str| {
            Cow::Owned(format!("{} {} ({target})", method.as_str(), route.unwrap_or("-")))
        })
        .build("test");
    let headers = caller();
    let mut telemetry = server.start(&TestRequest { route: Some("/a/{b}"), ..TestRequest::get("/a/1", &headers) });
    server.respond(&mut telemetry, &TestResponse { status: 201, error: None });
    telemetry.end();
    recorder.spans().one("GET /a/{b} (/a/1)").assert_attr("test.target", "/a/1").assert_attr("test.status", 201_i64);
}

#[test]
fn a_public_endpoint_starts_a_new_trace_linked_to_the_caller() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder)
        .config(HttpServerConfig::builder().public_endpoint(true).environment(|_| None))
        .build("test");
    let headers = caller();
    let mut telemetry = server.start(&TestRequest::get("/", &headers));
    telemetry.end();
    drop(telemetry);
    let incoming = remote_context(CALLER).span().span_context().clone();
    let spans = recorder.spans();
    let span = spans.one("GET").assert_root().assert_links_to(&incoming);
    assert_ne!(span.trace_id(), incoming.trace_id());
}

#[test]
fn an_unsampled_request_records_nothing_and_still_carries_its_context() {
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let server = builder(&recorder).traceresponse(true).build("test");
    let headers = caller();
    let mut telemetry = server.start(&TestRequest::get("/users/7", &headers));
    let current = telemetry.poll(|_| Context::current().span().span_context().clone());
    assert!(current.is_valid() && !current.is_sampled());
    assert_eq!(current.trace_id(), remote_context(CALLER).span().span_context().trace_id());
    server.respond(&mut telemetry, &ok());
    let traceresponse = server.traceresponse(&telemetry).expect("a span, unsampled");
    assert_eq!(traceresponse, format!("00-{}-{}-00", current.trace_id(), current.span_id()));
    drop(telemetry);
    assert!(recorder.spans().is_empty());
}

#[test]
fn traceresponse_names_the_span_and_only_when_asked() {
    let recorder = SpanRecorder::new();
    let headers = caller();
    let off = builder(&recorder).build("test");
    let mut telemetry = off.start(&TestRequest::get("/", &headers));
    assert_eq!(off.traceresponse(&telemetry), None);
    telemetry.end();
    let on = builder(&recorder).traceresponse(true).build("test");
    let mut telemetry = on.start(&TestRequest::get("/", &headers));
    on.respond(&mut telemetry, &ok());
    let value = on.traceresponse(&telemetry).unwrap();
    telemetry.end();
    assert_eq!(on.traceresponse(&telemetry), None, "the span ended");
    let spans = recorder.spans();
    let span = spans.iter().last().unwrap();
    let flags = TraceFlags::SAMPLED.to_u8();
    assert_eq!(value, format!("00-{}-{}-{flags:02x}", span.trace_id(), span.span_id()));
}

#[test]
fn metrics_count_a_request_once_whatever_ends_it() {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).meter_provider(&meters).build("test");
    let headers = caller();
    let mut done = server.start(&TestRequest { route: Some("/users/{id}"), ..TestRequest::get("/users/7", &headers) });
    server.respond(&mut done, &ok());
    done.end();
    drop(done);
    drop(server.start(&TestRequest::get("/gone", &headers)));
    let mut late = server.start(&TestRequest::get("/orders/1", &headers));
    server.route_matched(
        &mut late,
        &TestRequest { route: Some("/orders/{id}"), ..TestRequest::get("/orders/1", &headers) },
    );
    server.respond(&mut late, &TestResponse { status: 500, error: None });
    drop(late);
    drop(server.start(&TestRequest::get("/health", &headers)));
    meters.force_flush().unwrap();

    let mut points = Vec::new();
    let mut active = Vec::new();
    for resource in exporter.get_finished_metrics().unwrap() {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics() {
                match (metric.name(), metric.data()) {
                    ("http.server.request.duration", AggregatedMetrics::F64(MetricData::Histogram(h))) => {
                        for point in h.data_points() {
                            let mut attrs: Vec<String> =
                                point.attributes().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                            attrs.sort();
                            points.push((attrs.join(" "), point.count()));
                        }
                    }
                    ("http.server.active_requests", AggregatedMetrics::I64(MetricData::Sum(sum))) => {
                        active.extend(sum.data_points().map(|p| p.value()));
                    }
                    _ => {}
                }
            }
        }
    }
    points.sort();
    let get = "http.request.method=GET";
    let tail = "network.protocol.version=1.1 url.scheme=http";
    assert_eq!(
        points,
        [
            (format!("error.type=500 {get} http.response.status_code=500 http.route=/orders/{{id}} {tail}"), 1),
            (format!("error.type=cancelled {get} {tail}"), 1),
            (format!("{get} http.response.status_code=200 http.route=/users/{{id}} {tail}"), 1),
        ]
    );
    assert_eq!(active, [0], "every request counted out");
}

#[test]
fn continue_keeps_the_callers_context_a_public_endpoint_links_to_it_and_drops_its_baggage() {
    use opentelemetry::baggage::BaggageExt;
    let recorder = SpanRecorder::new();
    let mut headers = caller();
    headers.insert("baggage", "user.tier=gold".parse().unwrap());
    let incoming = remote_context(CALLER).span().span_context().clone();

    let with_baggage = || {
        opentelemetry::propagation::TextMapCompositePropagator::new(vec![
            Box::new(StrictTraceContextPropagator::new()),
            Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
        ])
    };
    let continued = builder(&recorder).propagator(with_baggage()).build("test");
    let (parent, link) = continued.parent(&headers);
    assert_eq!(parent.span().span_context(), &incoming);
    assert_eq!(parent.baggage().get("user.tier").map(|v| v.as_str().to_owned()), Some("gold".to_owned()));
    assert!(link.is_none());

    let public = builder(&recorder)
        .propagator(with_baggage())
        .config(HttpServerConfig::builder().public_endpoint(true).environment(|_| None))
        .build("test");
    let (parent, link) = public.parent(&headers);
    assert!(!parent.span().span_context().is_valid(), "a new trace");
    assert_eq!(parent.baggage().len(), 0, "incoming baggage dropped");
    assert_eq!(link, Some(incoming));
}

#[test]
fn the_telemetry_taken_for_the_body_inside_a_poll_is_not_a_panicking_poll() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).build("test");
    let headers = caller();
    let mut telemetry = server.start(&TestRequest::get("/stream", &headers));
    let body = telemetry.poll(|telemetry| {
        server.respond(telemetry, &ok());
        telemetry.take()
    });
    assert!(telemetry.passes_through(), "what remains in the handler's future");
    drop(telemetry);
    assert!(recorder.spans().is_empty(), "the body carries the span");
    drop(body); // never polled: an empty body, or a client gone before the first chunk
    let spans = recorder.spans();
    spans.assert_count(1);
    spans.one("GET").assert_status_unset().assert_attr("http.response.status_code", 200_i64);
}

/// A gRPC call to `path`, over HTTP/2 as a client sends it.
fn grpc_request<'a>(path: &'a str, headers: &'a http::HeaderMap) -> TestRequest<'a> {
    TestRequest {
        method: "POST",
        protocol_version: Some("2"),
        authority: Some("greeter.internal:50051"),
        peer: Some("10.0.0.7:40000".parse().unwrap()),
        ..TestRequest::get(path, headers)
    }
}

fn grpc_headers() -> http::HeaderMap {
    let mut headers = caller();
    headers.insert("content-type", "application/grpc".parse().unwrap());
    headers
}

/// A response head, with `grpc-status` when the call answered trailers-only.
fn grpc_head(status: Option<&str>) -> http::Response<()> {
    let mut response = http::Response::new(());
    if let Some(status) = status {
        response.headers_mut().insert("grpc-status", status.parse().unwrap());
    }
    response
}

fn trailers(status: &str) -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", status.parse().unwrap());
    trailers
}

#[test]
fn a_grpc_call_is_an_rpc_span_whose_status_comes_from_the_trailers() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).grpc(true).build("test");
    let headers = grpc_headers();
    let mut telemetry = server.start(&grpc_request("/helloworld.Greeter/SayHello", &headers));
    telemetry.poll(|telemetry| server.respond(telemetry, &grpc_head(None)));
    assert!(recorder.spans().is_empty(), "the trailers are still to come");
    telemetry.trailers(&trailers("0"));
    telemetry.end();
    let spans = recorder.spans();
    spans.one("helloworld.Greeter/SayHello").assert_kind(SpanKind::Server).assert_status_unset().assert_attrs_exactly(
        &[
            KeyValue::new("rpc.system.name", "grpc"),
            KeyValue::new("rpc.method", "helloworld.Greeter/SayHello"),
            KeyValue::new("server.address", "greeter.internal"),
            KeyValue::new("server.port", 50051),
            KeyValue::new("network.peer.address", "10.0.0.7"),
            KeyValue::new("network.peer.port", 40000),
            KeyValue::new("rpc.response.status_code", "OK"),
        ],
    );
    assert_eq!(spans.one("helloworld.Greeter/SayHello").data().parent_span_id.to_string(), "b7ad6b7169203331");
}

#[test]
fn a_server_records_only_the_conventions_server_codes_as_errors() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).grpc(true).build("test");
    let headers = grpc_headers();
    for (code, error) in [("5", None), ("13", Some("INTERNAL")), ("14", Some("UNAVAILABLE")), ("3", None)] {
        recorder.reset();
        let mut telemetry = server.start(&grpc_request("/helloworld.Greeter/SayHello", &headers));
        // A trailers-only response: the status is in the head, the body is empty.
        server.respond(&mut telemetry, &grpc_head(Some(code)));
        telemetry.end();
        let spans = recorder.spans();
        let span = spans.one("helloworld.Greeter/SayHello");
        let name = crate::semconv::rpc::GrpcStatus::parse(code.as_bytes()).name();
        let span = span.assert_attr("rpc.response.status_code", name);
        match error {
            Some(error) => span.assert_status_error().assert_attr("error.type", error),
            None => span.assert_status_unset().assert_no_attr("error.type"),
        };
    }
}

#[test]
fn an_unimplemented_method_is_other_and_a_dropped_stream_is_cancelled() {
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).grpc(true).build("test");
    let headers = grpc_headers();
    let mut telemetry = server.start(&grpc_request("/helloworld.Greeter/Nope", &headers));
    server.respond(&mut telemetry, &grpc_head(Some("12")));
    telemetry.end();
    recorder
        .spans()
        .one("grpc")
        .assert_attr("rpc.method", "_OTHER")
        .assert_attr("rpc.method_original", "helloworld.Greeter/Nope")
        .assert_attr("error.type", "UNIMPLEMENTED")
        .assert_status_error();

    recorder.reset();
    let mut telemetry = server.start(&grpc_request("/helloworld.Greeter/Stream", &headers));
    server.respond(&mut telemetry, &grpc_head(None));
    drop(telemetry); // the client went away mid-stream
    recorder
        .spans()
        .one("helloworld.Greeter/Stream")
        .assert_attr("rpc.response.status_code", "CANCELLED")
        .assert_no_attr("error.type")
        .assert_status_unset();
}

#[test]
fn grpc_is_recognised_only_when_on_and_by_content_type() {
    let recorder = SpanRecorder::new();
    let headers = grpc_headers();
    let http_only = builder(&recorder).build("test");
    drop(http_only.start(&grpc_request("/helloworld.Greeter/SayHello", &headers)));
    recorder.spans().one("POST").assert_attr("url.path", "/helloworld.Greeter/SayHello");

    recorder.reset();
    let server = builder(&recorder).grpc(true).build("test");
    let mut json = caller();
    json.insert("content-type", "application/json".parse().unwrap());
    drop(server.start(&grpc_request("/api/users", &json)));
    recorder.spans().one("POST").assert_no_attr("rpc.method");
}

#[test]
fn grpc_metrics_record_the_call_duration_by_method_and_status() {
    let metrics = crate::testing::MetricRecorder::new();
    let recorder = SpanRecorder::new();
    let server = builder(&recorder).grpc(true).meter_provider(metrics.provider()).build("test");
    let headers = grpc_headers();
    for (path, code) in [("/m.S/A", "0"), ("/m.S/A", "13"), ("/m.S/Unknown", "12")] {
        let mut telemetry = server.start(&grpc_request(path, &headers));
        server.respond(&mut telemetry, &grpc_head(None));
        telemetry.trailers(&trailers(code));
        telemetry.end();
    }
    assert_eq!(metrics.histogram("http.server.request.duration"), [], "a gRPC call is not counted as HTTP");
    let grpc = "rpc.system.name=grpc";
    assert_eq!(
        metrics.histogram("rpc.server.call.duration"),
        [
            (format!("error.type=INTERNAL rpc.method=m.S/A rpc.response.status_code=INTERNAL {grpc}"), 1),
            (format!("error.type=UNIMPLEMENTED rpc.method=_OTHER rpc.response.status_code=UNIMPLEMENTED {grpc}"), 1),
            (format!("rpc.method=m.S/A rpc.response.status_code=OK {grpc}"), 1),
        ]
    );
}

#[test]
fn an_unsampled_grpc_call_records_no_span_but_carries_its_context_and_counts() {
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let headers = grpc_headers();
    for metrics in [None, Some(crate::testing::MetricRecorder::new())] {
        let mut server = builder(&recorder).grpc(true);
        if let Some(metrics) = &metrics {
            server = server.meter_provider(metrics.provider());
        }
        let server = server.build("test");
        let mut telemetry = server.start(&grpc_request("/m.S/A", &headers));
        let trace_id = telemetry.poll(|telemetry| {
            server.respond(telemetry, &grpc_head(None));
            Context::current().span().span_context().trace_id()
        });
        assert_eq!(trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c", "the caller's trace goes on");
        telemetry.trailers(&trailers("13"));
        telemetry.end();
        if let Some(metrics) = metrics {
            let points = metrics.histogram("rpc.server.call.duration");
            assert_eq!(points.len(), 1);
            assert!(points[0].0.contains("rpc.response.status_code=INTERNAL"), "{points:?}");
        }
    }
    assert!(recorder.spans().is_empty());
}
