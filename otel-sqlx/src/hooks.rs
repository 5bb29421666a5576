//! What request and response hooks see of an operation: the statement as written, and how the
//! operation ended. Never the bound parameter values.

use otel_core::hooks::{RequestHook, ResponseHook};
use std::sync::Arc;

/// What an operation is about, for a request hook ([`crate::TracedPoolBuilder::request_hook`]).
///
/// It holds no bound parameter values: sqlx encodes them into driver buffers that cannot be read
/// back, and they would be the values the query text keeps apart.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SqlRequest<'a> {
    /// The statement as the application wrote it: before the sqlcommenter comment, neither
    /// sanitized nor capped, so it holds whatever literals the application wrote inline (the
    /// recorded `db.query.text` has them replaced unless the text takes bind parameters).
    /// `BEGIN`, `COMMIT` or `ROLLBACK` for a transaction's own spans.
    pub sql: &'a str,
    /// `db.query.summary`, also the span's name (`SELECT documents`); `None` when the statement
    /// has nothing recognisable (the span is then named after the database system).
    pub summary: Option<&'a str>,
    /// `db.system.name`: `postgresql`, `mysql`, `mariadb` or `sqlite`.
    pub db_system_name: &'static str,
    /// `db.namespace`: the database's name, or a SQLite file's path (`None` for SQLite in memory).
    pub db_namespace: Option<&'a str>,
}

/// How an operation ended, for a response hook ([`crate::TracedPoolBuilder::response_hook`]).
///
/// It is what the driver answered to the traced executor. sqlx's `fetch_one` turns an empty
/// answer into `sqlx::Error::RowNotFound` above that executor, so a `fetch_one` finding no row
/// is `Done { returned_rows: 0 }` here (and not a failure of the span either).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum SqlResponse<'a> {
    /// The operation completed.
    #[non_exhaustive]
    Done {
        /// The rows the database returned, counted as they arrived (0 for a statement that
        /// returns none, such as an `INSERT` without `RETURNING`, and for `BEGIN` or `COMMIT`).
        returned_rows: u64,
    },
    /// The operation failed with this error, which the application receives unchanged.
    Error(&'a sqlx::Error),
}

/// A request hook as the shared settings hold it: type-erased, so that hooks do not show in the
/// pool's type (`TracedPool<Postgres>` stays nameable in application state).
pub(crate) type RequestHookFn = Arc<dyn for<'a> RequestHook<SqlRequest<'a>>>;

/// A response hook as the shared settings hold it (type-erased, as [`RequestHookFn`]).
pub(crate) type ResponseHookFn = Arc<dyn for<'a> ResponseHook<SqlResponse<'a>>>;
