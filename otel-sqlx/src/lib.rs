//! OpenTelemetry for sqlx: a traced pool that works wherever a pool does.
//!
//! Replace `PgPool::connect(url)` with [`TracedPgPool::connect`] (or wrap an existing pool with
//! [`TracedPool::new`] / [`TracedPool::builder`]); every `query(..).fetch_all(&pool)`,
//! `query_as`, `fetch` stream and `execute`, and every query on `&mut *conn` (from
//! [`TracedPool::acquire`]) and `&mut *tx` (from [`TracedPool::begin`]), becomes a CLIENT span per
//! the database semantic conventions:
//!
//! - name and `db.query.summary`: the operations and tables of the statement
//!   (`SELECT documents`, `INSERT shipping_details SELECT orders`), from a small SQL tokenizer,
//!   computed once per statement text;
//! - `db.system.name` (`postgresql`, `mysql`, `mariadb`, `sqlite`), `db.namespace`,
//!   `server.address`, `server.port` (when not the default);
//! - `db.query.text`: a text that takes bind parameters as written (`$1`/`?`: the values travel
//!   apart), any other with its inline literals replaced by `?`; never parameter values;
//! - the time the query waited for a pool connection ([`POOL_WAIT_ATTRIBUTE`]), and a child span
//!   ([`POOL_WAIT_SPAN_NAME`]) when that wait passed a threshold;
//! - on failure, `db.response.status_code` (the SQLSTATE, or SQLite's result code) and
//!   `error.type`; opt-in `db.response.returned_rows`.
//!
//! Transactions record `BEGIN`, `COMMIT` and `ROLLBACK` spans. Options: [`TracedPoolBuilder`];
//! [`TracedPoolBuilder::request_hook`] and [`TracedPoolBuilder::response_hook`] add the
//! application's own attributes from the statement ([`SqlRequest`]) and its outcome
//! ([`SqlResponse`]).
//!
//! # Features
//!
//! As with sqlx, no database is on by default: turn on the ones the application uses.
//!
//! | feature | database | alias |
//! |---|---|---|
//! | `postgres` | PostgreSQL | `TracedPgPool` |
//! | `mysql` | MySQL and MariaDB | `TracedMySqlPool` |
//! | `sqlite` | SQLite, bundled (built from source) | `TracedSqlitePool` |
//! | `any` | sqlx's `Any` driver: the database named by the URL at run time | `TracedAnyPool` |
//!
//! With `any`, call `sqlx::any::install_default_drivers()` before connecting (as with sqlx's
//! `AnyPool`), with the drivers' features on too (here or in sqlx). The database is read from the
//! URL's scheme (`postgres:`/`postgresql:`, `mysql:`/`mariadb:`, `sqlite:`), and the server,
//! port and database from the URL, never its user or password.

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without a database feature the crate builds but has nothing to trace: what serves the databases
// is unused then.
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite", feature = "any")),
    allow(dead_code, unused_imports, unused_macros)
)]

mod cache;
mod commenter;
mod connection;
mod database;
mod executor;
mod hooks;
mod metrics;
mod operation;
mod pool;
mod sql;

pub use connection::{TracedConnection, TracedPoolConnection, TracedTransaction};
pub use database::TracedDatabase;
pub use hooks::{SqlRequest, SqlResponse};
pub use operation::{POOL_WAIT_ATTRIBUTE, POOL_WAIT_SPAN_NAME};
pub use pool::{TracedPool, TracedPoolBuilder};

/// Entry points of the fuzz targets (`fuzz/`), compiled only in cargo-fuzz's builds
/// (`--cfg fuzzing`): the public API of a normal build does not have them.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::sql::Dialect;

    /// The longest `db.query.summary`, in bytes.
    pub const MAX_SUMMARY: usize = crate::sql::MAX_SUMMARY;

    /// What the spans take from a statement text (the crate's `sql::Analysis`).
    #[derive(Debug)]
    pub struct Analysis {
        /// `db.query.summary`.
        pub summary: String,
        /// The text with its literals replaced by `?`, when it has any.
        pub sanitized: Option<String>,
        /// Whether the text takes bind parameters.
        pub parameterized: bool,
        /// Whether the text holds a comment.
        pub has_comment: bool,
    }

    /// Analyses `sql` as the spans do.
    pub fn analyze(sql: &str, dialect: Dialect) -> Analysis {
        let crate::sql::Analysis { summary, sanitized, parameterized, has_comment } = crate::sql::analyze(sql, dialect);
        Analysis { summary, sanitized, parameterized, has_comment }
    }

    /// `text` cut to at most `max` bytes, as the recorded query text is.
    pub fn truncate(text: &str, max: usize) -> String {
        crate::sql::truncate(text, max).into_owned()
    }
}

/// A traced PostgreSQL pool (`PgPool`).
#[cfg(feature = "postgres")]
pub type TracedPgPool<T = otel_core::global::GlobalTracer> = TracedPool<sqlx::Postgres, T>;

/// A traced MySQL or MariaDB pool (`MySqlPool`).
#[cfg(feature = "mysql")]
pub type TracedMySqlPool<T = otel_core::global::GlobalTracer> = TracedPool<sqlx::MySql, T>;

/// A traced SQLite pool (`SqlitePool`).
#[cfg(feature = "sqlite")]
pub type TracedSqlitePool<T = otel_core::global::GlobalTracer> = TracedPool<sqlx::Sqlite, T>;

/// A traced pool of sqlx's `Any` driver (`AnyPool`): the database is the one the URL names.
///
/// Call `sqlx::any::install_default_drivers()` first, as for `AnyPool`. `db.system.name` and the
/// SQL dialect come from the URL's scheme (`postgres:` or `postgresql:`, `mysql:` or `mariadb:`
/// (MariaDB told apart by asking the server, as for MySQL), `sqlite:`; `other_sql` for any other),
/// `server.address`, `server.port` (when not the default) and `db.namespace` from the URL.
///
/// ```no_run
/// # async fn run() -> Result<(), sqlx::Error> {
/// use otel_sqlx::TracedAnyPool;
///
/// sqlx::any::install_default_drivers();
/// let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
/// let pool = TracedAnyPool::connect(&url).await?; // was: AnyPool::connect
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?; // span "SELECT"
/// # Ok(()) }
/// ```
#[cfg(feature = "any")]
pub type TracedAnyPool<T = otel_core::global::GlobalTracer> = TracedPool<sqlx::Any, T>;

// The README's examples are compiled as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
