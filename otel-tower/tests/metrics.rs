//! The optional server metrics: recorded with their outcome, and the active count returns to 0
//! even for a cancelled request.

mod support;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use otel_core::testing::SpanRecorder;
use std::time::Duration;
use support::*;
use tower_http::timeout::TimeoutLayer;

fn collected(provider: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> Vec<ResourceMetrics> {
    provider.force_flush().unwrap();
    exporter.get_finished_metrics().unwrap()
}

fn active(metrics: &[ResourceMetrics]) -> i64 {
    let mut total = 0;
    if let Some(rm) = metrics.last() {
        for scope in rm.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == "http.server.active_requests") {
                if let AggregatedMetrics::I64(MetricData::Sum(sum)) = metric.data() {
                    total = sum.data_points().map(|p| p.value()).sum();
                }
            }
        }
    }
    total
}

fn durations(metrics: &[ResourceMetrics]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Some(rm) = metrics.last() {
        for scope in rm.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == "http.server.request.duration") {
                if let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() {
                    for point in h.data_points() {
                        let mut attrs: Vec<String> =
                            point.attributes().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                        attrs.sort();
                        out.push(attrs);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn durations_and_active_requests_including_cancellation() {
    let recorder = SpanRecorder::new();
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ok" }))
        .route("/slow", get(std::future::pending::<&'static str>))
        .layer(server_layer(&recorder).meter_provider(&provider).build())
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, Duration::from_millis(50)));
    let addr = serve(app).await;
    send(raw_client(), get_request(&format!("http://{addr}/users/3"), &[])).await;
    send(raw_client(), get_request(&format!("http://{addr}/slow"), &[])).await;
    wait_for(&recorder, 2).await;

    let metrics = collected(&provider, &exporter);
    assert_eq!(active(&metrics), 0, "cancelled requests are no longer active");
    assert_eq!(
        durations(&metrics),
        vec![
            vec![
                "error.type=cancelled".to_owned(),
                "http.request.method=GET".to_owned(),
                "http.route=/slow".to_owned(),
                "network.protocol.version=1.1".to_owned(),
                "url.scheme=http".to_owned(),
            ],
            vec![
                "http.request.method=GET".to_owned(),
                "http.response.status_code=200".to_owned(),
                "http.route=/users/{id}".to_owned(),
                "network.protocol.version=1.1".to_owned(),
                "url.scheme=http".to_owned(),
            ],
        ]
    );
}
