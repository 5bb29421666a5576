//! `http.server.active_requests`, counted in atomics and reported when the metrics are collected.
//!
//! An up-down counter recorded on every request start and end costs two attribute lookups per
//! request; the number only matters when a reader collects it. So each (method, scheme) pair gets
//! an atomic count in a fixed table, and an asynchronous up-down counter reports the table: the
//! same data points (a cumulative, non-monotonic sum per pair, zero once a pair goes quiet).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableUpDownCounter};
use opentelemetry_semantic_conventions::{attribute as semconv, metric};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

/// Distinct (method, scheme) pairs counted: the known methods (nine by default, and `_OTHER`)
/// times `http` and `https`, with room for configured methods. Pairs past it are not counted.
pub const PAIRS: usize = 64;

/// The active request counts of one server's metrics.
#[derive(Clone)]
pub(crate) struct ActiveRequests {
    table: Arc<Table>,
    _instrument: ObservableUpDownCounter<i64>,
}

struct Table([Pair; PAIRS]);

struct Pair {
    key: OnceLock<(&'static str, &'static str)>,
    count: AtomicI64,
}

impl fmt::Debug for ActiveRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveRequests").finish_non_exhaustive()
    }
}

impl ActiveRequests {
    pub(crate) fn new(meter: &Meter) -> Self {
        let table = Arc::new(Table(std::array::from_fn(|_| Pair { key: OnceLock::new(), count: AtomicI64::new(0) })));
        let reported = Arc::downgrade(&table);
        let instrument = meter
            .i64_observable_up_down_counter(metric::HTTP_SERVER_ACTIVE_REQUESTS)
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .with_callback(move |observer| {
                let Some(table) = reported.upgrade() else { return };
                for pair in &table.0 {
                    let Some(&(method, scheme)) = pair.key.get() else { break };
                    observer.observe(
                        pair.count.load(Ordering::Relaxed),
                        &[
                            KeyValue::new(semconv::HTTP_REQUEST_METHOD, method),
                            KeyValue::new(semconv::URL_SCHEME, scheme),
                        ],
                    );
                }
            })
            .build();
        Self { table, _instrument: instrument }
    }

    /// Counts one more active request of `method` and `scheme`; the index to give to
    /// [`ActiveRequests::end`], `None` when the table is full.
    pub(crate) fn start(&self, method: &'static str, scheme: &'static str) -> Option<u8> {
        let index = self.index(method, scheme)?;
        self.table.0[index].count.fetch_add(1, Ordering::Relaxed);
        u8::try_from(index).ok()
    }

    /// Counts one request fewer where [`ActiveRequests::start`] counted it.
    pub(crate) fn end(&self, index: u8) {
        if let Some(pair) = self.table.0.get(usize::from(index)) {
            pair.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The pair's place: the first one holding it, or the first free one, claimed. Pairs are
    /// claimed in order and never freed, so a pair has one place.
    fn index(&self, method: &'static str, scheme: &'static str) -> Option<usize> {
        let same = |a: &str, b: &str| std::ptr::eq(a, b) || a == b;
        self.table.0.iter().position(|pair| {
            let &(m, s) = pair.key.get_or_init(|| (method, scheme));
            same(m, method) && same(s, scheme)
        })
    }
}
