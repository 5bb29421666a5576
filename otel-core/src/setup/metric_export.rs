//! Where metrics go: the meter provider `setup` installs, from `OTEL_METRICS_EXPORTER` and the
//! periodic reader's variables.
//!
//! - `OTEL_METRICS_EXPORTER`: `otlp`, `console` (JSON on standard output) or `none`,
//!   comma-separated. The default follows [`super::exporter`]'s rule: `otlp`, except on a terminal
//!   with no OTLP endpoint set, where metrics go nowhere (no meter provider is installed).
//! - `OTEL_METRIC_EXPORT_INTERVAL`: milliseconds between exports (default 60000).
//! - `OTEL_METRIC_EXPORT_TIMEOUT`: milliseconds one export may take (default 30000; each OTLP
//!   export is cut off at the smaller of it and the OTLP timeout).
//! - `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative` (default), `delta` or
//!   `lowmemory`, as the OTLP exporter specification defines them.
//! - Where OTLP metrics go: `OTEL_EXPORTER_OTLP_METRICS_*`, else `OTEL_EXPORTER_OTLP_*`
//!   ([`super::otlp`]).

use crate::config::{Env, report};
use crate::setup::exporter::{Named, chosen_exporters, default_is_otlp, shutdown_bound};
use crate::setup::otlp::{OtlpCode, OtlpSettings, Signal, millis};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use std::time::Duration;

/// `OTEL_METRICS_EXPORTER`: `otlp`, `console` or `none`, comma-separated.
pub const METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// `OTEL_METRIC_EXPORT_INTERVAL`: milliseconds between two exports.
pub const METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// `OTEL_METRIC_EXPORT_TIMEOUT`: milliseconds one export may take.
pub const METRIC_EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative`, `delta` or `lowmemory`.
pub const TEMPORALITY_PREFERENCE: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";

/// A destination for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsExporter {
    /// OTLP to a collector (`OTEL_METRICS_EXPORTER=otlp`).
    Otlp,
    /// JSON on standard output (`OTEL_METRICS_EXPORTER=console`), for debugging.
    Console,
    /// Nowhere (`OTEL_METRICS_EXPORTER=none`): no meter provider is installed.
    None,
}

/// Everything decided about exporting metrics, before anything is built.
#[derive(Clone, Debug)]
pub(crate) struct MetricsPlan {
    pub(crate) exporters: Vec<MetricsExporter>,
    pub(crate) otlp: OtlpSettings,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) temporality: Temporality,
}

impl MetricsPlan {
    pub(crate) fn resolve(
        code_exporters: Option<Vec<MetricsExporter>>,
        code: &OtlpCode,
        env: &Env,
        on_terminal: bool,
    ) -> Self {
        let named = |named| match named {
            Named::Otlp => MetricsExporter::Otlp,
            Named::Console => MetricsExporter::Console,
            Named::None => MetricsExporter::None,
        };
        let exporters = chosen_exporters(code_exporters, Signal::METRICS, env, named).unwrap_or_else(|| {
            vec![if default_is_otlp(Signal::METRICS, code, env, on_terminal) {
                MetricsExporter::Otlp
            } else {
                MetricsExporter::None
            }]
        });
        Self {
            exporters,
            otlp: OtlpSettings::resolve(Signal::METRICS, code, env),
            interval: millis(env, &[METRIC_EXPORT_INTERVAL]).unwrap_or(Duration::from_secs(60)),
            timeout: millis(env, &[METRIC_EXPORT_TIMEOUT]).unwrap_or(Duration::from_secs(30)),
            temporality: temporality_from_env(env),
        }
    }

    /// What a shutdown waits at most: one export, plus a margin.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        let otlp = self.exporters.contains(&MetricsExporter::Otlp).then_some(&self.otlp);
        shutdown_bound(otlp, self.timeout)
    }

    /// The meter provider, one periodic reader per exporter; `None` when metrics go nowhere.
    pub(crate) fn provider(&self, resource: Resource) -> Option<SdkMeterProvider> {
        let mut builder = SdkMeterProvider::builder().with_resource(resource);
        let mut readers = 0;
        for exporter in &self.exporters {
            match exporter {
                MetricsExporter::Otlp => {
                    let Some(exporter) = self.otlp.metric_exporter(self.temporality, self.timeout) else { continue };
                    builder =
                        builder.with_reader(PeriodicReader::builder(exporter).with_interval(self.interval).build());
                }
                MetricsExporter::Console => {
                    let exporter =
                        opentelemetry_stdout::MetricExporter::builder().with_temporality(self.temporality).build();
                    builder =
                        builder.with_reader(PeriodicReader::builder(exporter).with_interval(self.interval).build());
                }
                MetricsExporter::None => continue,
            }
            readers += 1;
        }
        (readers > 0).then(|| builder.build())
    }
}

fn temporality_from_env(env: &Env) -> Temporality {
    let Some(value) = env.get(TEMPORALITY_PREFERENCE).filter(|v| !v.trim().is_empty()) else {
        return Temporality::Cumulative;
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "cumulative" => Temporality::Cumulative,
        "delta" => Temporality::Delta,
        "lowmemory" => Temporality::LowMemory,
        _ => {
            report(TEMPORALITY_PREFERENCE, &value, "expected cumulative, delta or lowmemory");
            Temporality::Cumulative
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn plan(pairs: &[(&str, &str)], on_terminal: bool) -> MetricsPlan {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        MetricsPlan::resolve(None, &OtlpCode::default(), &Env::from_fn(move |name| map.get(name).cloned()), on_terminal)
    }

    #[test]
    fn the_default_is_otlp_except_on_a_terminal_without_an_endpoint() {
        assert_eq!(plan(&[], false).exporters, [MetricsExporter::Otlp]);
        assert_eq!(plan(&[], true).exporters, [MetricsExporter::None]);
        let endpoint = plan(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4318/v1/metrics")], true);
        assert_eq!(endpoint.exporters, [MetricsExporter::Otlp]);
        assert_eq!(endpoint.otlp.endpoint, "http://metrics:4318/v1/metrics", "the signal's endpoint, as is");
        let general = plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")], true);
        assert_eq!(general.otlp.endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(
            plan(&[(METRICS_EXPORTER, "console,otlp")], true).exporters,
            [MetricsExporter::Console, MetricsExporter::Otlp]
        );
        assert_eq!(plan(&[(METRICS_EXPORTER, "none")], false).exporters, [MetricsExporter::None]);
        assert!(plan(&[(METRICS_EXPORTER, "none")], false).provider(Resource::builder_empty().build()).is_none());
    }

    #[test]
    fn interval_timeout_and_temporality() {
        let defaults = plan(&[], false);
        assert_eq!((defaults.interval, defaults.timeout), (Duration::from_secs(60), Duration::from_secs(30)));
        assert_eq!(defaults.temporality, Temporality::Cumulative);
        let set = plan(
            &[(METRIC_EXPORT_INTERVAL, "500"), (METRIC_EXPORT_TIMEOUT, "250"), (TEMPORALITY_PREFERENCE, "Delta")],
            false,
        );
        assert_eq!((set.interval, set.timeout), (Duration::from_millis(500), Duration::from_millis(250)));
        assert_eq!(set.temporality, Temporality::Delta);
        assert_eq!(plan(&[(TEMPORALITY_PREFERENCE, "sometimes")], false).temporality, Temporality::Cumulative);
    }
}
