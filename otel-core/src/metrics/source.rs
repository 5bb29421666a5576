//! Where an adapter's metrics go: the global meter provider unless told otherwise.

use crate::global::GlobalInstruments;
use opentelemetry::InstrumentationScope;
use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider};
use std::fmt;

/// The meter an adapter records its metrics with, chosen on its builder: the global meter
/// provider by default, a given provider, or none (`metrics(false)`).
///
/// Metrics are on by default: with a meter provider installed (by `otel_core::setup` or by the
/// application, before or after the adapter is built), every adapter records its conventions'
/// metrics without further code. With none installed, the adapter records nothing and does no
/// metric work per operation.
#[derive(Clone, Debug, Default)]
pub enum MeterSource {
    /// The global meter provider, as installed when an operation records (see
    /// [`GlobalInstruments`]).
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

    /// The adapter's instruments, made by `build`: now on a given meter, or on the global
    /// provider's meter for `scope` whenever that provider changes.
    pub fn instruments<M>(
        self,
        scope: InstrumentationScope,
        build: impl Fn(&Meter) -> M + Send + Sync + 'static,
    ) -> Instruments<M> {
        match self {
            Self::Global => Instruments::Global(GlobalInstruments::new(scope, build)),
            Self::Given(meter) => Instruments::Given(build(&meter)),
            Self::Off => Instruments::Off,
        }
    }

    /// Whether metrics were turned off.
    pub fn is_off(&self) -> bool {
        matches!(self, Self::Off)
    }
}

/// An adapter's metric instruments (`M`: its metrics struct), made by
/// [`MeterSource::instruments`]. Every operation reaches them through [`with`](Self::with).
pub enum Instruments<M> {
    /// Built on the global meter provider, again whenever it changes.
    Global(GlobalInstruments<M>),
    /// Built once on a given meter.
    Given(M),
    /// Metrics are off.
    Off,
}

impl<M> Instruments<M> {
    /// Calls `f` with the instruments to record with now; `None`, without calling it, when
    /// metrics are off or no meter provider is installed.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&M) -> R) -> Option<R> {
        match self {
            Self::Global(global) => global.with(f),
            Self::Given(instruments) => Some(f(instruments)),
            Self::Off => None,
        }
    }

    /// Whether an operation starting now records metrics.
    #[inline]
    pub fn active(&self) -> bool {
        self.with(|_| ()).is_some()
    }
}

impl<M: Clone> Clone for Instruments<M> {
    fn clone(&self) -> Self {
        match self {
            Self::Global(global) => Self::Global(global.clone()),
            Self::Given(instruments) => Self::Given(instruments.clone()),
            Self::Off => Self::Off,
        }
    }
}

impl<M> fmt::Debug for Instruments<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global(global) => global.fmt(f),
            Self::Given(_) => f.write_str("Given"),
            Self::Off => f.write_str("Off"),
        }
    }
}

/// Whether a meter provider other than the API's no-op one is the global provider.
pub fn global_meter_provider_installed() -> bool {
    records(&*global::meter_provider())
}

/// Whether `provider` records: the API has no way to ask. The no-op provider is the only one
/// without state (a zero-sized type); every provider that records holds its pipeline, so its size
/// is not zero.
pub(crate) fn records(provider: &(dyn MeterProvider + Send + Sync)) -> bool {
    std::mem::size_of_val(provider) != 0
}
