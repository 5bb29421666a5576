//! The shared HTTP metrics: recorded with the outcome, and the active count always returns to 0.

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use otel_core::metrics::{HttpServerMetrics, RequestOutcome};
use std::sync::Arc;

fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    (provider, exporter)
}

fn collected(provider: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> Vec<ResourceMetrics> {
    provider.force_flush().unwrap();
    exporter.get_finished_metrics().unwrap()
}

/// The last sum of `http.server.active_requests`, over every attribute set.
fn active(metrics: &[ResourceMetrics]) -> i64 {
    let mut total = None;
    for rm in metrics {
        for scope in rm.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == "http.server.active_requests") {
                if let AggregatedMetrics::I64(MetricData::Sum(sum)) = metric.data() {
                    total = Some(sum.data_points().map(|p| p.value()).sum());
                }
            }
        }
    }
    total.expect("active_requests was recorded")
}

/// Histogram data points of `http.server.request.duration` as (count, attributes).
fn durations(metrics: &[ResourceMetrics]) -> Vec<(u64, Vec<String>)> {
    let mut out = Vec::new();
    for rm in metrics.last().into_iter() {
        for scope in rm.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == "http.server.request.duration") {
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

#[test]
fn finished_and_dropped_requests_are_recorded_and_leave_no_active_count() {
    let (provider, exporter) = provider();
    let metrics = Arc::new(HttpServerMetrics::new(&provider.meter("test")));

    let mut ok = metrics.start("GET", "http", None);
    let cancelled = metrics.start("POST", "http", None);
    assert_eq!(active(&collected(&provider, &exporter)), 2);

    ok.set_route("/users/{id}".into());
    assert_eq!(ok.route(), Some("/users/{id}"));
    ok.finish(RequestOutcome { status: Some(200), ..Default::default() });
    drop(cancelled); // a cancelled request or a panicking handler
    let metrics_now = collected(&provider, &exporter);
    assert_eq!(active(&metrics_now), 0);
    assert_eq!(
        durations(&metrics_now),
        vec![
            (1, vec!["error.type=_OTHER".into(), "http.request.method=POST".into(), "url.scheme=http".into()]),
            (
                1,
                vec![
                    "http.request.method=GET".into(),
                    "http.response.status_code=200".into(),
                    "http.route=/users/{id}".into(),
                    "url.scheme=http".into()
                ]
            ),
        ]
    );
}
