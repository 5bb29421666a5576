//! The connection-pool metrics of the conventions, next to otel-core's
//! `db.client.operation.duration`.
//!
//! Wait time, use time, timeouts and pending requests are measured exactly for connections taken
//! through the `TracedPool` (its executor, `acquire` and `begin`); connections taken from the inner
//! `Pool` directly are not seen. The connection counts (idle, used) and the maximum are read from
//! the pool itself when the metrics are collected, so they are exact whoever took the connections.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableUpDownCounter};
use opentelemetry_semantic_conventions::{attribute as semconv, metric};
use otel_core::metrics::{CachedCounter, DbClientMetrics, FixedHistogram, FixedUpDownCounter, seconds_histogram};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Bucket boundaries for connection wait and use times, in seconds.
const POOL_TIME_BUCKETS: [f64; 12] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// What the pool gauges read at collection time.
pub(crate) trait PoolState: Send + Sync + 'static {
    /// (idle, used, max)
    fn counts(&self) -> (u64, u64, u64);
}

impl<DB: sqlx::Database> PoolState for sqlx::Pool<DB> {
    fn counts(&self) -> (u64, u64, u64) {
        let size = u64::from(self.size());
        let idle = (self.num_idle() as u64).min(size);
        (idle, size - idle, u64::from(self.options().get_max_connections()))
    }
}

pub(crate) struct Metrics {
    pub(crate) operation: DbClientMetrics,
    wait_time: FixedHistogram,
    use_time: FixedHistogram,
    timeouts: CachedCounter,
    pending: FixedUpDownCounter,
    pool: [KeyValue; 1],
    _count: ObservableUpDownCounter<i64>,
    _max: ObservableUpDownCounter<i64>,
}

impl Metrics {
    /// Creates the instruments; the gauges read the pool's state while it lives (they hold it
    /// weakly, so a dropped pool is not kept open by its metrics).
    pub(crate) fn new(meter: &Meter, pool_name: opentelemetry::StringValue, weak: Weak<dyn PoolState>) -> Self {
        let pool = KeyValue::new(semconv::DB_CLIENT_CONNECTION_POOL_NAME, pool_name);
        let (name, count_state) = (pool.clone(), weak.clone());
        let count = meter
            .i64_observable_up_down_counter(metric::DB_CLIENT_CONNECTION_COUNT)
            .with_unit("{connection}")
            .with_description(
                "The number of connections that are currently in the state described by the state attribute.",
            )
            .with_callback(move |observer| {
                if let Some(state) = count_state.upgrade() {
                    let (idle, used, _) = state.counts();
                    for (value, label) in [(idle, "idle"), (used, "used")] {
                        observer.observe(
                            value as i64,
                            &[name.clone(), KeyValue::new(semconv::DB_CLIENT_CONNECTION_STATE, label)],
                        );
                    }
                }
            })
            .build();
        let name = pool.clone();
        let max = meter
            .i64_observable_up_down_counter(metric::DB_CLIENT_CONNECTION_MAX)
            .with_unit("{connection}")
            .with_description("The maximum number of open connections allowed.")
            .with_callback(move |observer| {
                if let Some(state) = weak.upgrade() {
                    observer.observe(state.counts().2 as i64, std::slice::from_ref(&name));
                }
            })
            .build();
        // The pool metrics have one attribute, the pool's name: bound to it once.
        let histogram = |name: &'static str, description: &'static str| {
            let histogram = seconds_histogram(meter, name, description, &POOL_TIME_BUCKETS);
            FixedHistogram::new(&histogram, std::slice::from_ref(&pool))
        };
        Self {
            operation: DbClientMetrics::new(meter),
            wait_time: histogram(
                metric::DB_CLIENT_CONNECTION_WAIT_TIME,
                "The time it took to obtain an open connection from the pool.",
            ),
            use_time: histogram(
                metric::DB_CLIENT_CONNECTION_USE_TIME,
                "The time between borrowing a connection and returning it to the pool.",
            ),
            timeouts: CachedCounter::new(
                meter
                    .u64_counter(metric::DB_CLIENT_CONNECTION_TIMEOUTS)
                    .with_unit("{timeout}")
                    .with_description(
                        "The number of connection timeouts that have occurred trying to obtain a connection.",
                    )
                    .build(),
            ),
            pending: FixedUpDownCounter::new(
                &meter
                    .i64_up_down_counter(metric::DB_CLIENT_CONNECTION_PENDING_REQUESTS)
                    .with_unit("{request}")
                    .with_description("The number of current pending requests for an open connection.")
                    .build(),
                std::slice::from_ref(&pool),
            ),
            pool: [pool],
            _count: count,
            _max: max,
        }
    }

    /// Counts one request waiting for a connection until the guard drops.
    pub(crate) fn pending(&self) -> Pending<'_> {
        self.pending.add(1);
        Pending(self)
    }

    pub(crate) fn waited(&self, wait: Duration, timed_out: bool) {
        self.wait_time.record(wait.as_secs_f64());
        if timed_out {
            self.timeouts.add(1, &self.pool);
        }
    }

    fn used(&self, since: Instant) {
        self.use_time.record(since.elapsed().as_secs_f64());
    }
}

/// One request waiting for a connection.
pub(crate) struct Pending<'a>(&'a Metrics);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.add(-1);
    }
}

/// Records `db.client.connection.use_time` when the connection it accompanies goes back to the
/// pool (whatever ends its use: completion, error, drop).
#[derive(Default)]
pub(crate) struct UseTime(Option<(Arc<Metrics>, Instant)>);

impl UseTime {
    /// Starts timing the use of a connection obtained at `since`.
    pub(crate) fn start(metrics: Option<Arc<Metrics>>, since: Instant) -> Self {
        Self(metrics.map(|m| (m, since)))
    }
}

impl Drop for UseTime {
    fn drop(&mut self) {
        if let Some((metrics, since)) = self.0.take() {
            metrics.used(since);
        }
    }
}
