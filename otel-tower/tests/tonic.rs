//! tonic on both ends of gRPC calls over loopback sockets: the server behind `OtelLayer`, the
//! client a tonic `Channel` behind `OtelClientLayer`, the service written by hand
//! (`support/echo.rs`) so each call picks its outcome. Spans and metrics follow the RPC
//! conventions: name `{rpc.method}`, the status from `grpc-status`, errors by each side's rule.

mod support;

use http::uri::PathAndQuery;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Status as SpanStatus};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::testing::{FinishedSpans, MetricRecorder, SpanRecorder, SpanView};
use otel_tower::OtelClientService;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;
use support::echo::{Ask, COUNT, Echo, Reply, SUM, UNARY};
use support::*;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};
use tonic_prost::ProstCodec;
use tower::Layer;

type TracedChannel = OtelClientService<Channel, SdkTracer>;

/// The echo service on a tonic server behind the server layer.
async fn grpc_server(recorder: &SpanRecorder, metrics: Option<&MetricRecorder>) -> SocketAddr {
    let mut layer = server_layer(recorder);
    if let Some(metrics) = metrics {
        layer = layer.meter_provider(metrics.provider());
    }
    let layer = layer.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(Echo)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

/// A tonic client on a channel to `addr` behind the client layer, told the channel's origin.
async fn grpc_client(
    recorder: &SpanRecorder,
    addr: SocketAddr,
    metrics: Option<&MetricRecorder>,
) -> Grpc<TracedChannel> {
    let origin = format!("http://{addr}");
    let channel = Endpoint::from_shared(origin.clone()).unwrap().connect_lazy();
    let mut layer = client_layer(recorder).origin(origin.parse().unwrap());
    if let Some(metrics) = metrics {
        layer = layer.meter_provider(metrics.provider());
    }
    Grpc::new(layer.build().layer(channel))
}

/// The echo server behind the server layer and a client to it, both recording into `recorder`.
async fn connected(recorder: &SpanRecorder) -> (SocketAddr, Grpc<TracedChannel>) {
    let addr = grpc_server(recorder, None).await;
    (addr, grpc_client(recorder, addr, None).await)
}

/// The one span of `kind`: a call's client and server spans share their name.
fn of_kind(spans: &FinishedSpans, kind: SpanKind) -> SpanView<'_> {
    let mut of_kind = spans.iter().filter(|span| span.kind() == kind);
    match (of_kind.next(), of_kind.next()) {
        (Some(span), None) => span,
        _ => panic!("expected one {kind:?} span:\n{}", spans.describe()),
    }
}

async fn unary(client: &mut Grpc<TracedChannel>, path: &'static str, ask: Ask) -> Result<Reply, tonic::Status> {
    client.ready().await.expect("the channel");
    let response = client.unary(Request::new(ask), PathAndQuery::from_static(path), ProstCodec::default()).await?;
    Ok(response.into_inner())
}

/// Starts a server-streaming call: the stream of replies, its head received.
async fn count(client: &mut Grpc<TracedChannel>, ask: Ask) -> tonic::Streaming<Reply> {
    client.ready().await.expect("the channel");
    let codec = ProstCodec::<Ask, Reply>::default();
    client
        .server_streaming(Request::new(ask), PathAndQuery::from_static(COUNT), codec)
        .await
        .expect("a stream")
        .into_inner()
}

#[tokio::test]
async fn a_unary_call_is_one_trace_of_rpc_spans() {
    let recorder = SpanRecorder::new();
    let (addr, mut client) = connected(&recorder).await;

    let reply = unary(&mut client, UNARY, Ask::default()).await.expect("a reply");

    let spans = wait_for(&recorder, 2).await;
    spans.assert_count(2).assert_single_trace();
    let client_span = of_kind(&spans, SpanKind::Client);
    assert_eq!(client_span.name(), "test.Echo/Unary");
    client_span.assert_root().assert_status_unset().assert_attrs_exactly(&[
        KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc"),
        KeyValue::new(semconv::RPC_METHOD, "test.Echo/Unary"),
        KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::SERVER_PORT, i64::from(addr.port())),
        KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, "OK"),
    ]);
    assert_eq!(reply.traceparent, format!("00-{}-{}-01", client_span.trace_id(), client_span.span_id()));
    let server_span = of_kind(&spans, SpanKind::Server);
    assert_eq!(server_span.name(), "test.Echo/Unary");
    let server_span = server_span.assert_child_of(&client_span).assert_status_unset();
    let mut expected = vec![
        KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc"),
        KeyValue::new(semconv::RPC_METHOD, "test.Echo/Unary"),
        KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::SERVER_PORT, i64::from(addr.port())),
        KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, "OK"),
    ];
    // With the `tonic` feature the peer comes from tonic's `TcpConnectInfo`.
    if cfg!(feature = "tonic") {
        let Some(opentelemetry::Value::I64(peer_port)) = server_span.attr(semconv::NETWORK_PEER_PORT) else {
            panic!("network.peer.port from tonic's TcpConnectInfo:\n{}", spans.describe());
        };
        expected.push(KeyValue::new(semconv::NETWORK_PEER_ADDRESS, "127.0.0.1"));
        expected.push(KeyValue::new(semconv::NETWORK_PEER_PORT, *peer_port));
    }
    server_span.assert_attrs_exactly(&expected);
}

#[tokio::test]
async fn failed_calls_are_errors_by_each_sides_rule() {
    let recorder = SpanRecorder::new();
    let (_, mut client) = connected(&recorder).await;
    // (code, its name, whether the server records it as an error)
    for (code, name, server_error) in [
        (Code::NotFound, "NOT_FOUND", false),
        (Code::Internal, "INTERNAL", true),
        (Code::Unavailable, "UNAVAILABLE", true),
    ] {
        recorder.reset();
        let status = unary(&mut client, UNARY, Ask::code(code)).await.expect_err("the asked-for status");
        assert_eq!(status.code(), code, "the application sees the service's status unchanged");
        let spans = wait_for(&recorder, 2).await;
        let client_span = of_kind(&spans, SpanKind::Client);
        client_span
            .assert_status_error()
            .assert_attr(semconv::ERROR_TYPE, name)
            .assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, name);
        let server_span = of_kind(&spans, SpanKind::Server);
        let server_span = server_span.assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, name);
        if server_error {
            server_span.assert_status_error().assert_attr(semconv::ERROR_TYPE, name);
        } else {
            server_span.assert_status_unset().assert_no_attr(semconv::ERROR_TYPE);
        }
    }
}

#[tokio::test]
async fn a_server_stream_is_one_span_per_side_ending_with_the_stream() {
    let recorder = SpanRecorder::new();
    let (_, mut client) = connected(&recorder).await;
    let mut stream = count(&mut client, Ask { count: 3, pause_ms: 50, code: Code::Ok as i32 }).await;
    assert!(recorder.spans().iter().all(|s| s.kind() != SpanKind::Client), "the client span waits for the stream");
    let mut replies = Vec::new();
    while let Some(reply) = stream.message().await.expect("a message") {
        replies.push(reply.n);
    }
    assert_eq!(replies, [1, 2, 3]);

    let spans = wait_for(&recorder, 2).await;
    spans.assert_single_trace();
    for span in spans.named("test.Echo/Count") {
        let span = span.assert_status_unset().assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "OK");
        let lasted = span.data().end_time.duration_since(span.data().start_time).unwrap();
        assert!(lasted >= Duration::from_millis(150), "{:?} covers the three paused messages: {lasted:?}", span.kind());
    }
    assert_eq!(spans.named("test.Echo/Count").len(), 2);
}

#[tokio::test]
async fn a_stream_that_ends_with_an_error_status_reads_it_from_the_trailers() {
    let recorder = SpanRecorder::new();
    let (_, mut client) = connected(&recorder).await;
    let mut stream = count(&mut client, Ask { count: 2, pause_ms: 0, code: Code::Internal as i32 }).await;
    assert_eq!(stream.message().await.unwrap().map(|r| r.n), Some(1));
    assert_eq!(stream.message().await.unwrap().map(|r| r.n), Some(2));
    assert_eq!(stream.message().await.expect_err("the status in the trailers").code(), Code::Internal);

    let spans = wait_for(&recorder, 2).await;
    for span in spans.named("test.Echo/Count") {
        span.assert_status_error()
            .assert_attr(semconv::ERROR_TYPE, "INTERNAL")
            .assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "INTERNAL");
    }
}

#[tokio::test]
async fn a_client_that_drops_a_stream_midway_cancels_the_call_on_both_sides() {
    let recorder = SpanRecorder::new();
    let (_, mut client) = connected(&recorder).await;
    let mut stream = count(&mut client, Ask { count: 1000, pause_ms: 10, code: Code::Ok as i32 }).await;
    stream.message().await.expect("a first message");
    drop(stream);

    let spans = wait_for(&recorder, 2).await;
    let client_span = of_kind(&spans, SpanKind::Client);
    client_span
        .assert_status_error()
        .assert_attr(semconv::ERROR_TYPE, "CANCELLED")
        .assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "CANCELLED");
    // CANCELLED is the caller's doing: not a server error.
    let server_span = of_kind(&spans, SpanKind::Server);
    server_span
        .assert_status_unset()
        .assert_no_attr(semconv::ERROR_TYPE)
        .assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "CANCELLED");
}

#[tokio::test]
async fn a_client_stream_span_ends_with_the_reply() {
    let recorder = SpanRecorder::new();
    let (_, mut client) = connected(&recorder).await;
    client.ready().await.unwrap();
    let asks = futures_util::stream::iter(vec![Ask::default(); 3]);
    let reply = client
        .client_streaming(Request::new(asks), PathAndQuery::from_static(SUM), ProstCodec::<Ask, Reply>::default())
        .await
        .expect("a reply")
        .into_inner();
    assert_eq!(reply.n, 3);

    let spans = wait_for(&recorder, 2).await;
    spans.assert_single_trace();
    let client_span = of_kind(&spans, SpanKind::Client);
    assert_eq!(client_span.name(), "test.Echo/Sum");
    let server_span = of_kind(&spans, SpanKind::Server);
    assert_eq!(server_span.name(), "test.Echo/Sum");
    server_span.assert_child_of(&client_span).assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "OK");
}

#[tokio::test]
async fn a_method_the_server_does_not_serve_is_other() {
    let recorder = SpanRecorder::new();
    let (_, mut client) = connected(&recorder).await;
    let status = unary(&mut client, "/test.Echo/Nope", Ask::default()).await.expect_err("unimplemented");
    assert_eq!(status.code(), Code::Unimplemented);

    let spans = wait_for(&recorder, 2).await;
    let server_span = spans.one("grpc").assert_kind(SpanKind::Server);
    server_span
        .assert_attr(semconv::RPC_METHOD, "_OTHER")
        .assert_attr(semconv::RPC_METHOD_ORIGINAL, "test.Echo/Nope")
        .assert_attr(semconv::ERROR_TYPE, "UNIMPLEMENTED")
        .assert_status_error();
    // The client called a method of its own stub: it keeps its name.
    spans.one("test.Echo/Nope").assert_kind(SpanKind::Client).assert_attr(semconv::ERROR_TYPE, "UNIMPLEMENTED");
}

#[tokio::test]
async fn a_mixed_router_gives_grpc_and_rest_their_own_semantics() {
    let recorder = SpanRecorder::new();
    let app = axum::Router::new()
        .route("/api/hello", axum::routing::get(|| async { "hello" }))
        .merge(tonic::service::Routes::new(Echo).into_axum_router())
        .layer(server_layer(&recorder).axum_body().build());
    let addr = serve(app).await;

    let (status, _, body) = send(raw_client(), get_request(&format!("http://{addr}/api/hello"), &[])).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "hello"));
    let mut client = grpc_client(&SpanRecorder::new(), addr, None).await;
    unary(&mut client, UNARY, Ask::default()).await.expect("a reply");

    let spans = wait_for(&recorder, 2).await;
    spans
        .one("GET /api/hello")
        .assert_kind(SpanKind::Server)
        .assert_attr(semconv::HTTP_ROUTE, "/api/hello")
        .assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 200)
        .assert_no_attr(semconv::RPC_SYSTEM_NAME);
    spans
        .one("test.Echo/Unary")
        .assert_kind(SpanKind::Server)
        .assert_attr(semconv::RPC_SYSTEM_NAME, "grpc")
        .assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "OK")
        .assert_no_attr(semconv::HTTP_REQUEST_METHOD)
        .assert_no_attr(semconv::HTTP_ROUTE);
}

#[tokio::test]
async fn call_durations_carry_the_rpc_attributes() {
    let recorder = SpanRecorder::new();
    let server_metrics = MetricRecorder::new();
    let client_metrics = MetricRecorder::new();
    let addr = grpc_server(&recorder, Some(&server_metrics)).await;
    let mut client = grpc_client(&recorder, addr, Some(&client_metrics)).await;
    unary(&mut client, UNARY, Ask::default()).await.expect("a reply");
    unary(&mut client, UNARY, Ask::code(Code::NotFound)).await.expect_err("not found");
    wait_for(&recorder, 4).await;

    let method = "rpc.method=test.Echo/Unary";
    let grpc = "rpc.system.name=grpc";
    assert_eq!(
        server_metrics.histogram("rpc.server.call.duration"),
        [
            (format!("{method} rpc.response.status_code=NOT_FOUND {grpc}"), 1),
            (format!("{method} rpc.response.status_code=OK {grpc}"), 1),
        ]
    );
    assert_eq!(server_metrics.histogram("http.server.request.duration"), []);
    let server = format!("server.address=127.0.0.1 server.port={}", addr.port());
    assert_eq!(
        client_metrics.histogram("rpc.client.call.duration"),
        [
            (format!("error.type=NOT_FOUND {method} rpc.response.status_code=NOT_FOUND {grpc} {server}"), 1),
            (format!("{method} rpc.response.status_code=OK {grpc} {server}"), 1),
        ]
    );
    assert_eq!(client_metrics.histogram("http.client.request.duration"), []);
}

#[tokio::test]
async fn a_channel_that_cannot_connect_fails_with_an_error_type() {
    let recorder = SpanRecorder::new();
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut client = grpc_client(&recorder, addr, None).await;

    let status = unary(&mut client, UNARY, Ask::default()).await.expect_err("nothing listens");
    assert_eq!(status.code(), Code::Unavailable, "tonic's own error comes back");
    let spans = recorder.spans();
    spans
        .one("test.Echo/Unary")
        .assert_kind(SpanKind::Client)
        .assert_status_error()
        .assert_attr(semconv::ERROR_TYPE, "connection_refused")
        .assert_attr(semconv::SERVER_PORT, i64::from(addr.port()))
        .assert_no_attr(semconv::RPC_RESPONSE_STATUS_CODE);
}

#[tokio::test]
async fn with_grpc_off_a_call_keeps_http_semantics() {
    let recorder = SpanRecorder::new();
    let layer = server_layer(&recorder)
        .grpc(false)
        .route(|request: &http::Request<tonic::body::Body>| Some(Cow::Owned(request.uri().path().to_owned())))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(Echo)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let mut client = grpc_client(&SpanRecorder::new(), addr, None).await;
    unary(&mut client, UNARY, Ask::code(Code::Internal)).await.expect_err("internal");

    let spans = wait_for(&recorder, 1).await;
    // HTTP 200 with a failing `grpc-status` is a success to HTTP: why gRPC mode is the default.
    spans
        .one(&format!("POST {UNARY}"))
        .assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 200)
        .assert_no_attr(semconv::RPC_METHOD);
    assert_eq!(spans.one(&format!("POST {UNARY}")).status(), &SpanStatus::Unset);
}

#[tokio::test]
async fn an_unsampled_call_records_nothing_and_still_carries_its_context() {
    let recorder = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let (_, mut client) = connected(&recorder).await;
    let reply = unary(&mut client, UNARY, Ask::default()).await.expect("a reply");
    let status = unary(&mut client, UNARY, Ask::code(Code::Internal)).await.expect_err("internal");
    assert_eq!(status.code(), Code::Internal, "the status comes back unchanged");
    assert!(reply.traceparent.ends_with("-00"), "an unsampled context reached the server: {}", reply.traceparent);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(recorder.spans().is_empty());
}

#[tokio::test]
async fn client_hooks_see_a_grpc_call_and_its_response_head() {
    use opentelemetry::trace::SpanRef;
    let recorder = SpanRecorder::new();
    let addr = grpc_server(&recorder, None).await;
    let origin = format!("http://{addr}");
    let channel = Endpoint::from_shared(origin.clone()).unwrap().connect_lazy();
    let layer = client_layer(&recorder)
        .origin(origin.parse().unwrap())
        .request_hook(|span: &SpanRef<'_>, request: &http::Request<tonic::body::Body>| {
            span.set_attribute(KeyValue::new("app.path", request.uri().path().to_owned()));
        })
        .response_hook(|span: &SpanRef<'_>, response: &http::Response<tonic::body::Body>| {
            let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
            span.set_attribute(KeyValue::new("app.content_type", content_type.unwrap_or("none").to_owned()));
        })
        .build();
    let mut client = Grpc::new(layer.layer(channel));
    client.ready().await.expect("the channel");
    let path = PathAndQuery::from_static(UNARY);
    client.unary(Request::new(Ask::default()), path, ProstCodec::<Ask, Reply>::default()).await.expect("a reply");

    let spans = wait_for(&recorder, 2).await;
    // The span still ends with the call's status, after the hook saw the head.
    of_kind(&spans, SpanKind::Client)
        .assert_attr("app.path", UNARY)
        .assert_attr("app.content_type", "application/grpc")
        .assert_attr(semconv::RPC_RESPONSE_STATUS_CODE, "OK");
}
