//! `http.server.active_requests`, bound once per method and scheme.

use super::{AttributeList, CachedUpDownCounter, FixedUpDownCounter, StaticKey};
use crate::semconv::http::{STANDARD_METHODS, standard_method_index};
use opentelemetry::KeyValue;
use opentelemetry::metrics::UpDownCounter;
use opentelemetry_semantic_conventions::attribute as semconv;
use std::fmt;
use std::sync::OnceLock;

/// `http.server.active_requests`. It changes twice per request, by two attributes whose usual
/// values are few (a standard method or `_OTHER`, `http` or `https`): each such pair is bound
/// once, on first use, so a change is an index and a call on the bound handle. Any other pair (a
/// configured method, another scheme) goes through the thread's cache of bound handles.
pub(crate) struct ActiveRequests {
    counter: UpDownCounter<i64>,
    cached: CachedUpDownCounter,
    /// By method index × 2 + scheme index (`http`, `https`).
    bound: [OnceLock<FixedUpDownCounter>; STANDARD_METHODS * 2],
}

impl ActiveRequests {
    pub(crate) fn new(counter: UpDownCounter<i64>) -> Self {
        Self {
            cached: CachedUpDownCounter::new(counter.clone()),
            counter,
            bound: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The bound handle that counts (`method`, `scheme`), found once when a request starts and
    /// used again when it ends.
    #[inline]
    pub(crate) fn slot(method: &str, scheme: &str) -> Slot {
        let scheme_index = match scheme.as_bytes() {
            b"http" => 0,
            b"https" => 1,
            _ => return Slot(None),
        };
        Slot(standard_method_index(method).map(|method_index| (method_index * 2 + scheme_index) as u8))
    }

    /// Changes the count of (`method`, `scheme`), whose slot is `slot`.
    #[inline]
    pub(crate) fn add(&self, change: i64, slot: Slot, method: &'static str, scheme: &'static str) {
        match slot.0.and_then(|index| self.bound.get(usize::from(index))) {
            Some(bound) => {
                bound.get_or_init(|| FixedUpDownCounter::new(&self.counter, &attributes(method, scheme))).add(change)
            }
            None => self.add_keyed(change, method, scheme),
        }
    }

    #[cold]
    fn add_keyed(&self, change: i64, method: &'static str, scheme: &'static str) {
        let mut key = StaticKey::new();
        key.text(Some(method));
        key.text(Some(scheme));
        self.cached.add_keyed(change, &key, || {
            let mut list = AttributeList::<2>::new();
            list.extend(attributes(method, scheme));
            list
        });
    }
}

/// Where a (method, scheme) pair's bound handle is; `None` for a pair the thread's cache counts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot(Option<u8>);

fn attributes(method: &'static str, scheme: &'static str) -> [KeyValue; 2] {
    [KeyValue::new(semconv::HTTP_REQUEST_METHOD, method), KeyValue::new(semconv::URL_SCHEME, scheme)]
}

/// A clone binds its own handles, to the same data points.
impl Clone for ActiveRequests {
    fn clone(&self) -> Self {
        Self::new(self.counter.clone())
    }
}

impl fmt::Debug for ActiveRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveRequests").finish_non_exhaustive()
    }
}
