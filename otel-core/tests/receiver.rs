//! The test OTLP receiver itself (tests/support): the three signals over gRPC and HTTP, in plain
//! text and over TLS with client certificates, and the silent collector. Clients are the generated
//! OTLP gRPC clients and a bare hyper client, so that this needs no exporter feature.

mod support;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use support::{MetricKind, Receiver, SilentCollector};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const WAIT: Duration = Duration::from_secs(10);

fn text(key: &str, value: &str) -> KeyValue {
    let value = Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) });
    KeyValue { key: key.into(), value, ..Default::default() }
}

fn resource() -> Option<Resource> {
    Some(Resource { attributes: vec![text("service.name", "receiver-test")], ..Default::default() })
}

fn traces() -> ExportTraceServiceRequest {
    let span = Span { name: "checkout".into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
    let scope_spans = vec![ScopeSpans { spans: vec![span], ..Default::default() }];
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans { resource: resource(), scope_spans, ..Default::default() }],
    }
}

fn metrics() -> ExportMetricsServiceRequest {
    let point = HistogramDataPoint {
        attributes: vec![text("http.route", "/cart")],
        count: 2,
        sum: Some(2.5),
        explicit_bounds: vec![0.1, 1.0],
        bucket_counts: vec![0, 1, 1],
        ..Default::default()
    };
    let histogram =
        Histogram { data_points: vec![point], aggregation_temporality: AggregationTemporality::Delta as i32 };
    let metric = Metric {
        name: "http.server.request.duration".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(histogram)),
        ..Default::default()
    };
    let scope_metrics = vec![ScopeMetrics { metrics: vec![metric], ..Default::default() }];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics { resource: resource(), scope_metrics, ..Default::default() }],
    }
}

fn logs() -> ExportLogsServiceRequest {
    let record = LogRecord {
        body: Some(AnyValue { value: Some(any_value::Value::StringValue("cart loaded".into())) }),
        severity_text: "WARN".into(),
        severity_number: 13,
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        attributes: vec![text("cart.id", "42")],
        ..Default::default()
    };
    let scope_logs = vec![ScopeLogs { log_records: vec![record], ..Default::default() }];
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs { resource: resource(), scope_logs, ..Default::default() }],
    }
}

/// One export of each signal over gRPC.
async fn export_grpc(channel: Channel) -> Result<(), tonic::Status> {
    TraceServiceClient::new(channel.clone()).export(traces()).await?;
    MetricsServiceClient::new(channel.clone()).export(metrics()).await?;
    LogsServiceClient::new(channel).export(logs()).await?;
    Ok(())
}

/// One export of each signal over HTTP/1.1 on `io` (plain or TLS); the response statuses.
async fn export_http<IO>(io: IO) -> Result<Vec<u16>, hyper::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let mut statuses = Vec::new();
    for (path, body) in [
        ("/v1/traces", traces().encode_to_vec()),
        ("/v1/metrics", metrics().encode_to_vec()),
        ("/v1/logs", logs().encode_to_vec()),
    ] {
        let request = hyper::Request::post(path)
            .header("host", "localhost")
            .header("content-type", "application/x-protobuf")
            .header("api-key", "let-me-in")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        statuses.push(sender.send_request(request).await?.status().as_u16());
    }
    Ok(statuses)
}

/// Checks that one of each signal arrived through `transport`, and how.
fn assert_received(receiver: &Receiver, transport: &str, tls: bool, client_cert: bool) {
    let spans: Vec<_> = receiver.wait_for(1, WAIT).into_iter().filter(|s| s.transport == transport).collect();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(support::one(&spans, "checkout").resource["service.name"], "receiver-test");
    assert_eq!((spans[0].tls, spans[0].client_cert), (tls, client_cert));

    let metric = receiver.wait_for_metric("http.server.request.duration", WAIT);
    assert_eq!((metric.kind, metric.unit.as_str()), (MetricKind::Histogram, "s"));
    assert_eq!(metric.temporality, AggregationTemporality::Delta);
    let point = &metric.histograms[0];
    assert_eq!((point.count, point.sum, point.bounds.as_slice()), (2, Some(2.5), [0.1, 1.0].as_slice()));
    assert_eq!(point.attributes["http.route"], "/cart");
    assert_eq!((metric.transport, metric.tls, metric.client_cert), (transport, tls, client_cert));

    let logs: Vec<_> = receiver.wait_for_logs(1, WAIT).into_iter().filter(|l| l.transport == transport).collect();
    assert_eq!(logs.len(), 1, "{logs:#?}");
    let log = &logs[0];
    assert_eq!((log.body.as_str(), log.severity_text.as_str(), log.severity_number), ("cart loaded", "WARN", 13));
    assert_eq!((log.trace_id_hex(), log.span_id_hex()), ("ab".repeat(16), "cd".repeat(8)));
    assert_eq!((log.attributes["cart.id"].as_str(), log.resource["service.name"].as_str()), ("42", "receiver-test"));
    assert_eq!((log.tls, log.client_cert), (tls, client_cert));
}

#[tokio::test]
async fn plain_grpc_and_http_take_traces_metrics_and_logs() {
    let receiver = Receiver::start();
    let channel = Channel::from_shared(receiver.grpc_endpoint()).expect("a URI").connect().await.expect("connected");
    export_grpc(channel).await.expect("exported over gRPC");
    assert_received(&receiver, "grpc", false, false);

    let stream = tokio::net::TcpStream::connect(receiver.http).await.expect("connected");
    assert_eq!(export_http(stream).await.expect("exported over HTTP"), [200, 200, 200]);
    assert_received(&receiver, "http", false, false);
    assert_eq!(
        receiver.spans().iter().find(|s| s.transport == "http").and_then(|s| s.api_key.as_deref()),
        Some("let-me-in")
    );
}

fn client_tls(files: &support::TlsFiles, with_cert: bool) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&files.ca_pem).expect("ca.pem")).expect("a trust anchor");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(support::ring_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots);
    if !with_cert {
        return builder.with_no_client_auth();
    }
    let cert = CertificateDer::from_pem_file(&files.client_cert_pem).expect("client.pem");
    let key = PrivateKeyDer::from_pem_file(&files.client_key_pem).expect("client-key.pem");
    builder.with_client_auth_cert(vec![cert], key).expect("the client certificate matches its key")
}

async fn connect_tls(
    receiver: &Receiver,
    with_cert: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(receiver.tls(), with_cert)));
    let stream = tokio::net::TcpStream::connect(receiver.http).await?;
    connector.connect(ServerName::try_from("localhost").expect("a DNS name"), stream).await
}

#[tokio::test]
async fn tls_with_client_certificates_on_grpc_and_http() {
    let receiver = Receiver::start_tls(true);
    assert!(receiver.grpc_endpoint().starts_with("https://localhost:"), "{}", receiver.grpc_endpoint());
    let files = receiver.tls();
    let read = |path: &std::path::Path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&files.ca_pem)))
        .identity(Identity::from_pem(read(&files.client_cert_pem), read(&files.client_key_pem)));
    let endpoint = Channel::from_shared(receiver.grpc_endpoint()).expect("a URI").tls_config(tls).expect("TLS");
    export_grpc(endpoint.connect().await.expect("connected over TLS")).await.expect("exported over gRPC and TLS");
    assert_received(&receiver, "grpc", true, true);

    let stream = connect_tls(&receiver, true).await.expect("a TLS connection with a client certificate");
    assert_eq!(export_http(stream).await.expect("exported over HTTPS"), [200, 200, 200]);
    assert_received(&receiver, "http", true, true);

    // Without a client certificate the server ends the handshake (TLS 1.3: seen on first use).
    let refused = match connect_tls(&receiver, false).await {
        Ok(stream) => export_http(stream).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client without a certificate was served");
    assert_eq!(receiver.logs().len(), 2, "nothing more arrived");
}

#[tokio::test]
async fn tls_without_client_auth_takes_anonymous_clients() {
    let receiver = Receiver::start_tls(false);
    let stream = connect_tls(&receiver, false).await.expect("a TLS connection");
    assert_eq!(export_http(stream).await.expect("exported over HTTPS"), [200, 200, 200]);
    assert_received(&receiver, "http", true, false);
    let dir = receiver.tls().dir.clone();
    drop(receiver);
    assert!(!dir.exists(), "the PEM files go with the receiver");
}

#[test]
fn the_silent_collector_accepts_and_never_answers() {
    let silent = SilentCollector::start();
    for address in [silent.grpc, silent.http] {
        let mut stream = std::net::TcpStream::connect(address).expect("accepted");
        stream.write_all(b"POST /v1/logs HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n").expect("written");
        stream.set_read_timeout(Some(Duration::from_millis(300))).expect("a read timeout");
        let error = stream.read(&mut [0; 16]).expect_err("no answer, and the connection stays open");
        assert!(matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{error}");
    }
    assert_eq!(silent.accepted(), 2);
}
