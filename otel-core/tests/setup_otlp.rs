//! The OTLP export path of `otel_core::setup`, against a real receiver running in the test:
//! spans arrive with their resource, kind, attributes and parents, over gRPC and HTTP/protobuf.
#![cfg(feature = "setup")]

mod support;

use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoKind;
use otel_core::setup::Setup;
use std::collections::HashMap;
use std::time::Duration;
use support::{Receiver, one};

fn export_through(protocol: &str, endpoint: String, receiver: &Receiver) -> Vec<support::Received> {
    let vars: HashMap<&str, String> = HashMap::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_SERVICE_NAME", format!("checkout-{protocol}")),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.version=1.2.3,deployment.environment.name=test".to_owned()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=let-me-in".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
    ]);
    let provider =
        Setup::new().environment(move |name| vars.get(name).cloned()).build_provider().expect("the SDK is enabled");
    let tracer = provider.tracer("otel-core-test");
    let server = tracer
        .span_builder("GET /cart/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.request.method", "GET"), KeyValue::new("http.route", "/cart/{id}")])
        .start(&tracer);
    let cx = Context::new().with_span(server);
    let mut client = tracer.span_builder("SELECT carts").with_kind(SpanKind::Client).start_with_context(&tracer, &cx);
    client.set_attribute(KeyValue::new("db.system.name", "postgresql"));
    client.end();
    cx.span().end();
    provider.shutdown().expect("flushed to the receiver");
    receiver.wait_for(2, Duration::from_secs(30))
}

fn assert_trace(spans: &[support::Received], transport: &str, protocol: &str) {
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let server = one(spans, "GET /cart/{id}");
    let client = one(spans, "SELECT carts");
    for received in [server, client] {
        assert_eq!(received.transport, transport);
        assert_eq!(received.resource["service.name"], format!("checkout-{protocol}"));
        assert_eq!(received.resource["service.version"], "1.2.3");
        assert_eq!(received.resource["deployment.environment.name"], "test");
        assert_eq!(received.resource["process.pid"], std::process::id().to_string());
        assert!(received.resource.contains_key("host.name") || !std::path::Path::new("/proc").exists());
        assert_eq!(received.api_key.as_deref(), Some("let-me-in"), "OTEL_EXPORTER_OTLP_HEADERS are sent");
    }
    assert_eq!(server.span.kind(), ProtoKind::Server);
    assert_eq!(client.span.kind(), ProtoKind::Client);
    assert_eq!(server.attributes["http.route"], "/cart/{id}");
    assert_eq!(server.attributes["http.request.method"], "GET");
    assert_eq!(client.attributes["db.system.name"], "postgresql");
    assert!(server.span.parent_span_id.is_empty(), "the server span is a root");
    assert_eq!(client.span.parent_span_id, server.span.span_id, "the client span is its child");
    assert_eq!(client.span.trace_id, server.span.trace_id);
}

#[test]
fn spans_arrive_over_grpc_with_resource_kind_attributes_and_parents() {
    let receiver = Receiver::start();
    let spans = export_through("grpc", format!("http://{}", receiver.grpc), &receiver);
    assert_trace(&spans, "grpc", "grpc");
}

#[test]
fn spans_arrive_over_http_protobuf_with_resource_kind_attributes_and_parents() {
    let receiver = Receiver::start();
    // The general endpoint variable gets `/v1/traces` appended for HTTP.
    let spans = export_through("http/protobuf", format!("http://{}", receiver.http), &receiver);
    assert_trace(&spans, "http", "http/protobuf");
}
