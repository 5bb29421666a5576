//! What applications use: one call from the standard `OTEL_*` variables to a working SDK
//! (resource, sampler, exporter, batching and propagation, with a guard that flushes on drop),
//! and beside it the rate-limiting sampler ([`sampling`]), log correlation ([`logs`]) and the
//! terminal waterfall ([`waterfall`]).
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
//! What it reads (an invalid value is reported once, naming the variable and the value, then
//! ignored), in addition to what [`resource`], [`sampler`], [`propagator`] and [`exporter`]
//! document:
//! - `OTEL_SDK_DISABLED`: `true` installs no tracer provider (spans are no-ops), but the
//!   propagator is still installed, so trace context passes through the service unchanged.
//!
//! When nothing is configured, spans go to the terminal waterfall ([`waterfall`]); when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, to OTLP.

pub mod exporter;
pub mod logs;
pub mod propagator;
pub mod resource;
pub mod sampler;
pub mod sampling;
pub mod waterfall;

pub use exporter::{OtlpProtocol, TracesExporter};

use crate::config::Env;
use crate::setup::waterfall::Waterfall;
use exporter::ExporterPlan;
use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, ShouldSample};
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
    otlp_endpoint: Option<String>,
    otlp_protocol: Option<OtlpProtocol>,
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
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("otlp_protocol", &self.otlp_protocol)
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

    /// The OTLP endpoint, replacing `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`. Used as given (for HTTP, include `/v1/traces`). Setting it
    /// makes OTLP the default exporter, as the environment variable does.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// The OTLP protocol, replacing `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp_protocol = Some(protocol);
        self
    }

    /// The terminal waterfall to print to when the exporter is the waterfall (the default, or
    /// `OTEL_TRACES_EXPORTER=console`). Give several providers the same one (a clone) and a
    /// distributed trace across them is printed once, whole. It does not choose the exporter.
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
    /// use otel_core::setup::Setup;
    /// use otel_core::setup::waterfall::Waterfall;
    ///
    /// let shared = Waterfall::new();
    /// let orders = Setup::new().service_name("orders").waterfall(shared.clone()).build_provider();
    /// let billing = Setup::new().service_name("billing").waterfall(shared).build_provider();
    /// # drop((orders, billing));
    /// ```
    pub fn build_provider(self) -> Option<SdkTracerProvider> {
        self.build_parts().map(|(provider, _)| provider)
    }

    fn build_parts(self) -> Option<(SdkTracerProvider, Duration)> {
        if self.is_disabled() {
            return None;
        }
        let env = &self.env;
        let resource = self.resource.build(env);
        let sampler = self.sampler.unwrap_or_else(|| sampler::from_env(env));
        let plan = ExporterPlan::resolve(self.exporters, self.otlp_endpoint, self.otlp_protocol, env);
        let shutdown_timeout = plan.shutdown_timeout();
        let mut builder = SdkTracerProvider::builder().with_resource(resource).with_sampler(sampler);
        for processor in plan.processors(self.waterfall) {
            builder = builder.with_span_processor(processor);
        }
        Some((builder.build(), shutdown_timeout))
    }

    /// Installs the propagator (always) and the tracer provider (unless disabled) globally, and
    /// returns the guard that flushes and shuts the provider down when dropped.
    pub fn install(self) -> TelemetryGuard {
        global::set_text_map_propagator(propagator::from_env(&self.env));
        match self.build_parts() {
            Some((provider, shutdown_timeout)) => {
                global::set_tracer_provider(provider.clone());
                TelemetryGuard { provider: Some(provider), shutdown_timeout }
            }
            None => TelemetryGuard { provider: None, shutdown_timeout: Duration::ZERO },
        }
    }
}

/// Flushes and shuts the tracer provider down when dropped.
///
/// The shutdown is bounded by the export timeout (plus a second), even when the collector is
/// unreachable, and it never waits on the application's Tokio runtime: exports run on their own
/// thread, so dropping the guard inside `#[tokio::main(flavor = "current_thread")]` is fine.
#[must_use = "dropping the guard shuts the tracer provider down: keep it until the end of main"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    shutdown_timeout: Duration,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("installed", &self.provider.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl TelemetryGuard {
    /// The installed provider; `None` when the SDK is disabled.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// How long shutting down may take at most.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Shuts down now and reports the result (dropping the guard does the same, silently).
    pub fn shutdown(mut self) -> OTelSdkResult {
        match self.provider.take() {
            Some(provider) => provider.shutdown_with_timeout(self.shutdown_timeout),
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown_with_timeout(self.shutdown_timeout);
        }
    }
}

#[cfg(test)]
mod tests;
