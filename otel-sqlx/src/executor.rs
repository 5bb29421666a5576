//! `sqlx::Executor` for `&TracedPool` and `&mut TracedConnection`, so `query(..).fetch_all(&pool)`,
//! `query_as`, `fetch` streams and `execute` work on them unchanged.
//!
//! Only the trait's required methods are implemented (`fetch_many`, `fetch_optional`,
//! `prepare_with`, `describe`): sqlx's provided methods (`fetch_all`, `fetch_one`, `fetch`,
//! `execute`, ...) are built on them, exactly as for sqlx's own pool, so each call is one span.
//!
//! The pool acquires the connection itself (sqlx's pool does too), which is what lets the query
//! span see the pool wait.

use crate::commenter;
use crate::connection::TracedConnection;
use crate::database::TracedDatabase;
use crate::operation::{Operation, Shared};
use crate::pool::{TracedPool, acquire};
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use opentelemetry::trace::Tracer;
use sqlx::error::BoxDynError;
use sqlx::{AssertSqlSafe, Database, Either, Error, Execute, Executor, SqlSafeStr, SqlStr};
use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

/// A query taken apart: `Execute::sql` consumes the query, and the span needs its text before
/// the driver runs it. The driver reads back exactly what the original would have given it.
pub(crate) struct RebuiltQuery<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> RebuiltQuery<DB> {
    fn split<'q, E: Execute<'q, DB>>(mut query: E) -> Self {
        let statement = query.statement().cloned();
        // Before `persistent`: a `Map` (what `query!`/`query_as!` build) reports persistence
        // from whether its arguments are still there, and drivers take them first.
        let arguments = query.take_arguments();
        let persistent = query.persistent();
        Self { sql: query.sql(), statement, arguments: Some(arguments), persistent }
    }

    /// Appends the sqlcommenter comment. The text is then unique to this execution: it is
    /// not prepared for reuse (it would only evict useful statements from the cache).
    fn comment(&mut self, cx: &opentelemetry::trace::SpanContext) {
        let commented = commenter::append(self.sql.as_str(), cx);
        self.sql = AssertSqlSafe(commented).into_sql_str();
        self.statement = None;
        self.persistent = false;
    }
}

impl<DB: Database> Execute<'_, DB> for RebuiltQuery<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

impl<T> Shared<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Takes `query` apart and starts its operation (adding the sqlcommenter comment when on).
    fn begin_query<'q, DB, E>(&self, query: E) -> (RebuiltQuery<DB>, Option<Operation<'_, T>>)
    where
        DB: Database,
        E: Execute<'q, DB>,
    {
        let mut query = RebuiltQuery::split(query);
        let (operation, comment_context) = self.start_commented(query.sql.as_str());
        if let Some(cx) = &comment_context {
            query.comment(cx);
        }
        (query, operation)
    }
}

type Step<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

fn rows<DB: Database>(step: &Step<DB>) -> u64 {
    u64::from(step.is_right())
}

impl<'p, DB, T> Executor<'p> for &'p TracedPool<DB, T>
where
    DB: TracedDatabase,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step<DB>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (query, operation) = self.shared.begin_query(query);
        let Some(mut operation) = operation else {
            return self.pool.fetch_many(query);
        };
        let (pool, shared) = (&self.pool, &*self.shared);
        let slot = Arc::new(Mutex::new(None));
        let yielder = Yielder(Arc::clone(&slot));
        Box::pin(Generator {
            slot,
            done: false,
            future: async move {
                let (connection, wait) = acquire(shared, pool).await;
                operation.acquired(wait, matches!(connection, Err(Error::PoolTimedOut)));
                let (mut connection, _use_time) = match connection {
                    Ok(connection) => connection,
                    Err(error) => {
                        operation.finish(Err(&error));
                        return Err(error);
                    }
                };
                let mut steps = (&mut *connection).fetch_many(query);
                loop {
                    match steps.next().await {
                        Some(Ok(step)) => {
                            operation.add_rows(rows::<DB>(&step));
                            yielder.send(step).await;
                        }
                        Some(Err(error)) => {
                            operation.finish(Err(&error));
                            return Err(error);
                        }
                        None => {
                            operation.finish(Ok(()));
                            return Ok(());
                        }
                    }
                }
            },
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (query, operation) = self.shared.begin_query(query);
        let Some(mut operation) = operation else {
            return self.pool.fetch_optional(query);
        };
        let (pool, shared) = (&self.pool, &*self.shared);
        Box::pin(async move {
            let (connection, wait) = acquire(shared, pool).await;
            operation.acquired(wait, matches!(connection, Err(Error::PoolTimedOut)));
            let (mut connection, _use_time) = match connection {
                Ok(connection) => connection,
                Err(error) => {
                    operation.finish(Err(&error));
                    return Err(error);
                }
            };
            let result = (&mut *connection).fetch_optional(query).await;
            finish_optional(operation, &result);
            result
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'p: 'e,
    {
        let Some(mut operation) = self.shared.start(sql.as_str()) else {
            return self.pool.prepare_with(sql, parameters);
        };
        let (pool, shared) = (&self.pool, &*self.shared);
        Box::pin(async move {
            let (connection, wait) = acquire(shared, pool).await;
            operation.acquired(wait, matches!(connection, Err(Error::PoolTimedOut)));
            let result = match connection {
                Ok((mut connection, _use_time)) => (&mut *connection).prepare_with(sql, parameters).await,
                Err(error) => Err(error),
            };
            operation.finish(result.as_ref().map(|_| ()));
            result
        })
    }

    #[doc(hidden)]
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, Error>>
    where
        'p: 'e,
    {
        // What the query macros use at compile time: not traced.
        self.pool.describe(sql)
    }
}

fn finish_optional<T: Tracer, R>(mut operation: Operation<'_, T>, result: &Result<Option<R>, Error>) {
    match result {
        Ok(row) => {
            operation.add_rows(u64::from(row.is_some()));
            operation.finish(Ok(()));
        }
        Err(error) => operation.finish(Err(error)),
    }
}

/// `&mut TracedConnection` as an executor, written once per database: a generic impl bounded on
/// `&mut DB::Connection: Executor` would make the trait solver recurse through it when user code
/// has that (common) bound with an unknown connection type (sqlx avoids it the same way).
macro_rules! connection_executor {
    ($db:ty, $cfg:meta) => {
        #[cfg($cfg)] // on the impl, so that docs.rs shows the feature
        impl<'c, C, T> Executor<'c> for &'c mut TracedConnection<$db, C, T>
        where
            C: DerefMut<Target = <$db as Database>::Connection> + Send + std::fmt::Debug,
            T: Tracer + Send + Sync + 'static,
            T::Span: Send + Sync + 'static,
        {
            type Database = $db;

            fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step<$db>, Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, $db>,
            {
                let (inner, shared) = self.parts();
                let (query, operation) = shared.begin_query(query);
                let steps = inner.fetch_many(query);
                match operation {
                    None => steps,
                    Some(operation) => Box::pin(Observed { steps, operation: Some(operation) }),
                }
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<<$db as Database>::Row>, Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, $db>,
            {
                let (inner, shared) = self.parts();
                let (query, operation) = shared.begin_query(query);
                let row = inner.fetch_optional(query);
                match operation {
                    None => row,
                    Some(operation) => Box::pin(async move {
                        let result = row.await;
                        finish_optional(operation, &result);
                        result
                    }),
                }
            }

            fn prepare_with<'e>(
                self,
                sql: SqlStr,
                parameters: &'e [<$db as Database>::TypeInfo],
            ) -> BoxFuture<'e, Result<<$db as Database>::Statement, Error>>
            where
                'c: 'e,
            {
                let (inner, shared) = self.parts();
                let operation = shared.start(sql.as_str());
                let statement = inner.prepare_with(sql, parameters);
                match operation {
                    None => statement,
                    Some(operation) => Box::pin(async move {
                        let result = statement.await;
                        operation.finish(result.as_ref().map(|_| ()));
                        result
                    }),
                }
            }

            #[doc(hidden)]
            fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<$db>, Error>>
            where
                'c: 'e,
            {
                let (inner, _) = self.parts();
                inner.describe(sql)
            }
        }
    };
}

connection_executor!(sqlx::Postgres, feature = "postgres");
connection_executor!(sqlx::MySql, feature = "mysql");
connection_executor!(sqlx::Sqlite, feature = "sqlite");
connection_executor!(sqlx::Any, feature = "any");

/// A connection's result stream with its operation: rows counted, the first error recorded, the
/// span ended when the stream ends or is dropped.
struct Observed<'s, S, T: Tracer> {
    steps: S,
    operation: Option<Operation<'s, T>>,
}

impl<S, T, Done, Row> Stream for Observed<'_, S, T>
where
    S: Stream<Item = Result<Either<Done, Row>, Error>> + Unpin,
    T: Tracer,
{
    type Item = Result<Either<Done, Row>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.steps.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(step))) => {
                if let Some(operation) = &mut this.operation {
                    operation.add_rows(u64::from(step.is_right()));
                }
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(operation) = this.operation.take() {
                    operation.finish(Err(error));
                }
            }
            Poll::Ready(None) => {
                if let Some(operation) = this.operation.take() {
                    operation.finish(Ok(()));
                }
            }
            Poll::Pending => {}
        }
        next
    }
}

impl<S, T: Tracer> Unpin for Observed<'_, S, T> where S: Unpin {}

/// Hands one item at a time from a generator future to its stream.
struct Yielder<I>(Arc<Mutex<Option<I>>>);

impl<I> Yielder<I> {
    /// Stores `item` and suspends once, so the stream can hand it out.
    async fn send(&self, item: I) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(item);
        let mut suspended = false;
        std::future::poll_fn(|_| {
            if suspended {
                Poll::Ready(())
            } else {
                suspended = true;
                Poll::Pending
            }
        })
        .await;
    }
}

pin_project_lite::pin_project! {
    /// A stream written as a future: the future owns the pool connection and the stream that
    /// borrows it (which a struct could not hold safely), and yields through a [`Yielder`].
    struct Generator<I, F> {
        slot: Arc<Mutex<Option<I>>>,
        done: bool,
        #[pin]
        future: F,
    }
}

impl<I, F> Stream for Generator<I, F>
where
    F: Future<Output = Result<(), Error>>,
{
    type Item = Result<I, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.future.poll(cx) {
            Poll::Ready(result) => {
                *this.done = true;
                Poll::Ready(result.err().map(Err))
            }
            // Suspended after a `send` (the item is in the slot; the consumer polls again for
            // the next), or waiting for the database (the waker is registered).
            Poll::Pending => {
                let item = this.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
                item.map_or(Poll::Pending, |item| Poll::Ready(Some(Ok(item))))
            }
        }
    }
}
