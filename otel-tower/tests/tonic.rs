//! tonic on both ends of a gRPC call over a loopback socket: the server behind `OtelLayer` (its
//! HTTP/2 requests, the route read by a closure), the client a tonic `Channel` behind
//! `OtelClientLayer`.

mod support;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::testing::SpanRecorder;
use std::borrow::Cow;
use std::net::SocketAddr;
use support::*;
use tonic::transport::{Channel, Endpoint};
use tower::Layer;

const METHOD_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Answers every export, and says which `traceparent` it received in the response metadata.
struct Traces;

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let received = request.metadata().get("traceparent").cloned();
        let mut response = tonic::Response::new(ExportTraceServiceResponse { partial_success: None });
        if let Some(received) = received {
            response.metadata_mut().insert("received-traceparent", received);
        }
        Ok(response)
    }
}

/// A tonic server behind the server layer; a gRPC method path is a route (one per method).
async fn grpc_server(recorder: &SpanRecorder) -> SocketAddr {
    let layer = server_layer(recorder)
        .route(|request: &http::Request<tonic::body::Body>| Some(Cow::Owned(request.uri().path().to_owned())))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(TraceServiceServer::new(Traces))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

/// A channel behind the client layer. A tonic `Channel` adds its origin below the layer, so the
/// layer is told the origin (`None`: it is not, and records no address).
fn traced_channel(recorder: &SpanRecorder, channel: Channel, origin: Option<&str>) -> TracedChannel {
    let mut builder = client_layer(recorder);
    if let Some(origin) = origin {
        builder = builder.origin(origin.parse().unwrap());
    }
    builder.build().layer(channel)
}

type TracedChannel = otel_tower::OtelClientService<Channel, opentelemetry_sdk::trace::SdkTracer>;

#[tokio::test]
async fn a_grpc_call_through_a_traced_channel_is_one_trace_with_the_server() {
    let recorder = SpanRecorder::new();
    let addr = grpc_server(&recorder).await;
    let origin = format!("http://{addr}");
    let channel = Endpoint::from_shared(origin.clone()).unwrap().connect().await.expect("tonic server");
    let mut client = TraceServiceClient::new(traced_channel(&recorder, channel, Some(&origin)));

    let response = client.export(ExportTraceServiceRequest { resource_spans: Vec::new() }).await.expect("a reply");
    let received = response.metadata().get("received-traceparent").expect("the server saw a traceparent").clone();

    let spans = wait_for(&recorder, 2).await;
    spans.assert_count(2).assert_single_trace();
    let client_span = spans.one("POST").assert_kind(SpanKind::Client).assert_root().assert_status_unset();
    assert_eq!(received.to_str().unwrap(), format!("00-{}-{}-01", client_span.trace_id(), client_span.span_id()));
    client_span.assert_attrs_exactly(&[
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, "POST"),
        KeyValue::new(semconv::URL_FULL, format!("http://{addr}{METHOD_PATH}")),
        KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::SERVER_PORT, i64::from(addr.port())),
        KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "2"),
        KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
    ]);
    let server_span = spans
        .one(&format!("POST {METHOD_PATH}"))
        .assert_kind(SpanKind::Server)
        .assert_child_of(&client_span)
        .assert_status_unset();
    let user_agent = match server_span.attr(semconv::USER_AGENT_ORIGINAL) {
        Some(agent) if agent.as_str().starts_with("tonic/") => agent.as_str().into_owned(),
        other => panic!("tonic's user agent, got {other:?}"),
    };
    let mut expected = vec![
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, "POST"),
        KeyValue::new(semconv::HTTP_ROUTE, METHOD_PATH),
        KeyValue::new(semconv::URL_PATH, METHOD_PATH),
        KeyValue::new(semconv::URL_SCHEME, "http"),
        KeyValue::new(semconv::SERVER_ADDRESS, "127.0.0.1"),
        KeyValue::new(semconv::SERVER_PORT, i64::from(addr.port())),
        KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, "2"),
        KeyValue::new(semconv::USER_AGENT_ORIGINAL, user_agent),
        KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, 200),
    ];
    // With the `tonic` feature the peer comes from tonic's `TcpConnectInfo` (its port is the
    // client's ephemeral one).
    if cfg!(feature = "tonic") {
        let Some(opentelemetry::Value::I64(peer_port)) = server_span.attr(semconv::NETWORK_PEER_PORT) else {
            panic!("network.peer.port from tonic's TcpConnectInfo:\n{}", spans.describe());
        };
        expected.push(KeyValue::new(semconv::CLIENT_ADDRESS, "127.0.0.1"));
        expected.push(KeyValue::new(semconv::NETWORK_PEER_ADDRESS, "127.0.0.1"));
        expected.push(KeyValue::new(semconv::NETWORK_PEER_PORT, *peer_port));
    }
    server_span.assert_attrs_exactly(&expected);
}

#[tokio::test]
async fn a_channel_that_cannot_connect_fails_with_an_error_type() {
    let recorder = SpanRecorder::new();
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let origin = format!("http://{addr}");
    let channel = Endpoint::from_shared(origin.clone()).unwrap().connect_lazy();
    let mut client = TraceServiceClient::new(traced_channel(&recorder, channel, Some(&origin)));

    let status =
        client.export(ExportTraceServiceRequest { resource_spans: Vec::new() }).await.expect_err("nothing listens");
    assert_eq!(status.code(), tonic::Code::Unavailable, "tonic's own error comes back");
    let spans = recorder.spans();
    let span = spans
        .one("POST")
        .assert_kind(SpanKind::Client)
        .assert_status_error()
        .assert_attr(semconv::ERROR_TYPE, "connection_refused")
        .assert_attr(semconv::SERVER_PORT, i64::from(addr.port()));
    assert!(span.attr(semconv::HTTP_RESPONSE_STATUS_CODE).is_none());
}

#[tokio::test]
async fn without_an_origin_a_channel_span_records_no_made_up_address() {
    let recorder = SpanRecorder::new();
    let addr = grpc_server(&recorder).await;
    let channel = Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.expect("tonic server");
    let mut client = TraceServiceClient::new(traced_channel(&recorder, channel, None));
    client.export(ExportTraceServiceRequest { resource_spans: Vec::new() }).await.expect("a reply");

    let spans = wait_for(&recorder, 2).await;
    spans.assert_single_trace();
    spans
        .one("POST")
        .assert_kind(SpanKind::Client)
        .assert_no_attr(semconv::SERVER_ADDRESS)
        .assert_no_attr(semconv::SERVER_PORT)
        .assert_no_attr(semconv::URL_FULL)
        .assert_attr(semconv::HTTP_RESPONSE_STATUS_CODE, 200);
}
