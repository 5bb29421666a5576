//! How each signal reaches the collector over OTLP: the `OTEL_EXPORTER_OTLP_*` variables, read
//! the same way for traces, metrics and logs, and the export thread every OTLP exporter runs on.
//!
//! For each signal (`TRACES`, `METRICS`, `LOGS`), the signal's own variable wins over the general
//! one:
//! - `OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (for
//!   HTTP, `/v1/traces`, `/v1/metrics` or `/v1/logs` is appended). Default
//!   `http://localhost:4318/v1/{signal}` for HTTP, `http://localhost:4317` for gRPC.
//! - `OTEL_EXPORTER_OTLP_({SIGNAL}_)PROTOCOL`: `http/protobuf` (default), `grpc`, `http/json`.
//! - `OTEL_EXPORTER_OTLP_({SIGNAL}_)HEADERS`: `key=value` pairs, percent-encoded. Values are
//!   secrets: they never appear in a report, a log or a `Debug` output.
//! - `OTEL_EXPORTER_OTLP_({SIGNAL}_)TIMEOUT`: milliseconds per export (default 10000).
//! - An `https://` endpoint is reached over TLS, verified with the system's trust store or
//!   `OTEL_EXPORTER_OTLP_({SIGNAL}_)CERTIFICATE`, with a client certificate when
//!   `OTEL_EXPORTER_OTLP_({SIGNAL}_)CLIENT_CERTIFICATE` and `..._CLIENT_KEY` are set ([`super::tls`]).
//!
//! OTLP exports run on a small runtime of their own (one thread for the process), never on the
//! application's: so they work from the SDK's batch and periodic threads, and shutting down
//! cannot deadlock on a current-thread runtime.

use crate::config::{Env, report};
use crate::semconv::http::percent_decode;
use crate::setup::tls::{TlsFiles, TlsVariables};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of the collector (`/v1/{signal}` appended for HTTP).
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, `grpc` or `http/json`.
pub const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs sent with every export (secret values).
pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds an export may take.
pub const OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";

const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// One of the three signals, with the names of its variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Signal {
    /// `OTEL_{SIGNAL}_EXPORTER`.
    pub(crate) exporter: &'static str,
    /// The path appended to the general endpoint for HTTP.
    path: &'static str,
    endpoint: &'static str,
    protocol: &'static str,
    headers: &'static str,
    timeout: &'static str,
    tls: TlsVariables,
}

impl Signal {
    pub(crate) const TRACES: Signal = Signal {
        exporter: "OTEL_TRACES_EXPORTER",
        path: "/v1/traces",
        endpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        protocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        headers: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        timeout: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        tls: TlsVariables {
            certificate: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            client_certificate: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            client_key: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        },
    };
    pub(crate) const METRICS: Signal = Signal {
        exporter: "OTEL_METRICS_EXPORTER",
        path: "/v1/metrics",
        endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        protocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        headers: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        timeout: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        tls: TlsVariables {
            certificate: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            client_certificate: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
            client_key: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
        },
    };
    pub(crate) const LOGS: Signal = Signal {
        exporter: "OTEL_LOGS_EXPORTER",
        path: "/v1/logs",
        endpoint: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        protocol: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        headers: "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        timeout: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        tls: TlsVariables {
            certificate: "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
            client_certificate: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
            client_key: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
        },
    };

    /// Whether an endpoint for this signal is set (its own or the general one).
    pub(crate) fn endpoint_set(self, env: &Env) -> bool {
        first_set(env, &[self.endpoint, OTLP_ENDPOINT]).is_some()
    }
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
pub(crate) struct SecretHeaders(pub(crate) Vec<(http::HeaderName, http::HeaderValue)>);

impl fmt::Debug for SecretHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(name, _)| (name.as_str(), "<redacted>"))).finish()
    }
}

/// How one signal reaches the collector.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OtlpSettings {
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) headers: SecretHeaders,
    pub(crate) timeout: Duration,
    pub(crate) tls: Tls,
}

/// How the connection to the collector is secured.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tls {
    /// `http://`.
    Plain,
    /// `https://`, with these files.
    Secure(TlsFiles),
    /// `https://`, but a TLS file could not be used (reported): no exporter.
    Unusable,
}

/// What code set for every signal: a base endpoint and a protocol.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtlpCode {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<OtlpProtocol>,
}

impl OtlpSettings {
    /// The settings of `signal`: code first, then the signal's variables, then the general ones.
    pub(crate) fn resolve(signal: Signal, code: &OtlpCode, env: &Env) -> Self {
        let protocol = code.protocol.unwrap_or_else(|| protocol_from_env(signal, env));
        let endpoint = match &code.endpoint {
            Some(base) => signal_endpoint(base, signal, protocol),
            None => endpoint_from_env(signal, env, protocol),
        };
        let tls = match endpoint.starts_with("https://") {
            false => Tls::Plain,
            true => TlsFiles::from_env(signal.tls, env).map_or(Tls::Unusable, Tls::Secure),
        };
        Self {
            endpoint,
            protocol,
            headers: headers_from_env(signal, env),
            timeout: millis(env, &[signal.timeout, OTLP_TIMEOUT]).unwrap_or(DEFAULT_OTLP_TIMEOUT),
            tls,
        }
    }

    /// The span exporter, on the export thread; `None` (reported) when it cannot be built.
    pub(crate) fn span_exporter(&self, cutoff: Duration) -> Option<OnExportRuntime<opentelemetry_otlp::SpanExporter>> {
        self.build(cutoff, |builder| match builder {
            Transport::Grpc(b, tls) => {
                opentelemetry_otlp::SpanExporter::builder().with_tonic().with_grpc(b, tls).build()
            }
            Transport::Http(b, client) => {
                opentelemetry_otlp::SpanExporter::builder().with_http().with_http_settings(b, client).build()
            }
        })
    }

    /// The metric exporter (with `temporality`), on the export thread.
    pub(crate) fn metric_exporter(
        &self,
        temporality: Temporality,
        cutoff: Duration,
    ) -> Option<OnExportRuntime<opentelemetry_otlp::MetricExporter>> {
        self.build(cutoff, |builder| match builder {
            Transport::Grpc(b, tls) => opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_temporality(temporality)
                .with_grpc(b, tls)
                .build(),
            Transport::Http(b, client) => opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_temporality(temporality)
                .with_http_settings(b, client)
                .build(),
        })
    }

    /// The log exporter, on the export thread.
    pub(crate) fn log_exporter(&self, cutoff: Duration) -> Option<OnExportRuntime<opentelemetry_otlp::LogExporter>> {
        self.build(cutoff, |builder| match builder {
            Transport::Grpc(b, tls) => {
                opentelemetry_otlp::LogExporter::builder().with_tonic().with_grpc(b, tls).build()
            }
            Transport::Http(b, client) => {
                opentelemetry_otlp::LogExporter::builder().with_http().with_http_settings(b, client).build()
            }
        })
    }

    fn build<E>(
        &self,
        cutoff: Duration,
        build: impl FnOnce(Transport<'_>) -> Result<E, opentelemetry_otlp::ExporterBuildError>,
    ) -> Option<OnExportRuntime<E>> {
        let Some(runtime) = export_runtime() else {
            report(OTLP_ENDPOINT, &self.endpoint, "could not start the export thread; OTLP export disabled");
            return None;
        };
        let tls = match &self.tls {
            Tls::Plain => None,
            Tls::Secure(files) => Some(files),
            Tls::Unusable => return None,
        };
        let built = if self.protocol.is_http() {
            let client = match tls.map(|files| files.rustls_config()) {
                None => None,
                Some(Ok(config)) => {
                    let connector = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(config)
                        .https_only()
                        .enable_http1()
                        .build();
                    Some(Box::new(opentelemetry_http::hyper::HyperClient::new(connector, self.timeout, None)))
                }
                Some(Err(reason)) => {
                    report(OTLP_ENDPOINT, &self.endpoint, format!("cannot set up TLS: {reason}"));
                    return None;
                }
            };
            build(Transport::Http(self, client))
        } else {
            // tonic's channel spawns its worker on the current runtime: make it ours.
            let _entered = runtime.enter();
            let tls = tls.map(|files| files.tonic_config(&host_of(&self.endpoint)));
            build(Transport::Grpc(self, tls))
        };
        match built {
            Ok(exporter) => {
                Some(OnExportRuntime { inner: Arc::new(exporter), runtime, timeout: self.timeout.min(cutoff) })
            }
            Err(error) => {
                report(OTLP_ENDPOINT, &self.endpoint, format!("cannot build the OTLP exporter: {error}"));
                None
            }
        }
    }

    fn metadata(&self) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers.0 {
            headers.append(name.clone(), value.clone());
        }
        opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers)
    }

    fn http_headers(&self) -> HashMap<String, String> {
        self.headers
            .0
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect()
    }
}

/// The host of an endpoint URL, the name its TLS certificate must carry.
fn host_of(endpoint: &str) -> String {
    endpoint.parse::<http::Uri>().ok().and_then(|uri| uri.host().map(str::to_owned)).unwrap_or_default()
}

/// An HTTP client for `https://` collectors.
type HttpsClient = opentelemetry_http::hyper::HyperClient<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

/// The settings a builder of either transport is given, with its TLS client when `https://`.
enum Transport<'a> {
    Grpc(&'a OtlpSettings, Option<opentelemetry_otlp::tonic_types::transport::ClientTlsConfig>),
    Http(&'a OtlpSettings, Option<Box<HttpsClient>>),
}

/// Applies the gRPC settings to any of opentelemetry-otlp's tonic builders.
trait GrpcSettings: WithExportConfig + WithTonicConfig + Sized {
    fn with_grpc(
        self,
        settings: &OtlpSettings,
        tls: Option<opentelemetry_otlp::tonic_types::transport::ClientTlsConfig>,
    ) -> Self {
        let builder = self
            .with_endpoint(settings.endpoint.clone())
            .with_timeout(settings.timeout)
            .with_metadata(settings.metadata());
        match tls {
            Some(tls) => builder.with_tls_config(tls),
            None => builder,
        }
    }
}

impl<T: WithExportConfig + WithTonicConfig> GrpcSettings for T {}

/// Applies the HTTP settings to any of opentelemetry-otlp's HTTP builders.
trait HttpSettings: WithExportConfig + WithHttpConfig + Sized {
    fn with_http_settings(self, settings: &OtlpSettings, client: Option<Box<HttpsClient>>) -> Self {
        let protocol =
            if settings.protocol == OtlpProtocol::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary };
        let builder = self
            .with_endpoint(settings.endpoint.clone())
            .with_protocol(protocol)
            .with_timeout(settings.timeout)
            .with_headers(settings.http_headers());
        match client {
            Some(client) => builder.with_http_client(*client),
            None => builder,
        }
    }
}

impl<T: WithExportConfig + WithHttpConfig> HttpSettings for T {}

/// The first of `names` that is set (non-empty), with its name.
pub(crate) fn first_set(env: &Env, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|name| env.get(name).filter(|v| !v.trim().is_empty()).map(|v| (*name, v)))
}

fn protocol_from_env(signal: Signal, env: &Env) -> OtlpProtocol {
    for name in [signal.protocol, OTLP_PROTOCOL] {
        if let Some(value) = env.get(name).filter(|v| !v.trim().is_empty()) {
            match OtlpProtocol::parse(&value) {
                Some(protocol) => return protocol,
                None => report(name, &value, "expected grpc, http/protobuf or http/json"),
            }
        }
    }
    OtlpProtocol::HttpProtobuf
}

/// The endpoint of `signal` from a base URL: for HTTP the signal's path is appended.
fn signal_endpoint(base: &str, signal: Signal, protocol: OtlpProtocol) -> String {
    let base = base.trim();
    if protocol.is_http() { format!("{}{}", base.trim_end_matches('/'), signal.path) } else { base.to_owned() }
}

fn endpoint_from_env(signal: Signal, env: &Env, protocol: OtlpProtocol) -> String {
    if let Some(value) = env.get(signal.endpoint).filter(|v| !v.trim().is_empty()) {
        match valid_endpoint(value.trim()) {
            Ok(()) => return value.trim().to_owned(),
            Err(reason) => report(signal.endpoint, &value, reason),
        }
    }
    if let Some(value) = env.get(OTLP_ENDPOINT).filter(|v| !v.trim().is_empty()) {
        match valid_endpoint(value.trim()) {
            Ok(()) => return signal_endpoint(&value, signal, protocol),
            Err(reason) => report(OTLP_ENDPOINT, &value, reason),
        }
    }
    let base = if protocol.is_http() { "http://localhost:4318" } else { "http://localhost:4317" };
    signal_endpoint(base, signal, protocol)
}

fn valid_endpoint(value: &str) -> Result<(), &'static str> {
    let uri: http::Uri = value.parse().map_err(|_| "not a valid URL")?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err("expected http://host:port or https://host:port"),
    }
}

/// The signal's headers variable if set, else `OTEL_EXPORTER_OTLP_HEADERS`. A malformed pair is
/// reported by its key only (the value is a secret) and skipped.
fn headers_from_env(signal: Signal, env: &Env) -> SecretHeaders {
    let Some((name, value)) = first_set(env, &[signal.headers, OTLP_HEADERS]) else {
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
pub(crate) fn millis(env: &Env, names: &[&'static str]) -> Option<Duration> {
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

/// A positive whole number.
pub(crate) fn count(env: &Env, name: &'static str) -> Option<usize> {
    let value = env.get(name).filter(|v| !v.trim().is_empty())?;
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            report(name, &value, "expected a positive whole number");
            None
        }
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
///
/// Spans arrive owned, so their export is spawned there; metrics and log batches are borrowed,
/// so their export is driven from the SDK's own export thread with the runtime's IO and timers
/// (`Handle::block_on`: that thread is never a Tokio worker).
#[derive(Debug)]
pub(crate) struct OnExportRuntime<E> {
    inner: Arc<E>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl<E> OnExportRuntime<E> {
    /// Runs `export` to its end or to the timeout, on the calling (SDK export) thread.
    fn block_on<F: Future<Output = OTelSdkResult> + Send>(&self, export: F) -> OTelSdkResult {
        let (runtime, timeout) = (&self.runtime, self.timeout);
        let run = move || match runtime.block_on(async { tokio::time::timeout(timeout, export).await }) {
            Ok(result) => result,
            Err(_elapsed) => Err(OTelSdkError::Timeout(timeout)),
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return run();
        }
        // Called on a Tokio thread after all (not by the SDK's own threads), where blocking on
        // a runtime would panic: block a helper thread instead.
        std::thread::scope(|scope| scope.spawn(run).join())
            .unwrap_or_else(|_| Err(OTelSdkError::InternalFailure("the export panicked".into())))
    }
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
            SpanExporter::set_resource(inner, resource);
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for OnExportRuntime<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let result = self.block_on(self.inner.export(metrics));
        std::future::ready(result)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl<E: LogExporter> LogExporter for OnExportRuntime<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let result = self.block_on(self.inner.export(batch));
        std::future::ready(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            LogExporter::set_resource(inner, resource);
        }
    }
}
