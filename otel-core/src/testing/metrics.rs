//! Metric points collected in memory, as sorted text a test compares in one assertion.

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A meter provider whose metrics are collected into memory when read.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::metrics::MeterProvider;
/// use otel_core::testing::MetricRecorder;
///
/// let metrics = MetricRecorder::new();
/// let histogram = metrics.provider().meter("test").f64_histogram("op.duration").build();
/// histogram.record(0.5, &[KeyValue::new("op", "read")]);
/// assert_eq!(metrics.histogram("op.duration"), [("op=read".to_owned(), 1)]);
/// ```
#[derive(Clone, Debug)]
pub struct MetricRecorder {
    exporter: InMemoryMetricExporter,
    provider: SdkMeterProvider,
}

impl Default for MetricRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricRecorder {
    /// A provider with an in-memory reader.
    pub fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider =
            SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
        Self { exporter, provider }
    }

    /// The provider to hand to the code under test.
    pub fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// The points of the histogram `name` as of now: each point's attributes as sorted
    /// `key=value` text joined by spaces, and its count; sorted.
    pub fn histogram(&self, name: &str) -> Vec<(String, u64)> {
        // A failed flush (a provider already shut down) leaves what was collected before.
        let _ = self.provider.force_flush();
        let mut points = Vec::new();
        let collected = self.exporter.get_finished_metrics().unwrap_or_default();
        if let Some(resource) = collected.last() {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics().filter(|metric| metric.name() == name) {
                    if let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() {
                        for point in histogram.data_points() {
                            let mut attributes: Vec<String> =
                                point.attributes().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                            attributes.sort();
                            points.push((attributes.join(" "), point.count()));
                        }
                    }
                }
            }
        }
        points.sort();
        points
    }
}
