//! Where an adapter's metrics go: the global meter provider unless told otherwise.

use opentelemetry::InstrumentationScope;
use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider};

/// The meter an adapter records its metrics with, chosen on its builder: the global meter
/// provider by default, a given provider, or none (`metrics(false)`).
///
/// Metrics are on by default: with a meter provider installed (by `otel_core::setup` or by the
/// application), every adapter records its conventions' metrics without further code. With none
/// installed, the adapter records nothing and does no metric work per request.
#[derive(Clone, Debug, Default)]
pub enum MeterSource {
    /// The global meter provider, when one is installed as the adapter is built.
    #[default]
    Global,
    /// The meter of a provider given to the builder.
    Given(Meter),
    /// No metrics.
    Off,
}

impl MeterSource {
    /// [`MeterSource::Global`] when `enabled`, else [`MeterSource::Off`]: the builders'
    /// `metrics(bool)`.
    pub fn enabled(enabled: bool) -> Self {
        if enabled { Self::Global } else { Self::Off }
    }

    /// `provider`'s meter for `scope`: the builders' `meter_provider(&provider)`.
    pub fn provider(provider: &impl MeterProvider, scope: InstrumentationScope) -> Self {
        Self::Given(provider.meter_with_scope(scope))
    }

    /// The meter to build the instruments on, or `None` when metrics are off or the global
    /// provider is the API's no-op one.
    pub fn meter(&self, scope: &InstrumentationScope) -> Option<Meter> {
        match self {
            Self::Global => global_meter_provider_installed().then(|| global::meter_with_scope(scope.clone())),
            Self::Given(meter) => Some(meter.clone()),
            Self::Off => None,
        }
    }

    /// Whether metrics were turned off.
    pub fn is_off(&self) -> bool {
        matches!(self, Self::Off)
    }
}

/// Whether a meter provider other than the API's no-op one is the global provider.
///
/// The API has no way to ask. The no-op provider is the only one without state (a zero-sized
/// type); every provider that records holds its pipeline, so its size is not zero.
pub fn global_meter_provider_installed() -> bool {
    std::mem::size_of_val(&*global::meter_provider()) != 0
}
