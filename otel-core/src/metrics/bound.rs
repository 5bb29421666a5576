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
//! Two cheaper forms where the caller knows more: a [`StaticKey`] names a set by a few words (the
//! addresses of `'static` texts, short texts, numbers), so a set seen before is found without
//! building its attributes; and [`FixedHistogram`] / [`FixedUpDownCounter`] are bound once to a
//! set fixed for their life.
//!
//! Binding needs the `experimental_metrics_bound_instruments` feature of both `opentelemetry` and
//! the SDK: an SDK built without it would accept the handles and drop what they record. So the
//! `bound-instruments` feature of this crate turns on both, and without it every measurement takes
//! the SDK's unbound path (the `setup` and `testing` features turn it on). A `MeterProvider` of
//! another implementation must implement binding to be used with this feature.

use super::AttributeList;
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

    /// The number that tells this instrument apart from every other made in the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The instrument, to bind an attribute set for good ([`FixedHistogram`]).
    pub fn instrument(&self) -> &I {
        &self.instrument
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
        measure(self, value, attributes);
    }

    /// Records `value` with the attribute set `key` names; `attributes` makes the set, called
    /// only when this thread has no handle for `key` yet.
    pub fn record_keyed<const N: usize>(
        &self,
        value: f64,
        key: &StaticKey,
        attributes: impl FnOnce() -> AttributeList<N>,
    ) {
        measure_keyed(self, value, key, attributes);
    }
}

impl CachedCounter {
    /// Adds `value` with `attributes`.
    pub fn add(&self, value: u64, attributes: &[KeyValue]) {
        measure(self, value, attributes);
    }

    /// Adds `value` with the attribute set `key` names; see [`CachedHistogram::record_keyed`].
    pub fn add_keyed<const N: usize>(
        &self,
        value: u64,
        key: &StaticKey,
        attributes: impl FnOnce() -> AttributeList<N>,
    ) {
        measure_keyed(self, value, key, attributes);
    }
}

impl CachedUpDownCounter {
    /// Adds `value` (negative to subtract) with `attributes`.
    pub fn add(&self, value: i64, attributes: &[KeyValue]) {
        measure(self, value, attributes);
    }

    /// Adds `value` with the attribute set `key` names; see [`CachedHistogram::record_keyed`].
    pub fn add_keyed<const N: usize>(
        &self,
        value: i64,
        key: &StaticKey,
        attributes: impl FnOnce() -> AttributeList<N>,
    ) {
        measure_keyed(self, value, key, attributes);
    }
}

/// A histogram bound once to an attribute set fixed for its life (a pool's name): each record is
/// a call on the bound handle, with no lookup at all.
pub struct FixedHistogram {
    #[cfg(feature = "bound-instruments")]
    bound: opentelemetry::metrics::BoundHistogram<f64>,
    #[cfg(not(feature = "bound-instruments"))]
    unbound: (Histogram<f64>, Box<[KeyValue]>),
}

impl FixedHistogram {
    /// Binds `histogram` to `attributes`.
    pub fn new(histogram: &Histogram<f64>, attributes: &[KeyValue]) -> Self {
        #[cfg(feature = "bound-instruments")]
        return Self { bound: histogram.bind(attributes) };
        #[cfg(not(feature = "bound-instruments"))]
        return Self { unbound: (histogram.clone(), attributes.into()) };
    }

    /// Records `value`.
    pub fn record(&self, value: f64) {
        #[cfg(feature = "bound-instruments")]
        self.bound.record(value);
        #[cfg(not(feature = "bound-instruments"))]
        self.unbound.0.record(value, &self.unbound.1);
    }
}

/// An up-down counter bound once to an attribute set fixed for its life; see [`FixedHistogram`].
pub struct FixedUpDownCounter {
    #[cfg(feature = "bound-instruments")]
    bound: opentelemetry::metrics::BoundUpDownCounter<i64>,
    #[cfg(not(feature = "bound-instruments"))]
    unbound: (UpDownCounter<i64>, Box<[KeyValue]>),
}

impl FixedUpDownCounter {
    /// Binds `counter` to `attributes`.
    pub fn new(counter: &UpDownCounter<i64>, attributes: &[KeyValue]) -> Self {
        #[cfg(feature = "bound-instruments")]
        return Self { bound: counter.bind(attributes) };
        #[cfg(not(feature = "bound-instruments"))]
        return Self { unbound: (counter.clone(), attributes.into()) };
    }

    /// Adds `value` (negative to subtract).
    pub fn add(&self, value: i64) {
        #[cfg(feature = "bound-instruments")]
        self.bound.add(value);
        #[cfg(not(feature = "bound-instruments"))]
        self.unbound.0.add(value, &self.unbound.1);
    }
}

impl fmt::Debug for FixedHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedHistogram").finish_non_exhaustive()
    }
}

impl fmt::Debug for FixedUpDownCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedUpDownCounter").finish_non_exhaustive()
    }
}

/// The three synchronous instruments, as the cache records and binds them.
trait Instrument {
    type Value: Copy;
    fn measure(&self, value: Self::Value, attributes: &[KeyValue]);
    #[cfg(feature = "bound-instruments")]
    fn bind(&self, attributes: &[KeyValue]) -> cache::Bound;
    /// Records through `bound` if it is this kind's handle.
    #[cfg(feature = "bound-instruments")]
    fn measure_bound(bound: &cache::Bound, value: Self::Value) -> bool;
}

macro_rules! instrument {
    ($instrument:ty, $value:ty, $measure:ident, $variant:ident) => {
        impl Instrument for $instrument {
            type Value = $value;
            fn measure(&self, value: $value, attributes: &[KeyValue]) {
                self.$measure(value, attributes);
            }
            #[cfg(feature = "bound-instruments")]
            fn bind(&self, attributes: &[KeyValue]) -> cache::Bound {
                cache::Bound::$variant(<$instrument>::bind(self, attributes))
            }
            #[cfg(feature = "bound-instruments")]
            fn measure_bound(bound: &cache::Bound, value: $value) -> bool {
                match bound {
                    cache::Bound::$variant(bound) => {
                        bound.$measure(value);
                        true
                    }
                    _ => false,
                }
            }
        }
    };
}

instrument!(Histogram<f64>, f64, record, Histogram);
instrument!(Counter<u64>, u64, add, Counter);
instrument!(UpDownCounter<i64>, i64, add, UpDownCounter);

/// Records through the thread's handle for `attributes`, or unbound.
fn measure<I: Instrument>(cached: &Cached<I>, value: I::Value, attributes: &[KeyValue]) {
    #[cfg(feature = "bound-instruments")]
    if cache::record(
        cached.id,
        cache::Lookup::Attributes(attributes),
        || (cache::Key::Attributes(attributes.into()), cached.instrument.bind(attributes)),
        |bound| I::measure_bound(bound, value),
    ) {
        return;
    }
    cached.instrument.measure(value, attributes);
}

/// Records through the thread's handle for `key`, or unbound with the attributes made.
#[inline]
fn measure_keyed<I: Instrument, const N: usize>(
    cached: &Cached<I>,
    value: I::Value,
    key: &StaticKey,
    attributes: impl FnOnce() -> AttributeList<N>,
) {
    #[cfg(feature = "bound-instruments")]
    let attributes = if key.complete().is_none() {
        attributes
    } else {
        let mut attributes = Some(attributes);
        let recorded = cache::record(
            cached.id,
            cache::Lookup::Static(key),
            || {
                let made = attributes.take().map(|make| make());
                let bound = cached.instrument.bind(made.as_ref().map_or(&[], AttributeList::as_slice));
                (cache::Key::Static(*key), bound)
            },
            |bound| I::measure_bound(bound, value),
        );
        match attributes {
            _ if recorded => return,
            Some(attributes) => attributes,
            // Bound, but the handle could not record: never happens (the kinds match).
            None => return,
        }
    };
    #[cfg(not(feature = "bound-instruments"))]
    let _ = key;
    cached.instrument.measure(value, attributes().as_slice());
}

/// Words in a [`StaticKey`].
pub const STATIC_KEY_WORDS: usize = 20;

/// The longest text a [`StaticKey`] holds by value.
pub const INLINE_TEXT_LEN: usize = 32;

/// An attribute set named by its values, without building it: `'static` texts by their address
/// and length (which name their content for the life of the process), short texts by value, and
/// numbers. A thread that recorded the set before finds its handle from these few words. Equal
/// texts at other addresses make another key, bound to the same data point. Texts and numbers
/// past [`STATIC_KEY_WORDS`] words make the key unusable: the measurement then takes the path
/// that builds its attributes.
#[derive(Clone, Copy, Debug)]
pub struct StaticKey {
    words: [u64; STATIC_KEY_WORDS],
    /// Words in use; more than [`STATIC_KEY_WORDS`] when something did not fit.
    len: usize,
}

impl PartialEq for StaticKey {
    /// Words past `len` are zero in every key, so the whole arrays compare (branch-free).
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let differ = self.words.iter().zip(&other.words).fold(0, |differ, (a, b)| differ | (a ^ b));
        self.len == other.len && differ == 0
    }
}

impl Eq for StaticKey {}

impl StaticKey {
    /// An empty key.
    #[inline]
    pub fn new() -> Self {
        Self { words: [0; STATIC_KEY_WORDS], len: 0 }
    }

    /// Adds a `'static` text, or its absence.
    #[inline]
    pub fn text(&mut self, text: Option<&'static str>) {
        match text {
            Some(text) => self.push(text.as_ptr() as u64, text.len() as u64),
            None => self.push(0, 0),
        }
    }

    /// Adds a text of at most [`INLINE_TEXT_LEN`] bytes by value; `false` (and nothing added)
    /// when it is longer.
    pub fn inline_text(&mut self, text: &str) -> bool {
        let bytes = text.as_bytes();
        if bytes.len() > INLINE_TEXT_LEN {
            return false;
        }
        // One copy into a zeroed buffer, then whole words.
        let mut padded = [0u8; INLINE_TEXT_LEN];
        padded[..bytes.len()].copy_from_slice(bytes);
        let word = |at: usize| u64::from_le_bytes(padded[at..at + 8].try_into().unwrap_or_default());
        self.push(u64::MAX, bytes.len() as u64);
        self.push(word(0), word(8));
        self.push(word(16), word(24));
        true
    }

    /// Adds a number, or its absence.
    #[inline]
    pub fn number(&mut self, number: Option<i64>) {
        match number {
            Some(number) => self.push(1, number as u64),
            None => self.push(0, 0),
        }
    }

    #[inline]
    fn push(&mut self, first: u64, second: u64) {
        match self.words.get_mut(self.len..self.len + 2) {
            Some([a, b]) => {
                (*a, *b) = (first, second);
                self.len += 2;
            }
            _ => self.len = STATIC_KEY_WORDS + 1,
        }
    }

    /// The words in use, when everything fit.
    #[cfg_attr(not(feature = "bound-instruments"), allow(dead_code))]
    fn complete(&self) -> Option<&[u64]> {
        self.words.get(..self.len)
    }
}

impl Default for StaticKey {
    fn default() -> Self {
        Self::new()
    }
}

/// Attribute sets kept per thread: `SETS` groups of `WAYS`, a set's group picked by its hash.
pub const SETS: usize = 64;

/// Attribute sets kept per group; two sets whose hashes meet in one group both stay.
pub const WAYS: usize = 2;

#[cfg(feature = "bound-instruments")]
mod cache {
    use super::{SETS, StaticKey, WAYS};
    use crate::internal::intern::word_hash;
    use opentelemetry::metrics::{BoundCounter, BoundHistogram, BoundUpDownCounter};
    use opentelemetry::{KeyValue, Value};
    use std::cell::RefCell;

    pub(super) enum Bound {
        Histogram(BoundHistogram<f64>),
        Counter(BoundCounter<u64>),
        UpDownCounter(BoundUpDownCounter<i64>),
    }

    /// What an entry was bound for.
    pub(super) enum Key {
        Attributes(Box<[KeyValue]>),
        Static(StaticKey),
    }

    /// What a measurement looks for.
    pub(super) enum Lookup<'a> {
        Attributes(&'a [KeyValue]),
        Static(&'a StaticKey),
    }

    struct Entry {
        instrument: u64,
        hash: u64,
        key: Key,
        bound: Bound,
    }

    /// Each group's entries, the most recently used first.
    struct Cache([[Option<Entry>; WAYS]; SETS]);

    thread_local! {
        static CACHE: RefCell<Cache> = const { RefCell::new(Cache([const { [const { None }; WAYS] }; SETS])) };
    }

    /// Records with `record` through the thread's handle for (`instrument`, `lookup`), binding
    /// one with `bind` if the thread has none. `false` when the thread cannot keep handles (it is
    /// exiting, or a recording is already under way on it) or `record` could not: the caller
    /// records unbound.
    #[inline]
    pub(super) fn record(
        instrument: u64,
        lookup: Lookup<'_>,
        bind: impl FnOnce() -> (Key, Bound),
        record: impl FnOnce(&Bound) -> bool,
    ) -> bool {
        let hash = match &lookup {
            Lookup::Attributes(attributes) => hash_attributes(instrument, attributes),
            Lookup::Static(key) => hash_key(instrument, key),
        };
        CACHE
            .try_with(|cache| {
                let Ok(mut cache) = cache.try_borrow_mut() else { return false };
                let group = &mut cache.0[(hash >> 58) as usize % SETS];
                let found = group.iter().position(|entry| {
                    entry.as_ref().is_some_and(|entry| {
                        entry.hash == hash
                            && entry.instrument == instrument
                            && match (&entry.key, &lookup) {
                                (Key::Attributes(kept), Lookup::Attributes(attributes)) => same(kept, attributes),
                                (Key::Static(kept), Lookup::Static(key)) => kept == *key,
                                _ => false,
                            }
                    })
                });
                match found {
                    Some(0) => {}
                    Some(way) => group[..=way].rotate_right(1),
                    None => {
                        group.rotate_right(1);
                        let (key, bound) = bind();
                        group[0] = Some(Entry { instrument, hash, key, bound });
                    }
                }
                group[0].as_ref().is_some_and(|entry| record(&entry.bound))
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

    const K: u64 = 0x517c_c1b7_2722_0a95;

    /// A fast hash of the instrument and the attribute values (keys are the same for every set of
    /// one instrument, so their length is enough).
    fn hash_attributes(instrument: u64, attributes: &[KeyValue]) -> u64 {
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

    /// A fast hash of the instrument and a [`StaticKey`]'s words in use: summed, each sum
    /// turned, then mixed by two multiplications (one leaves keys that differ in a single small
    /// number, a status code, crowded in a few groups). It only spreads keys over the groups;
    /// equality is checked in full.
    fn hash_key(instrument: u64, key: &StaticKey) -> u64 {
        let words = key.complete().unwrap_or(&[]);
        let sum = words.iter().fold(instrument, |sum, word| sum.wrapping_add(*word).rotate_left(13));
        let h = sum.wrapping_mul(K);
        (h ^ (h >> 32)).wrapping_mul(K)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::collections::HashSet;

        /// Keys that differ in one number (a status code) or one text spread over the groups
        /// about as random ones would (128 keys fill 55 of 64 groups on average).
        #[test]
        fn similar_keys_spread_over_the_groups() {
            let group = |key: &StaticKey| (hash_key(1, key) >> 58) as usize % SETS;
            let by_status: HashSet<usize> = (100..228)
                .map(|status| {
                    let mut key = StaticKey::new();
                    key.text(Some("GET"));
                    key.number(Some(status));
                    group(&key)
                })
                .collect();
            assert!(by_status.len() >= 44, "{} groups", by_status.len());
            let by_text: HashSet<usize> = (0..128)
                .map(|n| {
                    let mut key = StaticKey::new();
                    key.inline_text(&format!("host-{n}.internal"));
                    key.number(Some(443));
                    group(&key)
                })
                .collect();
            assert!(by_text.len() >= 44, "{} groups", by_text.len());
        }
    }
}
