//! Where log records go: the logger provider `setup` installs, from `OTEL_LOGS_EXPORTER` and the
//! batch log record processor's variables, and the `tracing` layer that turns events into
//! OpenTelemetry log records.
//!
//! - `OTEL_LOGS_EXPORTER`: `otlp`, `console` (JSON on standard output) or `none`,
//!   comma-separated. The default follows [`super::exporter`]'s rule: `otlp`, except on a
//!   terminal with no OTLP endpoint set, where log records go nowhere (the application's own log
//!   lines are still written by its `tracing-subscriber` layers).
//! - `OTEL_BLRP_SCHEDULE_DELAY` (ms, default 1000), `OTEL_BLRP_EXPORT_TIMEOUT` (ms, default
//!   30000), `OTEL_BLRP_MAX_QUEUE_SIZE` (default 2048), `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`
//!   (default 512, at most the queue size).
//! - Where OTLP log records go: `OTEL_EXPORTER_OTLP_LOGS_*`, else `OTEL_EXPORTER_OTLP_*`
//!   ([`super::otlp`]).
//!
//! Events become log records through opentelemetry-appender-tracing, the ecosystem's bridge: add
//! [`TelemetryGuard::log_layer`](super::TelemetryGuard::log_layer) to the subscriber. A record
//! carries the trace and span ids of the current OpenTelemetry context (the span an adapter or a
//! bridged `tracing` span made current), so a backend shows the logs of a trace.

use crate::config::Env;
use crate::setup::exporter::{BatchSettings, BatchVariables, Named, chosen_exporters, default_is_otlp, shutdown_bound};
use crate::setup::otlp::{OtlpCode, OtlpSettings, Signal};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, LogExporter, SdkLogger, SdkLoggerProvider};
use std::time::Duration;

/// `OTEL_LOGS_EXPORTER`: `otlp`, `console` or `none`, comma-separated.
pub const LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
/// `OTEL_BLRP_SCHEDULE_DELAY`: milliseconds between batch exports.
pub const BLRP_SCHEDULE_DELAY: &str = "OTEL_BLRP_SCHEDULE_DELAY";
/// `OTEL_BLRP_EXPORT_TIMEOUT`: milliseconds one batch export may take.
pub const BLRP_EXPORT_TIMEOUT: &str = "OTEL_BLRP_EXPORT_TIMEOUT";
/// `OTEL_BLRP_MAX_QUEUE_SIZE`: records waiting for export; beyond it records are dropped.
pub const BLRP_MAX_QUEUE_SIZE: &str = "OTEL_BLRP_MAX_QUEUE_SIZE";
/// `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`: records per export.
pub const BLRP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE";

const BLRP: BatchVariables = BatchVariables {
    schedule_delay: BLRP_SCHEDULE_DELAY,
    export_timeout: BLRP_EXPORT_TIMEOUT,
    max_queue_size: BLRP_MAX_QUEUE_SIZE,
    max_export_batch_size: BLRP_MAX_EXPORT_BATCH_SIZE,
    default_delay: Duration::from_secs(1),
};

/// The `tracing` layer that sends events to the installed logger provider as log records.
pub type LogLayer = OpenTelemetryTracingBridge<SdkLoggerProvider, SdkLogger>;

/// A destination for log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogsExporter {
    /// OTLP to a collector (`OTEL_LOGS_EXPORTER=otlp`).
    Otlp,
    /// JSON on standard output (`OTEL_LOGS_EXPORTER=console`), for debugging.
    Console,
    /// Nowhere (`OTEL_LOGS_EXPORTER=none`): no logger provider is installed.
    None,
}

/// Everything decided about exporting log records, before anything is built.
#[derive(Clone, Debug)]
pub(crate) struct LogsPlan {
    pub(crate) exporters: Vec<LogsExporter>,
    pub(crate) otlp: OtlpSettings,
    pub(crate) batch: BatchSettings,
}

impl LogsPlan {
    pub(crate) fn resolve(
        code_exporters: Option<Vec<LogsExporter>>,
        code: &OtlpCode,
        env: &Env,
        on_terminal: bool,
    ) -> Self {
        let named = |named| match named {
            Named::Otlp => LogsExporter::Otlp,
            Named::Console => LogsExporter::Console,
            Named::None => LogsExporter::None,
        };
        let exporters = chosen_exporters(code_exporters, Signal::LOGS, env, named).unwrap_or_else(|| {
            vec![if default_is_otlp(Signal::LOGS, code, env, on_terminal) {
                LogsExporter::Otlp
            } else {
                LogsExporter::None
            }]
        });
        Self { exporters, otlp: OtlpSettings::resolve(Signal::LOGS, code, env), batch: BLRP.read(env) }
    }

    /// What a shutdown waits at most: one export, plus a margin.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        let otlp = self.exporters.contains(&LogsExporter::Otlp).then_some(&self.otlp);
        shutdown_bound(otlp, self.batch.export_timeout)
    }

    /// The logger provider, one batch processor per exporter; `None` when records go nowhere.
    pub(crate) fn provider(&self, resource: Resource) -> Option<SdkLoggerProvider> {
        let mut builder = SdkLoggerProvider::builder().with_resource(resource);
        let mut processors = 0;
        for exporter in &self.exporters {
            match exporter {
                LogsExporter::Otlp => {
                    let Some(exporter) = self.otlp.log_exporter(self.batch.export_timeout) else { continue };
                    builder = builder.with_log_processor(self.batch_processor(exporter));
                }
                LogsExporter::Console => {
                    builder =
                        builder.with_log_processor(self.batch_processor(opentelemetry_stdout::LogExporter::default()));
                }
                LogsExporter::None => continue,
            }
            processors += 1;
        }
        (processors > 0).then(|| builder.build())
    }

    fn batch_processor(&self, exporter: impl LogExporter + 'static) -> BatchLogProcessor {
        let config = BatchConfigBuilder::default()
            .with_scheduled_delay(self.batch.schedule_delay)
            .with_max_queue_size(self.batch.max_queue_size)
            .with_max_export_batch_size(self.batch.max_export_batch_size)
            .build();
        BatchLogProcessor::builder(exporter).with_batch_config(config).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn plan(pairs: &[(&str, &str)], on_terminal: bool) -> LogsPlan {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LogsPlan::resolve(None, &OtlpCode::default(), &Env::from_fn(move |name| map.get(name).cloned()), on_terminal)
    }

    #[test]
    fn the_default_is_otlp_except_on_a_terminal_without_an_endpoint() {
        assert_eq!(plan(&[], false).exporters, [LogsExporter::Otlp]);
        assert_eq!(plan(&[], false).otlp.endpoint, "http://localhost:4318/v1/logs");
        assert_eq!(plan(&[], true).exporters, [LogsExporter::None]);
        let grpc =
            plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], true);
        assert_eq!(
            (grpc.exporters.as_slice(), grpc.otlp.endpoint.as_str()),
            ([LogsExporter::Otlp].as_slice(), "http://c:4317")
        );
        assert_eq!(plan(&[(LOGS_EXPORTER, "console")], false).exporters, [LogsExporter::Console]);
        assert!(plan(&[(LOGS_EXPORTER, "none")], false).provider(Resource::builder_empty().build()).is_none());
    }

    #[test]
    fn batch_variables() {
        let defaults = plan(&[], false).batch;
        assert_eq!(defaults.schedule_delay, Duration::from_secs(1));
        assert_eq!((defaults.max_queue_size, defaults.max_export_batch_size), (2048, 512));
        let set =
            plan(&[(BLRP_SCHEDULE_DELAY, "200"), (BLRP_MAX_QUEUE_SIZE, "10"), (BLRP_EXPORT_TIMEOUT, "900")], false);
        assert_eq!(set.batch.schedule_delay, Duration::from_millis(200));
        assert_eq!((set.batch.max_queue_size, set.batch.max_export_batch_size), (10, 10));
        assert_eq!(set.batch.export_timeout, Duration::from_millis(900));
    }
}
