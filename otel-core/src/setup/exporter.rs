//! Where each signal goes: the choice of exporters (`OTEL_TRACES_EXPORTER`,
//! `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER`) and its default, then for spans the batch span
//! processor configured by `OTEL_BSP_*`.
//!
//! - `OTEL_TRACES_EXPORTER`: comma-separated, `otlp`, `console` (the terminal waterfall, on
//!   standard error) or `none`.
//! - The default, for each signal whose exporter is not chosen: `otlp`, as the specification
//!   says; except on a terminal (standard error is one) when no OTLP endpoint is set for the
//!   signal, where traces go to the waterfall and metrics and logs nowhere. So a developer
//!   trying the service sees its traces without a collector, and a service started by a process
//!   manager never writes trace dumps into its logs.
//! - `OTEL_BSP_SCHEDULE_DELAY` (ms, default 5000), `OTEL_BSP_EXPORT_TIMEOUT` (ms, default 30000),
//!   `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512, at
//!   most the queue size).
//!
//! Each span export is cut off at the smaller of the OTLP and BSP export timeouts. The
//! waterfall's processor exports every 100 ms, whatever `OTEL_BSP_SCHEDULE_DELAY` says: it is for
//! people watching a terminal. How OTLP is reached is [`super::otlp`]'s part.

use crate::config::{Env, report};
use crate::setup::otlp::{OtlpCode, OtlpSettings, Signal, count, millis};
use crate::setup::waterfall::Waterfall;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanExporter};
use std::io::IsTerminal;
use std::time::Duration;

/// `OTEL_TRACES_EXPORTER`: `otlp`, `console` (the terminal waterfall) or `none`, comma-separated.
pub const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `OTEL_BSP_SCHEDULE_DELAY`: milliseconds between batch exports.
pub const BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// `OTEL_BSP_EXPORT_TIMEOUT`: milliseconds one batch export may take.
pub const BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
/// `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting for export; beyond it spans are dropped.
pub const BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans per export.
pub const BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// `NO_COLOR`: any non-empty value turns the waterfall's colors off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

const WATERFALL_DELAY: Duration = Duration::from_millis(100);

/// An exporter named in an `OTEL_{SIGNAL}_EXPORTER` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Named {
    Otlp,
    Console,
    None,
}

/// The exporters `OTEL_{SIGNAL}_EXPORTER` names, in order, without repeats; `none` alone is
/// `[None]`, and is ignored beside others. `None` when the variable is unset or names nothing
/// this setup supports (each unsupported name is reported).
pub(crate) fn named_exporters(signal: Signal, env: &Env) -> Option<Vec<Named>> {
    let names = env.list(signal.exporter)?;
    let mut exporters = Vec::new();
    for name in &names {
        let named = match name.to_ascii_lowercase().as_str() {
            "otlp" => Named::Otlp,
            "console" => Named::Console,
            "none" if names.len() == 1 => return Some(vec![Named::None]),
            "none" => {
                report(signal.exporter, name, "`none` combined with other exporters; ignored");
                continue;
            }
            "zipkin" | "jaeger" | "logging" | "prometheus" => {
                report(signal.exporter, name, "not supported by this setup; skipped");
                continue;
            }
            _ => {
                report(signal.exporter, name, "unknown exporter; skipped");
                continue;
            }
        };
        if !exporters.contains(&named) {
            exporters.push(named);
        }
    }
    (!exporters.is_empty()).then_some(exporters)
}

/// The exporters of a signal: those code chose (without repeats; `none` ignored beside others),
/// else those `OTEL_{SIGNAL}_EXPORTER` names, as the signal's own type (`map`). `None` when
/// neither chose: the signal's default applies.
pub(crate) fn chosen_exporters<E: PartialEq>(
    code: Option<Vec<E>>,
    signal: Signal,
    env: &Env,
    map: fn(Named) -> E,
) -> Option<Vec<E>> {
    match code {
        Some(list) => {
            let none = map(Named::None);
            let mut chosen = Vec::new();
            for exporter in list {
                if !chosen.contains(&exporter) {
                    chosen.push(exporter);
                }
            }
            if chosen.len() > 1 {
                chosen.retain(|exporter| *exporter != none);
            }
            Some(chosen)
        }
        None => named_exporters(signal, env).map(|named| named.into_iter().map(map).collect()),
    }
}

/// What a signal's shutdown waits at most: one export (the OTLP timeout, cut at the processor's
/// `export_timeout`) when it exports over OTLP, else a second; plus a second of margin.
pub(crate) fn shutdown_bound(otlp: Option<&OtlpSettings>, export_timeout: Duration) -> Duration {
    let export = otlp.map_or(Duration::from_secs(1), |otlp| otlp.timeout.min(export_timeout));
    export + Duration::from_secs(1)
}

/// Whether a signal whose exporter was not chosen goes to OTLP: always, except on a terminal
/// with no endpoint set for it (in code or in the environment).
pub(crate) fn default_is_otlp(signal: Signal, code: &OtlpCode, env: &Env, on_terminal: bool) -> bool {
    !on_terminal || code.endpoint.is_some() || signal.endpoint_set(env)
}

/// Whether the program writes to a terminal: standard error, where the waterfall prints.
pub(crate) fn on_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A destination for spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TracesExporter {
    /// OTLP to a collector (`OTEL_TRACES_EXPORTER=otlp`).
    Otlp,
    /// The terminal waterfall (`OTEL_TRACES_EXPORTER=console`).
    Waterfall,
    /// Nowhere (`OTEL_TRACES_EXPORTER=none`): spans are sampled and dropped.
    None,
}

/// The batch span processor's settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BatchSettings {
    pub(crate) schedule_delay: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
}

/// Everything decided about exporting spans, before anything is built.
#[derive(Clone, Debug)]
pub(crate) struct ExporterPlan {
    pub(crate) exporters: Vec<TracesExporter>,
    pub(crate) otlp: OtlpSettings,
    pub(crate) batch: BatchSettings,
    color: Option<bool>,
}

impl ExporterPlan {
    /// `fallback` replaces the default (OTLP, or the waterfall on a terminal) when neither code
    /// nor the environment chose an exporter or set an endpoint.
    pub(crate) fn resolve(
        code_exporters: Option<Vec<TracesExporter>>,
        fallback: Option<TracesExporter>,
        code: &OtlpCode,
        env: &Env,
        on_terminal: bool,
    ) -> Self {
        let configured = code.endpoint.is_some() || Signal::TRACES.endpoint_set(env);
        let named = |named| match named {
            Named::Otlp => TracesExporter::Otlp,
            Named::Console => TracesExporter::Waterfall,
            Named::None => TracesExporter::None,
        };
        let exporters =
            chosen_exporters(code_exporters, Signal::TRACES, env, named).unwrap_or_else(|| match fallback {
                Some(fallback) if !configured => vec![fallback],
                _ if default_is_otlp(Signal::TRACES, code, env, on_terminal) => vec![TracesExporter::Otlp],
                _ => vec![TracesExporter::Waterfall],
            });
        let otlp = OtlpSettings::resolve(Signal::TRACES, code, env);
        let color = env.get(NO_COLOR).filter(|v| !v.is_empty()).map(|_| false);
        Self { exporters, otlp, batch: BSP.read(env), color }
    }

    /// What a shutdown waits at most: one export, plus a margin.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        let otlp = self.exporters.contains(&TracesExporter::Otlp).then_some(&self.otlp);
        shutdown_bound(otlp, self.batch.export_timeout)
    }

    /// One batch processor per exporter. An exporter that cannot be built is reported and left
    /// out; the others still work.
    pub(crate) fn processors(&self, waterfall: Option<Waterfall>) -> Vec<BatchSpanProcessor> {
        let mut processors = Vec::new();
        let mut waterfall = waterfall;
        for exporter in &self.exporters {
            match exporter {
                TracesExporter::Otlp => {
                    if let Some(exporter) = self.otlp.span_exporter(self.batch.export_timeout) {
                        processors.push(self.batch_processor(exporter, self.batch.schedule_delay));
                    }
                }
                TracesExporter::Waterfall => {
                    let sink = waterfall.take().unwrap_or_else(|| {
                        let color = self.color.unwrap_or_else(on_terminal);
                        Waterfall::builder().color(color).build()
                    });
                    processors.push(self.batch_processor(sink.exporter(), WATERFALL_DELAY));
                }
                TracesExporter::None => {}
            }
        }
        processors
    }

    fn batch_processor(&self, exporter: impl SpanExporter + 'static, delay: Duration) -> BatchSpanProcessor {
        let config = BatchConfigBuilder::default()
            .with_scheduled_delay(delay)
            .with_max_queue_size(self.batch.max_queue_size)
            .with_max_export_batch_size(self.batch.max_export_batch_size)
            .build();
        BatchSpanProcessor::builder(exporter).with_batch_config(config).build()
    }
}

/// The variables of a batch processor (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for log records).
pub(crate) struct BatchVariables {
    pub(crate) schedule_delay: &'static str,
    pub(crate) export_timeout: &'static str,
    pub(crate) max_queue_size: &'static str,
    pub(crate) max_export_batch_size: &'static str,
    pub(crate) default_delay: Duration,
}

const BSP: BatchVariables = BatchVariables {
    schedule_delay: BSP_SCHEDULE_DELAY,
    export_timeout: BSP_EXPORT_TIMEOUT,
    max_queue_size: BSP_MAX_QUEUE_SIZE,
    max_export_batch_size: BSP_MAX_EXPORT_BATCH_SIZE,
    default_delay: Duration::from_secs(5),
};

impl BatchVariables {
    /// The settings these variables give; queue 2048 and batch 512 (at most the queue) by default.
    pub(crate) fn read(&self, env: &Env) -> BatchSettings {
        let max_queue_size = count(env, self.max_queue_size).unwrap_or(2048);
        let mut max_export_batch_size = count(env, self.max_export_batch_size).unwrap_or(512.min(max_queue_size));
        if max_export_batch_size > max_queue_size {
            report(
                self.max_export_batch_size,
                &max_export_batch_size.to_string(),
                format!("larger than the queue ({max_queue_size}); using the queue size"),
            );
            max_export_batch_size = max_queue_size;
        }
        BatchSettings {
            schedule_delay: millis(env, &[self.schedule_delay]).unwrap_or(self.default_delay),
            export_timeout: millis(env, &[self.export_timeout]).unwrap_or(Duration::from_secs(30)),
            max_queue_size,
            max_export_batch_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reported_problems;
    use crate::setup::otlp::{OTLP_ENDPOINT, OTLP_HEADERS, OTLP_PROTOCOL, OTLP_TIMEOUT, OtlpProtocol};
    use std::collections::HashMap;

    const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    const OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    const OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
    const OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";

    fn env(pairs: &[(&str, &str)]) -> Env {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_fn(move |name| map.get(name).cloned())
    }

    /// The plan of a program on a terminal.
    fn plan(pairs: &[(&str, &str)]) -> ExporterPlan {
        ExporterPlan::resolve(None, None, &OtlpCode::default(), &env(pairs), true)
    }

    fn reported(source: &str, value: &str) -> bool {
        reported_problems().iter().any(|p| p.source == source && p.value == value)
    }

    #[test]
    fn off_a_terminal_the_default_is_otlp() {
        let service = ExporterPlan::resolve(None, None, &OtlpCode::default(), &env(&[]), false);
        assert_eq!(service.exporters, [TracesExporter::Otlp]);
        assert_eq!(service.otlp.endpoint, "http://localhost:4318/v1/traces");
        let chosen =
            ExporterPlan::resolve(None, None, &OtlpCode::default(), &env(&[(TRACES_EXPORTER, "console")]), false);
        assert_eq!(chosen.exporters, [TracesExporter::Waterfall], "a choice wins");
        let waterfall = Some(TracesExporter::Waterfall);
        let fallback = ExporterPlan::resolve(None, waterfall, &OtlpCode::default(), &env(&[]), false);
        assert_eq!(
            fallback.exporters,
            [TracesExporter::Waterfall],
            "the program's default, when nothing is configured"
        );
        let endpoint = env(&[(OTLP_ENDPOINT, "http://collector:4318")]);
        let configured = ExporterPlan::resolve(None, waterfall, &OtlpCode::default(), &endpoint, true);
        assert_eq!(configured.exporters, [TracesExporter::Otlp], "an endpoint wins over the program's default");
    }

    #[test]
    fn on_a_terminal_the_default_is_the_waterfall_and_an_endpoint_makes_it_otlp() {
        let nothing = plan(&[]);
        assert_eq!(nothing.exporters, [TracesExporter::Waterfall]);
        assert_eq!(nothing.otlp.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(nothing.otlp.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(nothing.otlp.timeout, Duration::from_secs(10));

        let endpoint = plan(&[(OTLP_ENDPOINT, "http://collector:4318/")]);
        assert_eq!(endpoint.exporters, [TracesExporter::Otlp]);
        assert_eq!(endpoint.otlp.endpoint, "http://collector:4318/v1/traces");

        let grpc = plan(&[(OTLP_ENDPOINT, "http://collector:4317"), (OTLP_PROTOCOL, "grpc")]);
        assert_eq!((grpc.otlp.protocol, grpc.otlp.endpoint.as_str()), (OtlpProtocol::Grpc, "http://collector:4317"));
        assert_eq!(plan(&[(OTLP_PROTOCOL, "grpc")]).otlp.endpoint, "http://localhost:4317");

        let specific = plan(&[
            (OTLP_ENDPOINT, "http://general:4318"),
            (OTLP_TRACES_ENDPOINT, "http://traces:9999/custom"),
            (OTLP_PROTOCOL, "grpc"),
            (OTLP_TRACES_PROTOCOL, "http/json"),
            (OTLP_TIMEOUT, "2000"),
            (OTLP_TRACES_TIMEOUT, "1500"),
        ]);
        assert_eq!(specific.otlp.endpoint, "http://traces:9999/custom", "the traces endpoint is used as is");
        assert_eq!(specific.otlp.protocol, OtlpProtocol::HttpJson);
        assert_eq!(specific.otlp.timeout, Duration::from_millis(1500));

        let code = ExporterPlan::resolve(
            Some(vec![TracesExporter::Otlp, TracesExporter::Waterfall, TracesExporter::Otlp]),
            None,
            &OtlpCode { endpoint: Some("http://code:4317".into()), protocol: Some(OtlpProtocol::Grpc) },
            &env(&[(OTLP_ENDPOINT, "http://env:4318"), (TRACES_EXPORTER, "none")]),
            true,
        );
        assert_eq!(code.exporters, [TracesExporter::Otlp, TracesExporter::Waterfall]);
        assert_eq!(code.otlp.endpoint, "http://code:4317");

        // A base endpoint from code, like the general variable, gets the signal's path for HTTP.
        let code_http = ExporterPlan::resolve(
            None,
            None,
            &OtlpCode { endpoint: Some("http://code:4318/".into()), protocol: None },
            &env(&[]),
            true,
        );
        assert_eq!(code_http.exporters, [TracesExporter::Otlp], "an endpoint in code makes OTLP the default");
        assert_eq!(code_http.otlp.endpoint, "http://code:4318/v1/traces");
    }

    #[test]
    fn traces_exporter_values() {
        assert_eq!(plan(&[(TRACES_EXPORTER, "none")]).exporters, [TracesExporter::None]);
        assert_eq!(plan(&[(TRACES_EXPORTER, "console")]).exporters, [TracesExporter::Waterfall]);
        assert_eq!(
            plan(&[(TRACES_EXPORTER, "otlp, console,otlp")]).exporters,
            [TracesExporter::Otlp, TracesExporter::Waterfall]
        );
        assert_eq!(plan(&[(TRACES_EXPORTER, "zipkin,otlp")]).exporters, [TracesExporter::Otlp]);
        assert_eq!(plan(&[(TRACES_EXPORTER, "nonsense")]).exporters, [TracesExporter::Waterfall]);
        assert_eq!(plan(&[(TRACES_EXPORTER, "none,console")]).exporters, [TracesExporter::Waterfall]);
        assert!(reported(TRACES_EXPORTER, "zipkin") && reported(TRACES_EXPORTER, "nonsense"));
    }

    #[test]
    fn invalid_values_are_reported_and_ignored() {
        let bad = plan(&[
            (OTLP_TRACES_ENDPOINT, "not a url"),
            (OTLP_ENDPOINT, "ftp://secure:4318"),
            (OTLP_PROTOCOL, "carrier-pigeon"),
            (OTLP_TRACES_TIMEOUT, "soon"),
            (OTLP_TIMEOUT, "2500"),
            (BSP_MAX_QUEUE_SIZE, "100"),
            (BSP_MAX_EXPORT_BATCH_SIZE, "500"),
            (BSP_SCHEDULE_DELAY, "-5"),
            (BSP_EXPORT_TIMEOUT, "0"),
        ]);
        assert_eq!(bad.otlp.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(bad.otlp.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(bad.otlp.timeout, Duration::from_millis(2500), "the general variable still applies");
        assert_eq!(
            bad.batch,
            BatchSettings {
                schedule_delay: Duration::from_secs(5),
                export_timeout: Duration::from_secs(30),
                max_queue_size: 100,
                max_export_batch_size: 100,
            }
        );
        for (source, value) in [
            (OTLP_TRACES_ENDPOINT, "not a url"),
            (OTLP_ENDPOINT, "ftp://secure:4318"),
            (OTLP_PROTOCOL, "carrier-pigeon"),
            (OTLP_TRACES_TIMEOUT, "soon"),
            (BSP_MAX_EXPORT_BATCH_SIZE, "500"),
            (BSP_SCHEDULE_DELAY, "-5"),
            (BSP_EXPORT_TIMEOUT, "0"),
        ] {
            assert!(reported(source, value), "{source}={value}");
        }
        let batch = plan(&[(BSP_SCHEDULE_DELAY, "250"), (BSP_MAX_EXPORT_BATCH_SIZE, "64")]).batch;
        assert_eq!((batch.schedule_delay, batch.max_export_batch_size), (Duration::from_millis(250), 64));
    }

    #[test]
    fn header_values_are_secret() {
        let vars = env(&[
            (OTLP_HEADERS, "ignored=because-traces-wins"),
            (
                OTLP_TRACES_HEADERS,
                "api-key=s3cr3t-one, x-tenant=acme%20corp,bad header=s3cr3t-two,novalue,x-ctl=s3cr3t%0A",
            ),
        ]);
        let plan = ExporterPlan::resolve(None, None, &OtlpCode::default(), &vars, true);
        let headers: Vec<_> = plan.otlp.headers.0.iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap_or(""))).collect();
        assert_eq!(headers, [("api-key", "s3cr3t-one"), ("x-tenant", "acme corp")]);
        let debug = format!("{plan:?}");
        assert!(debug.contains("api-key") && !debug.contains("s3cr3t") && !debug.contains("acme"), "{debug}");
        let problems = format!("{:?}", reported_problems());
        assert!(!problems.contains("s3cr3t"), "{problems}");
        assert!(reported(OTLP_TRACES_HEADERS, "bad header=<redacted>"));
        assert!(reported(OTLP_TRACES_HEADERS, "x-ctl=<redacted>"));
    }

    #[test]
    fn no_color_turns_the_waterfall_colors_off() {
        assert_eq!(plan(&[(NO_COLOR, "1")]).color, Some(false));
        assert_eq!(plan(&[(NO_COLOR, "")]).color, None);
    }
}
