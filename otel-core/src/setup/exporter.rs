//! Where spans go: the exporters from `OTEL_TRACES_EXPORTER` and `OTEL_EXPORTER_OTLP_*`, each
//! behind a batch span processor configured by `OTEL_BSP_*`.
//!
//! - `OTEL_TRACES_EXPORTER`: comma-separated, `otlp`, `console` (the terminal waterfall, on
//!   standard error) or `none`. Unset: `otlp` when an OTLP endpoint variable is set, else
//!   `console`, so a new user sees traces without a collector.
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (for
//!   HTTP, `/v1/traces` is appended). Default `http://localhost:4318/v1/traces` for HTTP,
//!   `http://localhost:4317` for gRPC. Plain `http` only: this build has no TLS.
//! - `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`: `http/protobuf` (default), `grpc`, `http/json`.
//! - `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`: `key=value` pairs, percent-encoded. Values are
//!   secrets: they never appear in a report, a log or a `Debug` output.
//! - `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`: milliseconds per export (default 10000).
//! - `OTEL_BSP_SCHEDULE_DELAY` (ms, default 5000), `OTEL_BSP_EXPORT_TIMEOUT` (ms, default 30000),
//!   `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512, at
//!   most the queue size).
//!
//! OTLP exports run on a small runtime of their own (one thread for the process), never on the
//! application's: so they work from the SDK's batch thread, and shutting down cannot deadlock
//! on a current-thread runtime. Each export is cut off at the smaller of the OTLP and BSP
//! export timeouts. The waterfall's processor exports every 100 ms, whatever
//! `OTEL_BSP_SCHEDULE_DELAY` says: it is for people watching a terminal.

use crate::config::{Env, report};
use crate::setup::resource::percent_decode;
use crate::setup::waterfall::Waterfall;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanExporter};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `OTEL_TRACES_EXPORTER`: `otlp`, `console` (the terminal waterfall) or `none`, comma-separated.
pub const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of the collector (`/v1/traces` appended for HTTP).
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full traces URL, used as is.
pub const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, `grpc` or `http/json`.
pub const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: the same, for traces only (wins).
pub const OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs sent with every export (secret values).
pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`: the same, for traces only (wins).
pub const OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds an export may take.
pub const OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`: the same, for traces only (wins).
pub const OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
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

const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);
const WATERFALL_DELAY: Duration = Duration::from_millis(100);

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

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// gRPC (`grpc`, port 4317).
    Grpc,
    /// Protobuf over HTTP (`http/protobuf`, port 4318): the default.
    HttpProtobuf,
    /// JSON over HTTP (`http/json`, port 4318).
    HttpJson,
}

impl OtlpProtocol {
    fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "grpc" => Some(Self::Grpc),
            "http/protobuf" => Some(Self::HttpProtobuf),
            "http/json" => Some(Self::HttpJson),
            _ => None,
        }
    }

    fn is_http(self) -> bool {
        self != Self::Grpc
    }
}

/// Header names and values for the collector; values never shown.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct SecretHeaders(Vec<(http::HeaderName, http::HeaderValue)>);

impl fmt::Debug for SecretHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(name, _)| (name.as_str(), "<redacted>"))).finish()
    }
}

/// How to reach the collector.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OtlpSettings {
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) headers: SecretHeaders,
    pub(crate) timeout: Duration,
}

/// The batch span processor's settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BatchSettings {
    pub(crate) schedule_delay: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
}

/// Everything decided about exporting, before anything is built.
#[derive(Clone, Debug)]
pub(crate) struct ExporterPlan {
    pub(crate) exporters: Vec<TracesExporter>,
    pub(crate) otlp: OtlpSettings,
    pub(crate) batch: BatchSettings,
    color: Option<bool>,
}

impl ExporterPlan {
    pub(crate) fn resolve(
        code_exporters: Option<Vec<TracesExporter>>,
        code_endpoint: Option<String>,
        code_protocol: Option<OtlpProtocol>,
        env: &Env,
    ) -> Self {
        let endpoint_given = code_endpoint.is_some()
            || [OTLP_TRACES_ENDPOINT, OTLP_ENDPOINT].iter().any(|v| env.get(v).is_some_and(|s| !s.trim().is_empty()));
        let exporters = code_exporters.map(dedup).unwrap_or_else(|| exporters_from_env(env, endpoint_given));
        let protocol = code_protocol.unwrap_or_else(|| protocol_from_env(env));
        let otlp = OtlpSettings {
            endpoint: code_endpoint.unwrap_or_else(|| endpoint_from_env(env, protocol)),
            protocol,
            headers: headers_from_env(env),
            timeout: millis(env, &[OTLP_TRACES_TIMEOUT, OTLP_TIMEOUT]).unwrap_or(DEFAULT_OTLP_TIMEOUT),
        };
        let color = env.get(NO_COLOR).filter(|v| !v.is_empty()).map(|_| false);
        Self { exporters, otlp, batch: batch_from_env(env), color }
    }

    /// What a guard waits at most on shutdown: one export, plus a margin.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        let export = if self.exporters.contains(&TracesExporter::Otlp) {
            self.otlp.timeout.min(self.batch.export_timeout)
        } else {
            Duration::from_secs(1)
        };
        export + Duration::from_secs(1)
    }

    /// One batch processor per exporter. An exporter that cannot be built is reported and left
    /// out; the others still work.
    pub(crate) fn processors(&self, waterfall: Option<Waterfall>) -> Vec<BatchSpanProcessor> {
        let mut processors = Vec::new();
        let mut waterfall = waterfall;
        for exporter in &self.exporters {
            match exporter {
                TracesExporter::Otlp => {
                    if let Some(exporter) = self.otlp_exporter() {
                        processors.push(self.batch_processor(exporter, self.batch.schedule_delay));
                    }
                }
                TracesExporter::Waterfall => {
                    let sink = waterfall.take().unwrap_or_else(|| {
                        let color = self.color.unwrap_or_else(|| std::io::stderr().is_terminal());
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

    fn otlp_exporter(&self) -> Option<OnExportRuntime<opentelemetry_otlp::SpanExporter>> {
        let settings = &self.otlp;
        let Some(runtime) = export_runtime() else {
            report(TRACES_EXPORTER, "otlp", "could not start the export thread; OTLP export disabled");
            return None;
        };
        let built = match settings.protocol {
            OtlpProtocol::Grpc => {
                // tonic's channel spawns its worker on the current runtime: make it ours.
                let _entered = runtime.enter();
                let mut metadata = http::HeaderMap::new();
                for (name, value) in &settings.headers.0 {
                    metadata.append(name.clone(), value.clone());
                }
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(settings.endpoint.clone())
                    .with_timeout(settings.timeout)
                    .with_metadata(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(metadata))
                    .build()
            }
            protocol => {
                let headers: HashMap<String, String> = settings
                    .headers
                    .0
                    .iter()
                    .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                    .collect();
                let protocol =
                    if protocol == OtlpProtocol::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary };
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(settings.endpoint.clone())
                    .with_protocol(protocol)
                    .with_timeout(settings.timeout)
                    .with_headers(headers)
                    .build()
            }
        };
        match built {
            Ok(exporter) => Some(OnExportRuntime {
                inner: Arc::new(exporter),
                runtime,
                timeout: settings.timeout.min(self.batch.export_timeout),
            }),
            Err(error) => {
                report(OTLP_ENDPOINT, &settings.endpoint, format!("cannot build the OTLP exporter: {error}"));
                None
            }
        }
    }
}

fn dedup(list: Vec<TracesExporter>) -> Vec<TracesExporter> {
    let mut out = Vec::new();
    for exporter in list {
        if !out.contains(&exporter) {
            out.push(exporter);
        }
    }
    if out.len() > 1 {
        out.retain(|e| *e != TracesExporter::None);
    }
    out
}

fn exporters_from_env(env: &Env, endpoint_given: bool) -> Vec<TracesExporter> {
    let default = || vec![if endpoint_given { TracesExporter::Otlp } else { TracesExporter::Waterfall }];
    let Some(names) = env.list(TRACES_EXPORTER) else { return default() };
    let mut exporters = Vec::new();
    for name in &names {
        match name.to_ascii_lowercase().as_str() {
            "otlp" => exporters.push(TracesExporter::Otlp),
            "console" => exporters.push(TracesExporter::Waterfall),
            "none" if names.len() == 1 => return vec![TracesExporter::None],
            "none" => report(TRACES_EXPORTER, name, "`none` combined with other exporters; ignored"),
            "zipkin" | "jaeger" | "logging" => report(TRACES_EXPORTER, name, "not supported by this setup; skipped"),
            _ => report(TRACES_EXPORTER, name, "unknown exporter; skipped"),
        }
    }
    if exporters.is_empty() { default() } else { dedup(exporters) }
}

/// The first of `names` that is set (non-empty), with its name.
fn first_set(env: &Env, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|name| env.get(name).filter(|v| !v.trim().is_empty()).map(|v| (*name, v)))
}

fn protocol_from_env(env: &Env) -> OtlpProtocol {
    for name in [OTLP_TRACES_PROTOCOL, OTLP_PROTOCOL] {
        if let Some(value) = env.get(name).filter(|v| !v.trim().is_empty()) {
            match OtlpProtocol::parse(&value) {
                Some(protocol) => return protocol,
                None => report(name, &value, "expected grpc, http/protobuf or http/json"),
            }
        }
    }
    OtlpProtocol::HttpProtobuf
}

fn endpoint_from_env(env: &Env, protocol: OtlpProtocol) -> String {
    if let Some(value) = env.get(OTLP_TRACES_ENDPOINT).filter(|v| !v.trim().is_empty()) {
        match valid_endpoint(value.trim()) {
            Ok(()) => return value.trim().to_owned(),
            Err(reason) => report(OTLP_TRACES_ENDPOINT, &value, reason),
        }
    }
    if let Some(value) = env.get(OTLP_ENDPOINT).filter(|v| !v.trim().is_empty()) {
        match valid_endpoint(value.trim()) {
            Ok(()) if protocol.is_http() => return format!("{}/v1/traces", value.trim().trim_end_matches('/')),
            Ok(()) => return value.trim().to_owned(),
            Err(reason) => report(OTLP_ENDPOINT, &value, reason),
        }
    }
    if protocol.is_http() { "http://localhost:4318/v1/traces".to_owned() } else { "http://localhost:4317".to_owned() }
}

fn valid_endpoint(value: &str) -> Result<(), &'static str> {
    let uri: http::Uri = value.parse().map_err(|_| "not a valid URL")?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(()),
        (Some("https"), Some(_)) => Err("https needs TLS, which this build does not include"),
        _ => Err("expected http://host:port"),
    }
}

/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` if set, else `OTEL_EXPORTER_OTLP_HEADERS`. A malformed
/// pair is reported by its key only (the value is a secret) and skipped.
fn headers_from_env(env: &Env) -> SecretHeaders {
    let Some((name, value)) = first_set(env, &[OTLP_TRACES_HEADERS, OTLP_HEADERS]) else {
        return SecretHeaders::default();
    };
    let mut headers = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, secret)) = pair.split_once('=') else {
            report(name, "<redacted>", "a header without `=`");
            continue;
        };
        let key = key.trim();
        let shown = format!("{key}=<redacted>");
        let Some(header) = percent_decode(key).and_then(|k| http::HeaderName::from_bytes(k.as_bytes()).ok()) else {
            report(name, &shown, "invalid header name");
            continue;
        };
        let Some(value) = percent_decode(secret.trim()).and_then(|v| http::HeaderValue::from_str(&v).ok()) else {
            report(name, &shown, "invalid header value (not shown)");
            continue;
        };
        headers.push((header, value));
    }
    SecretHeaders(headers)
}

/// A whole number of milliseconds, positive. `names` in order of precedence.
fn millis(env: &Env, names: &[&'static str]) -> Option<Duration> {
    let (name, value) = first_set(env, names)?;
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            report(name, &value, "expected a positive number of milliseconds");
            // The next variable in line may still be valid.
            let rest: Vec<_> = names.iter().copied().filter(|n| *n != name).collect();
            millis(env, &rest)
        }
    }
}

fn count(env: &Env, name: &'static str) -> Option<usize> {
    let value = env.get(name).filter(|v| !v.trim().is_empty())?;
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            report(name, &value, "expected a positive whole number");
            None
        }
    }
}

fn batch_from_env(env: &Env) -> BatchSettings {
    let max_queue_size = count(env, BSP_MAX_QUEUE_SIZE).unwrap_or(2048);
    let mut max_export_batch_size = count(env, BSP_MAX_EXPORT_BATCH_SIZE).unwrap_or(512.min(max_queue_size));
    if max_export_batch_size > max_queue_size {
        report(
            BSP_MAX_EXPORT_BATCH_SIZE,
            &max_export_batch_size.to_string(),
            format!("larger than the queue ({max_queue_size}); using the queue size"),
        );
        max_export_batch_size = max_queue_size;
    }
    BatchSettings {
        schedule_delay: millis(env, &[BSP_SCHEDULE_DELAY]).unwrap_or(Duration::from_secs(5)),
        export_timeout: millis(env, &[BSP_EXPORT_TIMEOUT]).unwrap_or(Duration::from_secs(30)),
        max_queue_size,
        max_export_batch_size,
    }
}

/// One process-wide thread running a current-thread Tokio runtime, for OTLP exports. It lives
/// as long as the process; `None` if it could not start.
fn export_runtime() -> Option<tokio::runtime::Handle> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("otel-export".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .ok()?;
            Some(handle)
        })
        .clone()
}

/// Runs every export of `inner` on the export runtime, cut off at `timeout`.
#[derive(Debug)]
struct OnExportRuntime<E> {
    inner: Arc<E>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl<E: SpanExporter + 'static> SpanExporter for OnExportRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let inner = self.inner.clone();
        let timeout = self.timeout;
        let task = self.runtime.spawn(async move { tokio::time::timeout(timeout, inner.export(batch)).await });
        async move {
            match task.await {
                Ok(Ok(result)) => result,
                Ok(Err(_elapsed)) => Err(OTelSdkError::Timeout(timeout)),
                Err(join) => Err(OTelSdkError::InternalFailure(format!("export task failed: {join}"))),
            }
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once when the provider is built, before any export holds a clone.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reported_problems;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_fn(move |name| map.get(name).cloned())
    }

    fn plan(pairs: &[(&str, &str)]) -> ExporterPlan {
        ExporterPlan::resolve(None, None, None, &env(pairs))
    }

    fn reported(source: &str, value: &str) -> bool {
        reported_problems().iter().any(|p| p.source == source && p.value == value)
    }

    #[test]
    fn default_is_the_waterfall_and_an_endpoint_makes_it_otlp() {
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
            Some("http://code:4317".into()),
            Some(OtlpProtocol::Grpc),
            &env(&[(OTLP_ENDPOINT, "http://env:4318"), (TRACES_EXPORTER, "none")]),
        );
        assert_eq!(code.exporters, [TracesExporter::Otlp, TracesExporter::Waterfall]);
        assert_eq!(code.otlp.endpoint, "http://code:4317");
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
            (OTLP_ENDPOINT, "https://secure:4318"),
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
            (OTLP_ENDPOINT, "https://secure:4318"),
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
        let plan = ExporterPlan::resolve(None, None, None, &vars);
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
