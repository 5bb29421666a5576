//! Traced connections and transactions taken from a `TracedPool`.
//!
//! sqlx 0.9 runs queries on `&mut *conn` and `&mut *tx` (they dereference to the driver's
//! connection). Here they dereference to a [`TracedConnection`], whose `&mut` is an executor that
//! traces, so the same code keeps working and is traced.

use crate::metrics::UseTime;
use crate::operation::Shared;
use opentelemetry::trace::Tracer;
use otel_core::global::GlobalTracer;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Error, Transaction};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A connection whose `&mut` is a traced [`sqlx::Executor`]. `C` holds the driver's connection:
/// a `PoolConnection` (from [`crate::TracedPool::acquire`]) or a `Transaction` (from
/// [`crate::TracedPool::begin`]).
///
/// It dereferences to the driver's connection for its own methods; a function that takes
/// `&mut PgConnection` still accepts `&mut *conn` (by deref coercion) but its queries are then
/// not traced: take `impl sqlx::Executor<'_, Database = Postgres>` to keep them traced.
pub struct TracedConnection<DB: Database, C, T = GlobalTracer> {
    inner: C,
    shared: Arc<Shared<T>>,
    _use_time: UseTime,
    _db: PhantomData<fn() -> DB>,
}

impl<DB: Database, C, T> TracedConnection<DB, C, T> {
    pub(crate) fn new(inner: C, shared: Arc<Shared<T>>, use_time: UseTime) -> Self {
        Self { inner, shared, _use_time: use_time, _db: PhantomData }
    }

    /// The driver's connection and the shared settings, borrowed apart.
    pub(crate) fn parts(&mut self) -> (&mut DB::Connection, &Shared<T>)
    where
        C: DerefMut<Target = DB::Connection>,
    {
        (&mut *self.inner, &self.shared)
    }
}

impl<DB: Database, C: DerefMut<Target = DB::Connection>, T> Deref for TracedConnection<DB, C, T> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.inner
    }
}

impl<DB: Database, C: DerefMut<Target = DB::Connection>, T> DerefMut for TracedConnection<DB, C, T> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.inner
    }
}

impl<DB: Database, C: fmt::Debug, T> fmt::Debug for TracedConnection<DB, C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedConnection").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// A connection taken from a [`crate::TracedPool`]; `&mut *conn` is a traced executor. It goes
/// back to the pool when dropped.
pub struct TracedPoolConnection<DB: Database, T = GlobalTracer>(TracedConnection<DB, PoolConnection<DB>, T>);

impl<DB: Database, T> TracedPoolConnection<DB, T> {
    pub(crate) fn new(connection: TracedConnection<DB, PoolConnection<DB>, T>) -> Self {
        Self(connection)
    }

    /// Unwraps the pool connection (its queries are not traced).
    pub fn into_inner(self) -> PoolConnection<DB> {
        self.0.inner
    }
}

impl<DB: Database, T> Deref for TracedPoolConnection<DB, T> {
    type Target = TracedConnection<DB, PoolConnection<DB>, T>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<DB: Database, T> DerefMut for TracedPoolConnection<DB, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<DB: Database, T> fmt::Debug for TracedPoolConnection<DB, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TracedPoolConnection").field(&self.0).finish()
    }
}

/// A transaction begun by [`crate::TracedPool::begin`]; `&mut *tx` is a traced executor.
/// [`TracedTransaction::commit`] and [`TracedTransaction::rollback`] are `COMMIT` and `ROLLBACK`
/// spans. Dropped without either, sqlx rolls it back (no span records that).
pub struct TracedTransaction<DB: Database, T = GlobalTracer>(TracedConnection<DB, Transaction<'static, DB>, T>);

impl<DB: Database, T> TracedTransaction<DB, T> {
    pub(crate) fn new(connection: TracedConnection<DB, Transaction<'static, DB>, T>) -> Self {
        Self(connection)
    }

    /// Unwraps the transaction (its queries are not traced).
    pub fn into_inner(self) -> Transaction<'static, DB> {
        self.0.inner
    }
}

impl<DB: Database, T> TracedTransaction<DB, T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Commits the transaction: a `COMMIT` span.
    pub async fn commit(self) -> Result<(), Error> {
        let TracedConnection { inner, shared, _use_time, .. } = self.0;
        let operation = shared.start("COMMIT");
        let result = inner.commit().await;
        if let Some(operation) = operation {
            operation.finish(result.as_ref().map(|_| ()));
        }
        result
    }

    /// Rolls the transaction back: a `ROLLBACK` span.
    pub async fn rollback(self) -> Result<(), Error> {
        let TracedConnection { inner, shared, _use_time, .. } = self.0;
        let operation = shared.start("ROLLBACK");
        let result = inner.rollback().await;
        if let Some(operation) = operation {
            operation.finish(result.as_ref().map(|_| ()));
        }
        result
    }
}

impl<DB: Database, T> Deref for TracedTransaction<DB, T> {
    type Target = TracedConnection<DB, Transaction<'static, DB>, T>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<DB: Database, T> DerefMut for TracedTransaction<DB, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<DB: Database, T> fmt::Debug for TracedTransaction<DB, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TracedTransaction").field(&self.0).finish()
    }
}
