//! The global providers, followed: an adapter given no tracer or meter provider uses the global
//! one as installed *now*, not the one installed when the adapter was built.
//!
//! `opentelemetry::global` keeps its providers behind locks and says nothing when they change, so
//! the adapters keep what they resolved and resolve again only when they must:
//! - [`GlobalTracer`] while the tracer it has is not usable: the no-op one (nothing installed
//!   yet) or a provider that was shut down. A span tells: a working SDK gives every span a new
//!   span id, even one its sampler drops; the no-op tracer returns the parent's context, or none;
//! - [`GlobalInstruments`] (an adapter's metric instruments) when a tracer provider is resolved
//!   anew by any [`GlobalTracer`]: applications install their tracer and meter providers
//!   together, so the first span after an installation tells the instruments to look again;
//! - both when a provider is installed through [`set_tracer_provider`] or [`set_meter_provider`]
//!   (which `setup` uses): each bumps a generation number that the adapters compare on every
//!   operation.
//!
//! Between those events an operation takes no lock: it compares a generation and reads what was
//! resolved. Not noticed, because noticing would need the global lock on every operation: a
//! provider installed with `opentelemetry::global` in place of another that keeps running, and a
//! meter provider installed with `opentelemetry::global` after the tracer provider was already in
//! use (or in a process that installs none). Install those with this module's functions.

mod meter;
mod tracer;

pub use meter::GlobalInstruments;
pub use tracer::GlobalTracer;

use opentelemetry::global;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Tracer, TracerProvider};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped by [`set_tracer_provider`]: a [`GlobalTracer`] holding an older tracer resolves again.
static TRACER_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Bumped by [`set_meter_provider`], [`set_tracer_provider`] and a [`GlobalTracer`] that resolved
/// a tracer: [`GlobalInstruments`] resolved in an older generation look at the global meter
/// provider again.
static METER_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Installs `provider` as the global tracer provider (`opentelemetry::global::set_tracer_provider`)
/// and makes every [`GlobalTracer`] take it for its next span, even if the provider it replaces is
/// still running.
pub fn set_tracer_provider<P>(provider: P)
where
    P: TracerProvider + Send + Sync + 'static,
    P::Tracer: Send + Sync + 'static,
    <P::Tracer as Tracer>::Span: Send + Sync + 'static,
{
    global::set_tracer_provider(provider);
    TRACER_GENERATION.fetch_add(1, Ordering::Release);
    METER_GENERATION.fetch_add(1, Ordering::Release);
}

/// Installs `provider` as the global meter provider (`opentelemetry::global::set_meter_provider`)
/// and makes every adapter's [`GlobalInstruments`] record with it from its next operation, even
/// if the provider it replaces is still running.
pub fn set_meter_provider<P>(provider: P)
where
    P: MeterProvider + Send + Sync + 'static,
{
    global::set_meter_provider(provider);
    METER_GENERATION.fetch_add(1, Ordering::Release);
}

/// A [`GlobalTracer`] resolved a tracer: a provider was installed, probably with the meter
/// provider beside it.
fn tracer_resolved() {
    METER_GENERATION.fetch_add(1, Ordering::Release);
}
