//! Instruments that bind each attribute set once per thread, so that recording skips the SDK's
//! attribute lookup.
//!
//! On every measurement the SDK hashes the whole attribute set (SipHash) and compares it with the
//! sets it holds: for a request's half-dozen attributes that costs more than the rest of the
//! request's telemetry. A bound handle skips that lookup. Each thread keeps the handles of the
//! attribute sets it recorded lately ([`SETS`] × [`WAYS`] of them, for all instruments together,
//! the least recently used replaced); a set seen again is found by a cheap hash and an equality
//! check, and recorded through its handle. The data exported is the same either way.
//!
//! Binding needs the `experimental_metrics_bound_instruments` feature of both `opentelemetry` and
//! the SDK: an SDK built without it would accept the handles and drop what they record. So the
//! `bound-instruments` feature of this crate turns on both, and without it every measurement takes
//! the SDK's unbound path (the `setup` and `testing` features turn it on). A `MeterProvider` of
//! another implementation must implement binding to be used with this feature.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// An instrument and the number that tells its bound handles apart from other instruments'.
/// Clones share the instrument and its handles.
#[derive(Clone)]
pub struct Cached<I> {
    id: u64,
    instrument: I,
}

impl<I> fmt::Debug for Cached<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<I> Cached<I> {
    /// Wraps `instrument`.
    pub fn new(instrument: I) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), instrument }
    }
}

/// A histogram of seconds (or any `f64`) recorded through per-thread bound handles.
pub type CachedHistogram = Cached<Histogram<f64>>;

/// A monotonic counter recorded through per-thread bound handles.
pub type CachedCounter = Cached<Counter<u64>>;

/// An up-down counter recorded through per-thread bound handles.
pub type CachedUpDownCounter = Cached<UpDownCounter<i64>>;

impl CachedHistogram {
    /// Records `value` with `attributes`.
    pub fn record(&self, value: f64, attributes: &[KeyValue]) {
        #[cfg(feature = "bound-instruments")]
        if cache::record(
            self.id,
            attributes,
            || cache::Bound::Histogram(self.instrument.bind(attributes)),
            |bound| match bound {
                cache::Bound::Histogram(histogram) => histogram.record(value),
                _ => self.instrument.record(value, attributes),
            },
        ) {
            return;
        }
        self.instrument.record(value, attributes);
    }
}

impl CachedCounter {
    /// Adds `value` with `attributes`.
    pub fn add(&self, value: u64, attributes: &[KeyValue]) {
        #[cfg(feature = "bound-instruments")]
        if cache::record(
            self.id,
            attributes,
            || cache::Bound::Counter(self.instrument.bind(attributes)),
            |bound| match bound {
                cache::Bound::Counter(counter) => counter.add(value),
                _ => self.instrument.add(value, attributes),
            },
        ) {
            return;
        }
        self.instrument.add(value, attributes);
    }
}

impl CachedUpDownCounter {
    /// Adds `value` (negative to subtract) with `attributes`.
    pub fn add(&self, value: i64, attributes: &[KeyValue]) {
        #[cfg(feature = "bound-instruments")]
        if cache::record(
            self.id,
            attributes,
            || cache::Bound::UpDownCounter(self.instrument.bind(attributes)),
            |bound| match bound {
                cache::Bound::UpDownCounter(counter) => counter.add(value),
                _ => self.instrument.add(value, attributes),
            },
        ) {
            return;
        }
        self.instrument.add(value, attributes);
    }
}

/// Attribute sets kept per thread: `SETS` groups of `WAYS`, a set's group picked by its hash.
pub const SETS: usize = 64;

/// Attribute sets kept per group; two sets whose hashes meet in one group both stay.
pub const WAYS: usize = 2;

#[cfg(feature = "bound-instruments")]
mod cache {
    use super::{SETS, WAYS};
    use crate::internal::intern::word_hash;
    use opentelemetry::metrics::{BoundCounter, BoundHistogram, BoundUpDownCounter};
    use opentelemetry::{KeyValue, Value};
    use std::cell::RefCell;

    pub(super) enum Bound {
        Histogram(BoundHistogram<f64>),
        Counter(BoundCounter<u64>),
        UpDownCounter(BoundUpDownCounter<i64>),
    }

    struct Entry {
        instrument: u64,
        hash: u64,
        attributes: Box<[KeyValue]>,
        bound: Bound,
    }

    /// Each group's entries, the most recently used first.
    struct Cache([[Option<Entry>; WAYS]; SETS]);

    thread_local! {
        static CACHE: RefCell<Cache> = const { RefCell::new(Cache([const { [const { None }; WAYS] }; SETS])) };
    }

    /// Records through the thread's handle for (`instrument`, `attributes`), binding one with
    /// `bind` if the thread has none. `false` when the thread cannot keep handles (it is exiting,
    /// or a recording is already under way on it): the caller records unbound.
    pub(super) fn record(
        instrument: u64,
        attributes: &[KeyValue],
        bind: impl FnOnce() -> Bound,
        record: impl FnOnce(&Bound),
    ) -> bool {
        let hash = hash(instrument, attributes);
        CACHE
            .try_with(|cache| {
                let Ok(mut cache) = cache.try_borrow_mut() else { return false };
                let group = &mut cache.0[(hash >> 58) as usize % SETS];
                let found = group.iter().position(|entry| {
                    entry.as_ref().is_some_and(|entry| {
                        entry.hash == hash && entry.instrument == instrument && same(&entry.attributes, attributes)
                    })
                });
                match found {
                    Some(0) => {}
                    Some(way) => group[..=way].rotate_right(1),
                    None => {
                        group.rotate_right(1);
                        group[0] = Some(Entry { instrument, hash, attributes: attributes.into(), bound: bind() });
                    }
                }
                if let Some(entry) = &group[0] {
                    record(&entry.bound);
                    true
                } else {
                    false
                }
            })
            .unwrap_or(false)
    }

    /// Whether two attribute lists are equal, comparing text by address first: the keys and most
    /// values are `'static` or shared, and the kept copy shares them.
    fn same(kept: &[KeyValue], attributes: &[KeyValue]) -> bool {
        fn same_text(a: &str, b: &str) -> bool {
            (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
        }
        kept.len() == attributes.len()
            && kept.iter().zip(attributes).all(|(a, b)| {
                same_text(a.key.as_str(), b.key.as_str())
                    && match (&a.value, &b.value) {
                        (Value::String(x), Value::String(y)) => same_text(x.as_str(), y.as_str()),
                        (Value::I64(x), Value::I64(y)) => x == y,
                        (x, y) => x == y,
                    }
            })
    }

    /// A fast hash of the instrument and the attribute values (keys are the same for every set of
    /// one instrument, so their length is enough).
    fn hash(instrument: u64, attributes: &[KeyValue]) -> u64 {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = instrument.wrapping_mul(K);
        for attribute in attributes {
            let value = match &attribute.value {
                Value::String(s) => word_hash(s.as_str().as_bytes()),
                Value::I64(i) => *i as u64,
                Value::Bool(b) => u64::from(*b),
                Value::F64(f) => f.to_bits(),
                _ => 0,
            };
            h = (h.rotate_left(5) ^ value ^ attribute.key.as_str().len() as u64).wrapping_mul(K);
        }
        h ^ (h >> 29)
    }
}
