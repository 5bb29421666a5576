//! [`GlobalInstruments`]: an adapter's metric instruments on the global meter provider, built
//! again only when that provider changes.

use super::METER_GENERATION;
use opentelemetry::InstrumentationScope;
use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

type Provider = dyn MeterProvider + Send + Sync;

/// An adapter's instruments (`M`: its metrics struct), built on the global meter provider as
/// installed when each operation records (see the [module](super) for when it looks again).
/// While no meter provider is installed there are none, and the adapter does no metric work.
/// Clones share what they built.
pub struct GlobalInstruments<M>(Arc<Inner<M>>);

struct Inner<M> {
    scope: InstrumentationScope,
    build: Box<dyn Fn(&Meter) -> M + Send + Sync>,
    resolved: arc_swap::ArcSwap<Resolved<M>>,
    /// The generation in which no meter provider was installed (`u64::MAX` otherwise): tracing-only
    /// applications then pay one comparison per operation, not a load of `resolved`.
    none_in: AtomicU64,
    /// Held while resolving (never per operation), so that two threads seeing a new generation
    /// build the instruments once: a second build would register observable instruments (a
    /// pool's connection counts) twice on the same provider.
    resolving: Mutex<()>,
}

/// What the global meter provider was at a generation, and the instruments built on it (`None`
/// for the API's no-op provider).
struct Resolved<M> {
    generation: u64,
    /// Compared, never used: a `Weak` keeps the address from being reused by a later provider.
    provider: Option<Weak<Provider>>,
    instruments: Option<Arc<M>>,
}

impl<M> Clone for GlobalInstruments<M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<M> fmt::Debug for GlobalInstruments<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalInstruments")
            .field("scope", &self.0.scope.name())
            .field("built", &self.0.resolved.load().instruments.is_some())
            .finish()
    }
}

impl<M> GlobalInstruments<M> {
    /// Instruments made by `build` on the global provider's meter for `scope`: now, when a meter
    /// provider is installed, else when an operation first finds one.
    pub fn new(scope: InstrumentationScope, build: impl Fn(&Meter) -> M + Send + Sync + 'static) -> Self {
        let unresolved = Resolved { generation: u64::MAX, provider: None, instruments: None };
        let instruments = Self(Arc::new(Inner {
            scope,
            build: Box::new(build),
            resolved: arc_swap::ArcSwap::from_pointee(unresolved),
            none_in: AtomicU64::new(u64::MAX),
            resolving: Mutex::new(()),
        }));
        // Built now when a provider is installed: instruments observed at collection time (a
        // pool's connection counts) are then there before the first operation.
        instruments.resolve(METER_GENERATION.load(Ordering::Acquire));
        instruments
    }

    /// Calls `f` with the instruments of the global meter provider installed now, or returns
    /// `None` without calling it when none is installed.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&M) -> R) -> Option<R> {
        let generation = METER_GENERATION.load(Ordering::Acquire);
        if self.0.none_in.load(Ordering::Relaxed) == generation {
            return None;
        }
        let resolved = self.0.resolved.load();
        if resolved.generation == generation {
            return resolved.instruments.as_deref().map(f);
        }
        drop(resolved);
        self.resolve(generation).as_deref().map(f)
    }

    /// Looks at the global meter provider again, and builds the instruments anew when it is not
    /// the one they were built on.
    #[cold]
    fn resolve(&self, generation: u64) -> Option<Arc<M>> {
        let Inner { scope, build, resolved: slot, none_in, resolving } = &*self.0;
        let _resolving = resolving.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = slot.load();
        if previous.generation == generation {
            // Another thread resolved this generation meanwhile.
            return previous.instruments.clone();
        }
        let provider = global::meter_provider();
        let instruments = if previous
            .provider
            .as_ref()
            .is_some_and(|built_on| std::ptr::addr_eq(built_on.as_ptr(), Arc::as_ptr(&provider)))
        {
            previous.instruments.clone()
        } else {
            crate::metrics::records(&*provider).then(|| Arc::new(build(&provider.meter_with_scope(scope.clone()))))
        };
        none_in.store(if instruments.is_some() { u64::MAX } else { generation }, Ordering::Relaxed);
        slot.store(Arc::new(Resolved {
            generation,
            provider: Some(Arc::downgrade(&provider)),
            instruments: instruments.clone(),
        }));
        instruments
    }
}
