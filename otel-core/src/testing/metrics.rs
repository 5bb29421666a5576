//! Metric points collected in memory, as sorted text a test compares in one assertion.

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::time::Duration;

/// A meter provider whose metrics are collected into memory when read, and only then: its reader
/// waits a day between exports, so a benchmark measures the recording path alone.
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
        let reader = PeriodicReader::builder(exporter.clone()).with_interval(Duration::from_secs(86_400)).build();
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        Self { exporter, provider }
    }

    /// The provider to hand to the code under test.
    pub fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// The points of the histogram `name` as of now: each point's attributes as sorted
    /// `key=value` text joined by spaces, and its count; sorted.
    pub fn histogram(&self, name: &str) -> Vec<(String, u64)> {
        self.points(name, |data, points| {
            if let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = data {
                points.extend(histogram.data_points().map(|point| (text(point.attributes()), point.count())));
            }
        })
    }

    /// How many values the histogram `name` holds, over all its points.
    pub fn histogram_count(&self, name: &str) -> u64 {
        self.histogram(name).iter().map(|(_, count)| count).sum()
    }

    /// The points of the `u64` counter `name` as of now: attributes as in
    /// [`histogram`](Self::histogram), and the sum.
    pub fn sum_u64(&self, name: &str) -> Vec<(String, u64)> {
        self.points(name, |data, points| {
            if let AggregatedMetrics::U64(MetricData::Sum(sum)) = data {
                points.extend(sum.data_points().map(|point| (text(point.attributes()), point.value())));
            }
        })
    }

    /// The points of the `i64` (up-down) counter `name` as of now: attributes as in
    /// [`histogram`](Self::histogram), and the sum.
    pub fn sum_i64(&self, name: &str) -> Vec<(String, i64)> {
        self.points(name, |data, points| {
            if let AggregatedMetrics::I64(MetricData::Sum(sum)) = data {
                points.extend(sum.data_points().map(|point| (text(point.attributes()), point.value())));
            }
        })
    }

    /// Collects now and gathers the points of the metric `name` with `read`; sorted.
    fn points<V: Ord>(&self, name: &str, read: impl Fn(&AggregatedMetrics, &mut Vec<(String, V)>)) -> Vec<(String, V)> {
        // A failed flush (a provider already shut down) leaves what was collected before.
        let _ = self.provider.force_flush();
        let mut points = Vec::new();
        let collected = self.exporter.get_finished_metrics().unwrap_or_default();
        if let Some(resource) = collected.last() {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics().filter(|metric| metric.name() == name) {
                    read(metric.data(), &mut points);
                }
            }
        }
        points.sort();
        points
    }
}

/// Attributes as sorted `key=value` text joined by spaces.
fn text<'a>(attributes: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
    let mut attributes: Vec<String> = attributes.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
    attributes.sort();
    attributes.join(" ")
}
