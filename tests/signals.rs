//! The three signals from one `setup` call to a real OTLP receiver: one request through an
//! instrumented axum service yields its server span, its `http.server.request.duration` data
//! point (the conventions' attributes, unit and buckets) and the log record its handler logged,
//! carrying the span's trace and span ids. Over gRPC and HTTP/protobuf, plain and over TLS with
//! a client certificate (a test CA the receiver makes at start).

#[path = "../otel-core/tests/support/mod.rs"]
mod support;

use axum::Router;
use axum::routing::get;
use otel_core::setup::Setup;
use otel_tower::OtelLayer;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use support::Receiver;
use tracing_subscriber::layer::SubscriberExt;

/// `setup` installs global providers: one case at a time.
static GLOBALS: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_secs(20);

/// The conventions' bucket boundaries for `http.server.request.duration`, in seconds.
const DURATION_BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

async fn cart(axum::extract::Path(id): axum::extract::Path<u32>) -> String {
    tracing::info!(cart.id = id, "loading the cart");
    format!("cart {id}")
}

/// Serves one request through the layer, with the guard's log layer as the subscriber, and shuts
/// the server down (so the server span has ended) before returning.
fn one_request(guard: &otel_core::setup::TelemetryGuard) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Current-thread: the subscriber set here sees the handler's events.
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(guard.log_layer()));
    runtime.block_on(async {
        let app = Router::new().route("/cart/{id}", get(cart)).layer(OtelLayer::builder().metrics(true).build());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async { stopped.await.unwrap_or(()) }).await.unwrap();
        });
        let client = reqwest::Client::new();
        let body = client.get(format!("http://{addr}/cart/7")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "cart 7");
        drop(client);
        stop.send(()).unwrap();
        server.await.unwrap();
    });
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn three_signals_arrive(protocol: &str, tls: bool) {
    let _one_at_a_time = GLOBALS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = if tls { Receiver::start_tls(true) } else { Receiver::start() };
    let endpoint = if protocol == "grpc" { receiver.grpc_endpoint() } else { receiver.http_endpoint() };
    let mut vars = HashMap::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_SERVICE_NAME", "cart".to_owned()),
    ]);
    if tls {
        let files = receiver.tls();
        vars.insert("OTEL_EXPORTER_OTLP_CERTIFICATE", files.ca_pem.display().to_string());
        vars.insert("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", files.client_cert_pem.display().to_string());
        vars.insert("OTEL_EXPORTER_OTLP_CLIENT_KEY", files.client_key_pem.display().to_string());
    }
    let guard = Setup::new().environment(move |name| vars.get(name).cloned()).install();
    assert!(guard.meter_provider().is_some() && guard.logger_provider().is_some(), "{guard:?}");

    one_request(&guard);
    guard.shutdown().expect("the three providers flushed to the receiver");

    let spans = receiver.wait_for(1, WAIT);
    let server = support::one(&spans, "GET /cart/{id}");
    assert_eq!(server.resource["service.name"], "cart");
    assert_eq!((server.tls, server.client_cert), (tls, tls), "spans over TLS with the client certificate");

    let metric = receiver.wait_for_metric("http.server.request.duration", WAIT);
    assert_eq!(metric.unit, "s");
    assert_eq!(metric.resource["service.name"], "cart");
    assert_eq!((metric.tls, metric.client_cert), (tls, tls));
    let [point] = metric.histograms.as_slice() else { panic!("one data point: {metric:#?}") };
    assert_eq!(point.count, 1);
    assert_eq!(point.bounds, DURATION_BUCKETS);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/cart/{id}"),
        ("http.response.status_code", "200"),
        ("url.scheme", "http"),
    ] {
        assert_eq!(point.attributes.get(key).map(String::as_str), Some(value), "{key} in {point:#?}");
    }

    let logs = receiver.wait_for_logs(1, WAIT);
    let record = logs.iter().find(|log| log.body == "loading the cart").expect("the handler's event as a record");
    assert_eq!(record.trace_id_hex(), hex(&server.span.trace_id), "the record carries the span's trace id");
    assert_eq!(record.span_id_hex(), hex(&server.span.span_id), "and its span id");
    assert_eq!(record.severity_text, "INFO");
    assert_eq!(record.attributes.get("cart.id").map(String::as_str), Some("7"));
    assert_eq!((record.tls, record.client_cert), (tls, tls));
}

#[test]
fn spans_metrics_and_logs_arrive_over_grpc() {
    three_signals_arrive("grpc", false);
}

#[test]
fn spans_metrics_and_logs_arrive_over_http_protobuf() {
    three_signals_arrive("http/protobuf", false);
}

#[test]
fn spans_metrics_and_logs_arrive_over_grpc_with_tls_and_a_client_certificate() {
    three_signals_arrive("grpc", true);
}

#[test]
fn spans_metrics_and_logs_arrive_over_https_with_a_client_certificate() {
    three_signals_arrive("http/protobuf", true);
}
