//! What the receiver keeps of each span, metric and log record, flattened for assertions.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One span as received, with its resource.
#[derive(Clone, Debug)]
pub struct Received {
    pub resource: BTreeMap<String, String>,
    pub span: Span,
    pub attributes: BTreeMap<String, String>,
    /// How it arrived: `grpc` or `http`, plus the request headers that matter to tests.
    pub transport: &'static str,
    pub api_key: Option<String>,
    /// Over TLS, and whether the client presented a certificate (only asked for with client auth).
    pub tls: bool,
    pub client_cert: bool,
}

/// One metric of one export, with its resource.
#[derive(Clone, Debug)]
pub struct ReceivedMetric {
    pub resource: BTreeMap<String, String>,
    pub scope: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub kind: MetricKind,
    /// For sums and histograms; `Unspecified` for the others.
    pub temporality: AggregationTemporality,
    pub monotonic: bool,
    /// The data points of a sum or a gauge.
    pub points: Vec<NumberPoint>,
    /// The data points of a histogram.
    pub histograms: Vec<HistogramPoint>,
    pub transport: &'static str,
    pub api_key: Option<String>,
    pub tls: bool,
    pub client_cert: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Sum,
    Gauge,
    Histogram,
    ExponentialHistogram,
    Summary,
    /// A metric without data.
    Empty,
}

/// A sum's or a gauge's data point; integer values are converted to `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint {
    pub attributes: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint {
    pub attributes: BTreeMap<String, String>,
    pub count: u64,
    pub sum: Option<f64>,
    pub bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
}

/// One log record, with its resource and scope.
#[derive(Clone, Debug)]
pub struct ReceivedLog {
    pub resource: BTreeMap<String, String>,
    pub scope: String,
    /// A string body as is; other bodies in their debug form.
    pub body: String,
    pub severity_text: String,
    pub severity_number: i32,
    pub event_name: String,
    /// Empty when the record was not emitted inside a span.
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub transport: &'static str,
    pub api_key: Option<String>,
    pub tls: bool,
    pub client_cert: bool,
}

impl ReceivedLog {
    /// Lowercase hex, as `TraceId`'s `Display` writes it; empty without a trace.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a request arrived.
#[derive(Clone, Debug)]
pub(super) struct Via {
    pub(super) transport: &'static str,
    pub(super) api_key: Option<String>,
    pub(super) tls: bool,
    pub(super) client_cert: bool,
}

#[derive(Default)]
pub(super) struct Lists {
    pub(super) spans: Vec<Received>,
    pub(super) metrics: Vec<ReceivedMetric>,
    pub(super) logs: Vec<ReceivedLog>,
}

#[derive(Clone, Default)]
pub(super) struct Store(Arc<Mutex<Lists>>);

impl Store {
    pub(super) fn lists(&self) -> MutexGuard<'_, Lists> {
        // A panicking assertion elsewhere must not hide what was received.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add_spans(&self, request: ExportTraceServiceRequest, via: &Via) {
        let mut lists = self.lists();
        for resource_spans in request.resource_spans {
            let resource = resource_attributes(resource_spans.resource.as_ref());
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    lists.spans.push(Received {
                        resource: resource.clone(),
                        attributes: attributes(&span.attributes),
                        span,
                        transport: via.transport,
                        api_key: via.api_key.clone(),
                        tls: via.tls,
                        client_cert: via.client_cert,
                    });
                }
            }
        }
    }

    pub(super) fn add_metrics(&self, request: ExportMetricsServiceRequest, via: &Via) {
        let mut lists = self.lists();
        for resource_metrics in request.resource_metrics {
            let resource = resource_attributes(resource_metrics.resource.as_ref());
            for scope in resource_metrics.scope_metrics {
                let scope_name = scope_name(scope.scope.as_ref());
                for metric in scope.metrics {
                    lists.metrics.push(received_metric(metric, resource.clone(), scope_name.clone(), via));
                }
            }
        }
    }

    pub(super) fn add_logs(&self, request: ExportLogsServiceRequest, via: &Via) {
        let mut lists = self.lists();
        for resource_logs in request.resource_logs {
            let resource = resource_attributes(resource_logs.resource.as_ref());
            for scope in resource_logs.scope_logs {
                let scope_name = scope_name(scope.scope.as_ref());
                for record in scope.log_records {
                    lists.logs.push(ReceivedLog {
                        resource: resource.clone(),
                        scope: scope_name.clone(),
                        body: record.body.as_ref().map(text).unwrap_or_default(),
                        severity_text: record.severity_text,
                        severity_number: record.severity_number,
                        event_name: record.event_name,
                        trace_id: record.trace_id,
                        span_id: record.span_id,
                        attributes: attributes(&record.attributes),
                        transport: via.transport,
                        api_key: via.api_key.clone(),
                        tls: via.tls,
                        client_cert: via.client_cert,
                    });
                }
            }
        }
    }
}

fn received_metric(metric: Metric, resource: BTreeMap<String, String>, scope: String, via: &Via) -> ReceivedMetric {
    let temporality =
        |value: i32| AggregationTemporality::try_from(value).unwrap_or(AggregationTemporality::Unspecified);
    let numbers = |points: Vec<opentelemetry_proto::tonic::metrics::v1::NumberDataPoint>| {
        points
            .into_iter()
            .map(|point| NumberPoint {
                attributes: attributes(&point.attributes),
                value: match point.value {
                    Some(number_data_point::Value::AsDouble(value)) => value,
                    Some(number_data_point::Value::AsInt(value)) => value as f64,
                    None => f64::NAN,
                },
            })
            .collect()
    };
    let mut received = ReceivedMetric {
        resource,
        scope,
        name: metric.name,
        description: metric.description,
        unit: metric.unit,
        kind: MetricKind::Empty,
        temporality: AggregationTemporality::Unspecified,
        monotonic: false,
        points: Vec::new(),
        histograms: Vec::new(),
        transport: via.transport,
        api_key: via.api_key.clone(),
        tls: via.tls,
        client_cert: via.client_cert,
    };
    match metric.data {
        Some(metric::Data::Sum(sum)) => {
            received.kind = MetricKind::Sum;
            received.temporality = temporality(sum.aggregation_temporality);
            received.monotonic = sum.is_monotonic;
            received.points = numbers(sum.data_points);
        }
        Some(metric::Data::Gauge(gauge)) => {
            received.kind = MetricKind::Gauge;
            received.points = numbers(gauge.data_points);
        }
        Some(metric::Data::Histogram(histogram)) => {
            received.kind = MetricKind::Histogram;
            received.temporality = temporality(histogram.aggregation_temporality);
            received.histograms = histogram
                .data_points
                .into_iter()
                .map(|point| HistogramPoint {
                    attributes: attributes(&point.attributes),
                    count: point.count,
                    sum: point.sum,
                    bounds: point.explicit_bounds,
                    bucket_counts: point.bucket_counts,
                })
                .collect();
        }
        Some(metric::Data::ExponentialHistogram(histogram)) => {
            received.kind = MetricKind::ExponentialHistogram;
            received.temporality = temporality(histogram.aggregation_temporality);
        }
        Some(metric::Data::Summary(_)) => received.kind = MetricKind::Summary,
        None => {}
    }
    received
}

fn resource_attributes(resource: Option<&Resource>) -> BTreeMap<String, String> {
    resource.map(|r| attributes(&r.attributes)).unwrap_or_default()
}

fn scope_name(scope: Option<&InstrumentationScope>) -> String {
    scope.map(|s| s.name.clone()).unwrap_or_default()
}

pub(super) fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(text).unwrap_or_default())).collect()
}

/// Scalars as their text; arrays, maps and bytes in their debug form.
fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}
