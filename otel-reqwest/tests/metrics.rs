//! `http.client.request.duration`: one point per attempt, with the conventions' attributes.

mod common;

use common::{TestServer, client, closed_port, middleware};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::Sampler;
use otel_core::testing::SpanRecorder;
use std::sync::Arc;

/// Histogram points of `http.client.request.duration` as (count, sorted attributes).
fn durations(provider: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> Vec<(u64, Vec<String>)> {
    provider.force_flush().unwrap();
    let mut out = Vec::new();
    if let Some(rm) = exporter.get_finished_metrics().unwrap().last() {
        for scope in rm.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == "http.client.request.duration") {
                assert_eq!(metric.unit(), "s");
                if let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() {
                    for point in h.data_points() {
                        let mut attrs: Vec<String> =
                            point.attributes().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                        attrs.sort();
                        out.push((point.count(), attrs));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn every_attempt_is_measured_sampled_or_not() {
    let server = TestServer::start().await;
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    // Spans are never sampled here: the metric does not depend on sampling.
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let client = client(vec![Arc::new(middleware(&recorder).meter_provider(&meters).build())]);

    client.get(server.url("/ok")).send().await.unwrap();
    client.get(server.url("/ok")).send().await.unwrap();
    client.get(server.url("/missing")).send().await.unwrap();
    let refused = closed_port();
    client.get(format!("http://127.0.0.1:{refused}/")).send().await.unwrap_err();

    let port = server.port();
    let base = |more: &[&str]| {
        let mut attrs: Vec<String> = vec![
            "http.request.method=GET".into(),
            "server.address=127.0.0.1".into(),
            format!("server.port={port}"),
            "url.scheme=http".into(),
        ];
        attrs.extend(more.iter().map(|s| s.to_string()));
        attrs.sort();
        attrs
    };
    let mut connect: Vec<String> = vec![
        "error.type=connect".into(),
        "http.request.method=GET".into(),
        "server.address=127.0.0.1".into(),
        format!("server.port={refused}"),
        "url.scheme=http".into(),
    ];
    connect.sort();
    let mut expected = vec![
        (2, base(&["http.response.status_code=200", "network.protocol.version=1.1"])),
        (1, base(&["error.type=404", "http.response.status_code=404", "network.protocol.version=1.1"])),
        (1, connect),
    ];
    expected.sort();
    assert_eq!(durations(&meters, &exporter), expected);
    recorder.spans().assert_count(0);
}
