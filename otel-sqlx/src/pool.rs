//! The traced pool and its builder: where the settings are read once and shared by every query,
//! connection and transaction.

use crate::cache::StatementCache;
use crate::connection::{TracedConnection, TracedPoolConnection, TracedTransaction};
use crate::database::{Target, TracedDatabase, mysql_or_mariadb};
use crate::hooks::{RequestHookFn, ResponseHookFn, SqlRequest, SqlResponse};
use crate::metrics::{Metrics, PoolState, UseTime};
use crate::operation::Shared;
use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, StringValue};
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Error, Pool, Transaction};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Default cap of `db.query.text`, in bytes.
const DEFAULT_MAX_QUERY_TEXT: usize = 2048;
/// Default pool wait above which the wait gets its own span.
const DEFAULT_WAIT_THRESHOLD: Duration = Duration::from_millis(10);
/// Default number of statement texts whose span names and texts are kept.
const DEFAULT_STATEMENT_CACHE: usize = 1024;

/// A sqlx pool whose queries are CLIENT spans: use `&pool` wherever `&Pool` was used.
///
/// `&TracedPool` implements [`sqlx::Executor`], so `query(..).fetch_all(&pool)`, `query_as`,
/// `query_scalar`, `fetch` streams and `execute` work unchanged; [`TracedPool::acquire`] and
/// [`TracedPool::begin`] give traced connections and transactions (use `&mut *conn` and
/// `&mut *tx` as with sqlx). Cloning is as cheap as cloning the pool. Spans are children of
/// `Context::current()` when the query is issued.
///
/// ```no_run
/// # async fn run() -> Result<(), sqlx::Error> {
/// use otel_sqlx::TracedPgPool;
///
/// let pool = TracedPgPool::connect("postgres://app@localhost/shop").await?; // was: PgPool::connect
/// let rows = sqlx::query("SELECT id FROM documents WHERE owner = $1") // span "SELECT documents"
///     .bind(42_i64)
///     .fetch_all(&pool)
///     .await?;
/// # Ok(()) }
/// ```
pub struct TracedPool<DB: Database, T = GlobalTracer> {
    pub(crate) pool: Pool<DB>,
    pub(crate) shared: Arc<Shared<T>>,
    /// What the connection-count gauges read (they hold it weakly).
    _state: Option<Arc<dyn PoolState>>,
}

impl<DB: Database, T> Clone for TracedPool<DB, T> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), shared: Arc::clone(&self.shared), _state: self._state.clone() }
    }
}

impl<DB: Database, T> fmt::Debug for TracedPool<DB, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedPool")
            .field("pool", &self.pool)
            .field("db_system_name", &self.shared.system)
            .field("pool_name", &self.shared.pool_name.as_str())
            .finish_non_exhaustive()
    }
}

impl<DB: TracedDatabase> TracedPool<DB> {
    /// Opens a pool on `url` (as `Pool::connect`) and wraps it with default settings. On MySQL
    /// (typed or through `Any`), asks the server whether it is MariaDB.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        TracedPoolBuilder::default().connect(url).await
    }

    /// Wraps `pool` with default settings (MySQL pools are recorded as `mysql`, `Any` pools as
    /// their URL's scheme says; use [`TracedPoolBuilder::wrap`] to detect MariaDB).
    pub fn new(pool: Pool<DB>) -> Self {
        TracedPoolBuilder::default().build(pool)
    }

    /// A builder for the settings.
    pub fn builder() -> TracedPoolBuilder<DB> {
        TracedPoolBuilder::default()
    }
}

impl<DB: Database, T> TracedPool<DB, T> {
    /// The wrapped pool (its queries are not traced).
    pub fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Unwraps the pool.
    pub fn into_inner(self) -> Pool<DB> {
        self.pool
    }

    /// Closes the pool (see [`Pool::close`]).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `db.system.name` as recorded (`postgresql`, `mysql`, `mariadb` or `sqlite`; `other_sql` for
    /// an `Any` pool on a driver the application installed itself).
    pub fn db_system_name(&self) -> &'static str {
        self.shared.system
    }
}

impl<DB, T> TracedPool<DB, T>
where
    DB: TracedDatabase,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    /// Takes a connection from the pool. A wait longer than the threshold is recorded as a span
    /// under the current context; queries on the connection are traced (use `&mut *conn`).
    pub async fn acquire(&self) -> Result<TracedPoolConnection<DB, T>, Error> {
        let parent = Context::current();
        let (connection, wait) = acquire(&self.shared, &self.pool).await;
        self.shared.waited(&parent, wait, matches!(connection, Err(Error::PoolTimedOut)));
        let (connection, use_time) = connection?;
        Ok(TracedPoolConnection::new(TracedConnection::new(connection, Arc::clone(&self.shared), use_time)))
    }

    /// Starts a transaction on a connection from the pool: a `BEGIN` span (with the pool wait),
    /// then every query on `&mut *tx`, then a `COMMIT` or `ROLLBACK` span.
    pub async fn begin(&self) -> Result<TracedTransaction<DB, T>, Error> {
        let mut operation = self.shared.start("BEGIN");
        let (connection, wait) = acquire(&self.shared, &self.pool).await;
        let timed_out = matches!(connection, Err(Error::PoolTimedOut));
        match &mut operation {
            Some(operation) => operation.acquired(wait, timed_out),
            None => self.shared.waited(&Context::current(), wait, timed_out),
        }
        let (connection, use_time) = match connection {
            Ok(connection) => connection,
            Err(error) => {
                if let Some(operation) = operation {
                    operation.finish(Err(&error));
                }
                return Err(error);
            }
        };
        let transaction = Transaction::begin(connection, None).await;
        if let Some(operation) = operation {
            operation.finish(transaction.as_ref().map(|_| ()));
        }
        Ok(TracedTransaction::new(TracedConnection::new(transaction?, Arc::clone(&self.shared), use_time)))
    }
}

/// Takes a connection, counting the request as pending meanwhile; returns it (with the guard
/// that records its use time) and how long it took.
pub(crate) async fn acquire<DB: Database, T>(
    shared: &Shared<T>,
    pool: &Pool<DB>,
) -> (Result<(PoolConnection<DB>, UseTime), Error>, Duration) {
    // One look at the instruments for the wait and the use that follows.
    let metrics = shared.metrics.with(Arc::clone);
    let pending = metrics.as_deref().map(Metrics::pending);
    let start = Instant::now();
    let connection = pool.acquire().await;
    // One clock read ends the wait and starts the use.
    let acquired = Instant::now();
    drop(pending);
    let wait = acquired.saturating_duration_since(start);
    (connection.map(|c| (c, UseTime::start(metrics, acquired))), wait)
}

/// Settings of a [`TracedPool`].
///
/// Defaults: the global tracer provider; `db.query.text` recorded (as written when it takes bind
/// parameters, else with its inline literals replaced by `?`), capped at 2048 bytes; no `db.response.returned_rows`; spans also without a sampled parent
/// (the sampler decides); pool waits of 10 ms or more as spans; sqlcommenter off; 1024 statement
/// texts cached; no hooks; metrics to the global meter provider when one is installed.
pub struct TracedPoolBuilder<DB, T = GlobalTracer> {
    tracer: T,
    query_text: bool,
    max_query_text: usize,
    sanitize_query_text: bool,
    returned_rows: bool,
    require_sampled_parent: bool,
    wait_threshold: Duration,
    sqlcommenter: bool,
    statement_cache: usize,
    pool_name: Option<String>,
    mariadb: Option<bool>,
    meter: otel_core::metrics::MeterSource,
    request_hook: Option<RequestHookFn>,
    response_hook: Option<ResponseHookFn>,
    _db: PhantomData<fn() -> DB>,
}

impl<DB> Default for TracedPoolBuilder<DB> {
    fn default() -> Self {
        Self {
            tracer: GlobalTracer::new(scope()),
            query_text: true,
            max_query_text: DEFAULT_MAX_QUERY_TEXT,
            sanitize_query_text: false,
            returned_rows: false,
            require_sampled_parent: false,
            wait_threshold: DEFAULT_WAIT_THRESHOLD,
            sqlcommenter: false,
            statement_cache: DEFAULT_STATEMENT_CACHE,
            pool_name: None,
            mariadb: None,
            meter: otel_core::metrics::MeterSource::Global,
            request_hook: None,
            response_hook: None,
            _db: PhantomData,
        }
    }
}

impl<DB, T> fmt::Debug for TracedPoolBuilder<DB, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedPoolBuilder")
            .field("query_text", &self.query_text)
            .field("returned_rows", &self.returned_rows)
            .field("wait_threshold", &self.wait_threshold)
            .field("sqlcommenter", &self.sqlcommenter)
            .field("request_hook", &self.request_hook.is_some())
            .field("response_hook", &self.response_hook.is_some())
            .finish_non_exhaustive()
    }
}

fn scope() -> InstrumentationScope {
    otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

impl<DB, T> TracedPoolBuilder<DB, T> {
    /// Uses `provider` instead of the global one. With the SDK's provider, an unsampled query
    /// costs no allocation at all (the global provider boxes every span).
    pub fn tracer_provider<P: TracerProvider>(self, provider: &P) -> TracedPoolBuilder<DB, P::Tracer> {
        TracedPoolBuilder {
            tracer: provider.tracer_with_scope(scope()),
            query_text: self.query_text,
            max_query_text: self.max_query_text,
            sanitize_query_text: self.sanitize_query_text,
            returned_rows: self.returned_rows,
            require_sampled_parent: self.require_sampled_parent,
            wait_threshold: self.wait_threshold,
            sqlcommenter: self.sqlcommenter,
            statement_cache: self.statement_cache,
            pool_name: self.pool_name,
            mariadb: self.mariadb,
            meter: self.meter,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            _db: PhantomData,
        }
    }

    /// Whether to record `db.query.text`. On by default: a text that takes bind parameters
    /// (`$1`, `?`) as written, the placeholders showing that values travel apart (the database
    /// conventions); any other with its inline literals replaced by `?`.
    pub fn query_text(mut self, enabled: bool) -> Self {
        self.query_text = enabled;
        self
    }

    /// Replaces inline literals with `?` in parameterized texts too (`SELECT $1::int + 1` is then
    /// recorded as `SELECT $1::int + ?`), for applications that also write values into their
    /// parameterized statements. Off by default.
    pub fn sanitize_query_text(mut self, always: bool) -> Self {
        self.sanitize_query_text = always;
        self
    }

    /// The longest `db.query.text` recorded, in bytes (cut on a character boundary, ending `...`).
    pub fn max_query_text_len(mut self, bytes: usize) -> Self {
        self.max_query_text = bytes.max(8);
        self
    }

    /// Whether to record `db.response.returned_rows` (the rows the query returned, counted as
    /// they arrive). Off by default (opt-in in the conventions).
    pub fn returned_rows(mut self, enabled: bool) -> Self {
        self.returned_rows = enabled;
        self
    }

    /// Parent-only tracing: when true, a query issued without a sampled parent span gets no span
    /// at all (for background jobs). Off by default: the sampler decides.
    pub fn require_sampled_parent(mut self, required: bool) -> Self {
        self.require_sampled_parent = required;
        self
    }

    /// A pool wait at least this long gets its own span (`db.client.connection.wait`) before the
    /// query. 10 ms by default. The wait is recorded on every query span anyway.
    pub fn pool_wait_threshold(mut self, threshold: Duration) -> Self {
        self.wait_threshold = threshold;
        self
    }

    /// sqlcommenter: append the query span's `traceparent` and `tracestate` to each statement as
    /// a comment. Off by default. Every statement text then differs, which defeats the database's
    /// and sqlx's prepared-statement caches: commented statements are not cached by sqlx.
    pub fn sqlcommenter(mut self, enabled: bool) -> Self {
        self.sqlcommenter = enabled;
        self
    }

    /// How many statement texts keep their parsed span name and text (1024 by default).
    pub fn statement_cache_capacity(mut self, statements: usize) -> Self {
        self.statement_cache = statements.max(1);
        self
    }

    /// `db.client.connection.pool.name` of the pool metrics and wait spans. Default:
    /// `{server.address}:{server.port}/{db.namespace}` (what is known of it).
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool_name = Some(name.into());
        self
    }

    /// Records `db.system.name` = `mariadb` (true) or `mysql` (false) for a MySQL pool (or an
    /// `Any` pool on a `mysql:` or `mariadb:` URL), instead of asking the server (`connect` and
    /// `wrap` ask; `build` cannot). No effect on other databases.
    pub fn mariadb(mut self, mariadb: bool) -> Self {
        self.mariadb = Some(mariadb);
        self
    }

    /// Calls `hook` with the span and the statement ([`SqlRequest`]: the text as written, its
    /// summary, the database) when an operation's span starts, for the application's own
    /// attributes or events. Runs once per span, only for spans that record, on every query of
    /// the pool, its connections and its transactions (`BEGIN`, `COMMIT` and `ROLLBACK`
    /// included). A closure `|span: &SpanRef<'_>, request: &SqlRequest<'_>| ..` is a hook. With a
    /// hook set, each recorded span is kept in a `Context` (one small allocation per span).
    pub fn request_hook(mut self, hook: impl for<'a> RequestHook<SqlRequest<'a>>) -> Self {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with the span and the outcome ([`SqlResponse`]: the rows returned, or the
    /// error) just before an operation's span ends, once, only for spans that record. Not called
    /// when the operation does not finish: a future or stream dropped before its end (a
    /// cancelled request, a stream read in part) still ends its span, without this hook. A
    /// closure `|span: &SpanRef<'_>, response: &SqlResponse<'_>| ..` is a hook.
    pub fn response_hook(mut self, hook: impl for<'a> ResponseHook<SqlResponse<'a>>) -> Self {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Records `db.client.operation.duration` and the pool metrics (`db.client.connection.count`,
    /// `.max`, `.wait_time`, `.use_time`, `.timeouts`, `.pending_requests`) with the global
    /// meter provider (`true`, the default; nothing is recorded while no meter provider is
    /// installed), or not at all (`false`: no metric work per query).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.meter = otel_core::metrics::MeterSource::enabled(enabled);
        self
    }

    /// Records the metrics with `provider`'s meter (and turns them on).
    pub fn meter_provider(mut self, provider: &impl opentelemetry::metrics::MeterProvider) -> Self {
        self.meter = otel_core::metrics::MeterSource::provider(provider, scope());
        self
    }
}

impl<DB: TracedDatabase, T> TracedPoolBuilder<DB, T> {
    /// Wraps `pool`.
    pub fn build(self, pool: Pool<DB>) -> TracedPool<DB, T> {
        let target = DB::target(&pool.connect_options());
        let system = self.mariadb.map_or(target.system, |mariadb| mysql_or_mariadb(target.system, mariadb));
        self.build_as(pool, target, system)
    }

    /// Wraps `pool`, asking a MySQL server whether it is MariaDB (unless set with
    /// [`TracedPoolBuilder::mariadb`]).
    pub async fn wrap(self, pool: Pool<DB>) -> TracedPool<DB, T> {
        let target = DB::target(&pool.connect_options());
        let system = match self.mariadb {
            Some(mariadb) => mysql_or_mariadb(target.system, mariadb),
            None => DB::detect_system(&pool, target.system).await,
        };
        self.build_as(pool, target, system)
    }

    /// Opens a pool on `url` (as `Pool::connect`) and wraps it as [`TracedPoolBuilder::wrap`] does.
    pub async fn connect(self, url: &str) -> Result<TracedPool<DB, T>, Error> {
        let pool = Pool::<DB>::connect(url).await?;
        Ok(self.wrap(pool).await)
    }

    fn build_as(self, pool: Pool<DB>, target: Target, system: &'static str) -> TracedPool<DB, T> {
        let pool_name = self.pool_name.unwrap_or_else(|| {
            let mut name = target.address.clone().unwrap_or_default();
            if let Some(port) = target.port {
                name.push_str(&format!(":{port}"));
            }
            if let Some(namespace) = &target.namespace {
                if !name.is_empty() {
                    name.push('/');
                }
                name.push_str(namespace);
            }
            if name.is_empty() { system.to_owned() } else { name }
        });
        let pool_name = StringValue::from(Arc::<str>::from(pool_name));
        // The gauges read the pool through this, weakly: the pool's handles keep it.
        let state: Option<Arc<dyn PoolState>> = (!self.meter.is_off()).then(|| Arc::new(pool.clone()) as _);
        let weak_state: Weak<dyn PoolState> = match &state {
            Some(state) => Arc::downgrade(state),
            None => Weak::<Pool<DB>>::new(),
        };
        let name = pool_name.clone();
        let metrics = self
            .meter
            .instruments(scope(), move |meter| Arc::new(Metrics::new(meter, name.clone(), weak_state.clone())));
        let text = |value: String| StringValue::from(Arc::<str>::from(value));
        let shared = Shared {
            tracer: self.tracer,
            system,
            namespace: target.namespace.map(text),
            server_address: target.address.map(text),
            server_port: target.port,
            pool_name,
            query_text: self.query_text,
            returned_rows: self.returned_rows,
            require_sampled_parent: self.require_sampled_parent,
            wait_threshold: self.wait_threshold,
            sqlcommenter: self.sqlcommenter,
            cache: StatementCache::new(
                self.statement_cache,
                target.dialect,
                system,
                self.max_query_text,
                self.sanitize_query_text,
            ),
            metrics,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
        };
        TracedPool { pool, shared: Arc::new(shared), _state: state }
    }
}
