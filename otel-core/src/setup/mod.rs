//! What applications use: one call from the standard `OTEL_*` variables to a working SDK for
//! the three signals (a tracer, a meter and a logger provider: resource, sampler, exporters,
//! batching and propagation, with one guard that flushes them on drop), and beside it the
//! rate-limiting sampler ([`sampling`]), trace ids in log lines ([`logs`]) and the terminal
//! waterfall ([`waterfall`]).
//!
//! Assembling the SDK by hand takes six crates and gets subtle things wrong (the order of
//! `service.name` sources, a shutdown that deadlocks on a current-thread runtime, an exporter
//! that needs a Tokio runtime on the batch thread). This module does it once:
//!
//! ```no_run
//! let _guard = otel_core::setup::init(); // keep it alive until the end of `main`
//! ```
//!
//! or, with settings from code (code wins over the environment):
//!
//! ```no_run
//! use otel_core::setup::Setup;
//! use otel_core::setup::sampling::RateLimitingSampler;
//! use opentelemetry_sdk::trace::Sampler;
//!
//! let _guard = Setup::new()
//!     .service_name("checkout")
//!     .service_version(env!("CARGO_PKG_VERSION"))
//!     .sampler(Sampler::ParentBased(Box::new(RateLimitingSampler::new(20.0))))
//!     .install();
//! ```
//!
//! Log records need one more line, the `tracing` layer that turns events into records:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let guard = otel_core::setup::init();
//! tracing_subscriber::registry()
//!     .with(otel_core::setup::logs::text_layer()) // log lines, with trace ids
//!     .with(guard.log_layer()) // log records to the collector (`None` when logs are off)
//!     .init();
//! ```
//!
//! What it reads (an invalid value is reported once, naming the variable and the value, then
//! ignored), in addition to what [`resource`], [`sampler`], [`propagator`], [`exporter`],
//! [`otlp`], [`metric_export`] and [`log_export`] document:
//! - `OTEL_SDK_DISABLED`: `true` installs no provider at all (spans, metrics and log records are
//!   no-ops), but the propagator is still installed, so trace context passes through the service
//!   unchanged.
//!
//! Where each signal goes by default: OTLP (`http://localhost:4318`), as the specification says;
//! except when the program runs on a terminal and no OTLP endpoint is set, where spans go to the
//! terminal waterfall ([`waterfall`]) and metrics and log records nowhere ([`exporter`]).

pub mod exporter;
pub mod log_export;
pub mod logs;
pub mod metric_export;
pub mod otlp;
pub mod propagator;
pub mod resource;
pub mod sampler;
pub mod sampling;
pub mod tls;
pub mod waterfall;

pub use exporter::TracesExporter;
pub use log_export::{LogLayer, LogsExporter};
pub use metric_export::MetricsExporter;
pub use otlp::OtlpProtocol;

use crate::config::Env;
use crate::setup::waterfall::Waterfall;
use exporter::ExporterPlan;
use log_export::LogsPlan;
use metric_export::MetricsPlan;
use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, ShouldSample};
use otlp::OtlpCode;
use resource::ResourceSettings;
use std::fmt;
use std::time::Duration;

/// `OTEL_SDK_DISABLED`: `true` disables the SDK (propagation still works).
pub const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// Installs the SDK from the environment alone: [`Setup::new`]`.install()`.
///
/// Keep the guard until the end of `main`: dropping it flushes and shuts down.
pub fn init() -> TelemetryGuard {
    Setup::new().install()
}

/// Builds the SDK from code and from the environment; code wins.
#[derive(Default)]
pub struct Setup {
    resource: ResourceSettings,
    sampler: Option<Box<dyn ShouldSample>>,
    exporters: Option<Vec<TracesExporter>>,
    default_exporter: Option<TracesExporter>,
    metrics_exporters: Option<Vec<MetricsExporter>>,
    logs_exporters: Option<Vec<LogsExporter>>,
    otlp: OtlpCode,
    waterfall: Option<Waterfall>,
    disabled: Option<bool>,
    env: Env,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("exporters", &self.exporters)
            .field("default_exporter", &self.default_exporter)
            .field("metrics_exporters", &self.metrics_exporters)
            .field("logs_exporters", &self.logs_exporters)
            .field("otlp", &self.otlp)
            .field("waterfall", &self.waterfall)
            .field("disabled", &self.disabled)
            .field("env", &self.env)
            .finish()
    }
}

impl Setup {
    /// A setup that takes everything from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// `service.name`; wins over `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.resource.service_name = Some(name.into());
        self
    }

    /// `service.version`; wins over `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.resource.service_version = Some(version.into());
        self
    }

    /// `deployment.environment.name` (`production`, `staging`); wins over
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn deployment_environment(mut self, environment: impl Into<String>) -> Self {
        self.resource.deployment_environment = Some(environment.into());
        self
    }

    /// Any other resource attribute; wins over the same key in `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn resource_attribute(mut self, attribute: KeyValue) -> Self {
        self.resource.attributes.push(attribute);
        self
    }

    /// The sampler, replacing `OTEL_TRACES_SAMPLER`. Any `ShouldSample`, for example
    /// `Sampler::ParentBased(Box::new(RateLimitingSampler::new(10.0)))`.
    pub fn sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// Where spans go, replacing `OTEL_TRACES_EXPORTER`. Call it again to add another
    /// destination; [`TracesExporter::None`] alone sends spans nowhere.
    pub fn exporter(mut self, exporter: TracesExporter) -> Self {
        self.exporters.get_or_insert_with(Vec::new).push(exporter);
        self
    }

    /// Where spans go when nothing chooses (no [`Setup::exporter`], no `OTEL_TRACES_EXPORTER`,
    /// no OTLP endpoint in code or in the environment), instead of OTLP (or the waterfall on a
    /// terminal). For demos and examples: `default_exporter(TracesExporter::Waterfall)` prints
    /// traces wherever they run, and an endpoint still sends them to a collector.
    pub fn default_exporter(mut self, exporter: TracesExporter) -> Self {
        self.default_exporter = Some(exporter);
        self
    }

    /// Where metrics go, replacing `OTEL_METRICS_EXPORTER`. Call it again to add another
    /// destination; [`MetricsExporter::None`] alone installs no meter provider.
    pub fn metrics_exporter(mut self, exporter: MetricsExporter) -> Self {
        self.metrics_exporters.get_or_insert_with(Vec::new).push(exporter);
        self
    }

    /// Where log records go, replacing `OTEL_LOGS_EXPORTER`. Call it again to add another
    /// destination; [`LogsExporter::None`] alone installs no logger provider.
    pub fn logs_exporter(mut self, exporter: LogsExporter) -> Self {
        self.logs_exporters.get_or_insert_with(Vec::new).push(exporter);
        self
    }

    /// The collector's base URL for every signal, replacing the `OTEL_EXPORTER_OTLP_*ENDPOINT`
    /// variables: as `OTEL_EXPORTER_OTLP_ENDPOINT`, for HTTP the signal's path (`/v1/traces`,
    /// `/v1/metrics`, `/v1/logs`) is appended. Setting it makes OTLP the default exporter of each
    /// signal, also on a terminal.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp.endpoint = Some(endpoint.into());
        self
    }

    /// The OTLP protocol of every signal, replacing `OTEL_EXPORTER_OTLP_(*_)PROTOCOL`.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp.protocol = Some(protocol);
        self
    }

    /// The terminal waterfall to print to when the exporter is the waterfall (the default on a
    /// terminal, `OTEL_TRACES_EXPORTER=console`, or [`TracesExporter::Waterfall`]). Give several
    /// providers the same one (a clone) and a distributed trace across them is printed once,
    /// whole. It does not choose the exporter.
    pub fn waterfall(mut self, waterfall: Waterfall) -> Self {
        self.waterfall = Some(waterfall);
        self
    }

    /// Disables (or enables) the SDK, replacing `OTEL_SDK_DISABLED`.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Reads settings through `lookup` instead of the process environment (tests, or settings
    /// kept elsewhere).
    ///
    /// The OTLP exporter crate still adds `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` and
    /// `OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION` from the process environment on its own.
    pub fn environment(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Env::from_fn(lookup);
        self
    }

    /// Whether the SDK is disabled (code, else `OTEL_SDK_DISABLED=true`).
    fn is_disabled(&self) -> bool {
        self.disabled.unwrap_or_else(|| self.env.bool(SDK_DISABLED).unwrap_or(false))
    }

    /// Builds a tracer provider without installing anything globally: for applications that run
    /// several services in one process (one provider each, sharing a [`Waterfall`]), or that
    /// install it themselves. `None` when the SDK is disabled.
    ///
    /// ```
    /// use otel_core::setup::{Setup, TracesExporter};
    /// use otel_core::setup::waterfall::Waterfall;
    ///
    /// let shared = Waterfall::new();
    /// let service = |name: &str, waterfall: Waterfall| {
    ///     Setup::new().service_name(name).exporter(TracesExporter::Waterfall).waterfall(waterfall).build_provider()
    /// };
    /// let (orders, billing) = (service("orders", shared.clone()), service("billing", shared));
    /// # drop((orders, billing));
    /// ```
    pub fn build_provider(self) -> Option<SdkTracerProvider> {
        let traces_only = Self {
            metrics_exporters: Some(vec![MetricsExporter::None]),
            logs_exporters: Some(vec![LogsExporter::None]),
            ..self
        };
        traces_only.build_guard().tracer_provider.take()
    }

    /// The three providers (those whose signal goes somewhere), not installed.
    fn build_guard(self) -> TelemetryGuard {
        if self.is_disabled() {
            return TelemetryGuard::default();
        }
        let env = &self.env;
        let on_terminal = exporter::on_terminal();
        let resource = self.resource.build(env);
        let sampler = self.sampler.unwrap_or_else(|| sampler::from_env(env));

        let traces = ExporterPlan::resolve(self.exporters, self.default_exporter, &self.otlp, env, on_terminal);
        let mut builder = SdkTracerProvider::builder().with_resource(resource.clone()).with_sampler(sampler);
        for processor in traces.processors(self.waterfall) {
            builder = builder.with_span_processor(processor);
        }
        let metrics = MetricsPlan::resolve(self.metrics_exporters, &self.otlp, env, on_terminal);
        let logs = LogsPlan::resolve(self.logs_exporters, &self.otlp, env, on_terminal);
        TelemetryGuard {
            tracer_provider: Some(builder.build()),
            meter_provider: metrics.provider(resource.clone()),
            logger_provider: logs.provider(resource),
            shutdown_timeout: [traces.shutdown_timeout(), metrics.shutdown_timeout(), logs.shutdown_timeout()]
                .into_iter()
                .max()
                .unwrap_or_default(),
        }
    }

    /// Runs every `OTEL_*` parser of the setup on this setup's environment and builds nothing
    /// (no exporter, no provider, no global): the entry point of the `env` fuzz target.
    #[cfg(fuzzing)]
    pub(crate) fn parse_environment(&self) {
        let env = &self.env;
        let _ = self.is_disabled();
        let _ = sampler::from_env(env);
        let _ = propagator::from_env(env);
        if let Some(value) = env.get(resource::RESOURCE_ATTRIBUTES) {
            let _ = resource::parse_attributes(&value);
        }
        for on_terminal in [false, true] {
            let traces = ExporterPlan::resolve(None, None, &self.otlp, env, on_terminal);
            let metrics = MetricsPlan::resolve(None, &self.otlp, env, on_terminal);
            let logs = LogsPlan::resolve(None, &self.otlp, env, on_terminal);
            let _ = [traces.shutdown_timeout(), metrics.shutdown_timeout(), logs.shutdown_timeout()];
        }
    }

    /// Installs the propagator (always), and the tracer and meter providers (unless disabled, or
    /// the signal goes nowhere) globally, and returns the guard that flushes and shuts the
    /// providers down when dropped. The logger provider is the guard's: add
    /// [`TelemetryGuard::log_layer`] to the `tracing` subscriber.
    pub fn install(self) -> TelemetryGuard {
        global::set_text_map_propagator(propagator::from_env(&self.env));
        let guard = self.build_guard();
        if let Some(provider) = &guard.tracer_provider {
            crate::global::set_tracer_provider(provider.clone());
        }
        if let Some(provider) = &guard.meter_provider {
            crate::global::set_meter_provider(provider.clone());
        }
        guard
    }
}

/// Flushes and shuts the providers down when dropped.
///
/// The shutdown returns within [`TelemetryGuard::shutdown_timeout`]: the longest export timeout
/// of the three signals plus a second, even when the collector is unreachable or never answers.
/// The providers shut down side by side; one still busy at the deadline finishes on its own
/// thread. It never waits on the application's Tokio
/// runtime: exports run on their own thread, so dropping the guard inside
/// `#[tokio::main(flavor = "current_thread")]` is fine.
#[must_use = "dropping the guard shuts the providers down: keep it until the end of main"]
#[derive(Default)]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    shutdown_timeout: Duration,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("traces", &self.tracer_provider.is_some())
            .field("metrics", &self.meter_provider.is_some())
            .field("logs", &self.logger_provider.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl TelemetryGuard {
    /// The installed tracer provider; `None` when the SDK is disabled.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// The installed meter provider; `None` when the SDK is disabled or metrics go nowhere.
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.meter_provider.as_ref()
    }

    /// The logger provider; `None` when the SDK is disabled or log records go nowhere.
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logger_provider.as_ref()
    }

    /// The `tracing` layer that turns events into log records of the logger provider, carrying
    /// the current trace and span ids; `None` (a layer that does nothing) when there is no
    /// logger provider.
    pub fn log_layer(&self) -> Option<LogLayer> {
        self.logger_provider.as_ref().map(LogLayer::new)
    }

    /// How long shutting down may take at most.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Flushes and shuts down now and reports the first failure (dropping the guard does the
    /// same, silently).
    pub fn shutdown(mut self) -> OTelSdkResult {
        self.shutdown_all()
    }

    /// Shuts the three providers down side by side and waits for them until the deadline, not
    /// longer: the SDK's metric reader waits on its own clock (a fixed 5 s, and an export in
    /// flight first), so a provider still shutting down at the deadline is left to finish on
    /// its thread while the application goes on.
    fn shutdown_all(&mut self) -> OTelSdkResult {
        let timeout = self.shutdown_timeout;
        let deadline = std::time::Instant::now() + timeout;
        let (results, received) = std::sync::mpsc::channel();
        let mut pending = 0;
        let mut spawn = |shutdown: Box<dyn FnOnce() -> OTelSdkResult + Send>| {
            let results = results.clone();
            let spawned = std::thread::Builder::new().name("otel-shutdown".into()).spawn(move || {
                let _ = results.send(shutdown());
            });
            // No thread to spare: the provider, dropped with the closure, shuts down on its own.
            if spawned.is_ok() {
                pending += 1;
            }
        };
        if let Some(provider) = self.tracer_provider.take() {
            spawn(Box::new(move || provider.shutdown_with_timeout(timeout)));
        }
        if let Some(provider) = self.meter_provider.take() {
            spawn(Box::new(move || provider.shutdown_with_timeout(timeout)));
        }
        if let Some(provider) = self.logger_provider.take() {
            spawn(Box::new(move || provider.shutdown_with_timeout(timeout)));
        }
        let mut outcome = Ok(());
        for _ in 0..pending {
            match received.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(result) => outcome = outcome.and(result),
                Err(_) => return Err(opentelemetry_sdk::error::OTelSdkError::Timeout(timeout)),
            }
        }
        outcome
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.shutdown_all();
    }
}

#[cfg(test)]
mod tests;
