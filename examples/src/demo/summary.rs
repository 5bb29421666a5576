//! The demo's metrics, read back from its own meter provider at the end of a run: requests and
//! their p50 / p99 duration per route, and queries per statement, from the histograms the adapters
//! recorded (`http.server.request.duration`, `db.client.operation.duration`,
//! `db.client.connection.wait_time`).

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One histogram's points merged by a label: how many values, and per bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distribution {
    /// How many values were recorded.
    pub count: u64,
    bounds: Vec<f64>,
    buckets: Vec<u64>,
}

impl Distribution {
    fn add(&mut self, bounds: Vec<f64>, buckets: Vec<u64>, count: u64) {
        if self.buckets.is_empty() {
            self.bounds = bounds;
            self.buckets = vec![0; buckets.len()];
        }
        for (total, bucket) in self.buckets.iter_mut().zip(buckets) {
            *total += bucket;
        }
        self.count += count;
    }

    /// The upper bound, in seconds, of the bucket that holds the `quantile` (0 to 1) of the values;
    /// `None` past the last bound.
    pub fn quantile(&self, quantile: f64) -> Option<f64> {
        let rank = (quantile * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket;
            if seen >= rank {
                return self.bounds.get(index).copied();
            }
        }
        None
    }
}

/// What the summary reads: per metric, per label.
type Read = BTreeMap<&'static str, BTreeMap<String, Distribution>>;

/// The demo's meter provider and what it collected.
#[derive(Clone, Debug)]
pub struct MetricsSummary {
    provider: SdkMeterProvider,
    read: Arc<Mutex<Read>>,
}

impl Default for MetricsSummary {
    fn default() -> Self {
        Self::new()
    }
}

/// The histograms the summary shows: the metric, its title, and the attributes that label its
/// rows (those present, joined).
const SHOWN: [(&str, &str, &[&str]); 5] = [
    ("http.server.request.duration", "requests per route", &["http.request.method", "http.route"]),
    (
        "db.client.operation.duration",
        "queries per statement",
        &["db.system.name", "db.query.summary", "db.operation.name"],
    ),
    ("db.client.connection.wait_time", "waits for a pool connection", &["db.client.connection.pool.name"]),
    (
        "messaging.client.operation.duration",
        "messages sent",
        &["messaging.operation.name", "messaging.destination.name"],
    ),
    ("messaging.process.duration", "messages processed", &["messaging.destination.name"]),
];

impl MetricsSummary {
    /// A meter provider whose reader only collects when asked ([`MetricsSummary::collect`]).
    pub fn new() -> Self {
        let read = Arc::new(Mutex::new(Read::new()));
        let reader =
            PeriodicReader::builder(Collector(Arc::clone(&read))).with_interval(Duration::from_secs(86_400)).build();
        Self { provider: SdkMeterProvider::builder().with_reader(reader).build(), read }
    }

    /// The provider to install (or give to the adapters).
    pub fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// Collects what was recorded so far.
    pub fn collect(&self) {
        let _ = self.provider.force_flush();
    }

    /// The distribution of `metric` per row label, as of the last [`collect`](Self::collect).
    pub fn rows(&self, metric: &str) -> BTreeMap<String, Distribution> {
        let read = self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        read.get(metric).cloned().unwrap_or_default()
    }

    /// The summary as text: requests per route, queries per statement, pool waits, messages.
    pub fn text(&self) -> String {
        let millis = |seconds: Option<f64>| match seconds {
            Some(seconds) => format!("<= {} ms", seconds * 1000.0),
            None => "> 10 s".to_owned(),
        };
        let mut text = String::new();
        for (metric, title, _) in SHOWN {
            let rows = self.rows(metric);
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(text, "{title} ({metric}):");
            for (label, distribution) in rows {
                let _ = writeln!(
                    text,
                    "  {label:<32} {:>4}   p50 {:<10} p99 {}",
                    distribution.count,
                    millis(distribution.quantile(0.5)),
                    millis(distribution.quantile(0.99)),
                );
            }
        }
        text
    }
}

/// The reader's exporter: merges each shown histogram's points by their row label.
#[derive(Debug)]
struct Collector(Arc<Mutex<Read>>);

impl PushMetricExporter for Collector {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut read = Read::new();
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                let Some((name, _, labels)) = SHOWN.iter().find(|(name, ..)| *name == metric.name()) else { continue };
                let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else { continue };
                for point in histogram.data_points() {
                    let attributes: Vec<&KeyValue> = point.attributes().collect();
                    let label = label(&attributes, labels);
                    read.entry(name).or_default().entry(label).or_default().add(
                        point.bounds().collect(),
                        point.bucket_counts().collect(),
                        point.count(),
                    );
                }
            }
        }
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = read;
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// The values of `keys` among `attributes`, in that order, joined by spaces.
fn label(attributes: &[&KeyValue], keys: &[&str]) -> String {
    let values: Vec<String> = keys
        .iter()
        .filter_map(|key| attributes.iter().find(|kv| kv.key.as_str() == *key).map(|kv| kv.value.to_string()))
        .collect();
    values.join(" ")
}
