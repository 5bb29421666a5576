//! The documents table, behind otel-sqlx: an embedded SQLite database by default, PostgreSQL with
//! `--services`. sqlx's `Any` driver takes either from the URL, so the queries are written once
//! (`$1` placeholders, which both accept).
//!
//! The pool has one connection, and saving a document holds it (in a transaction) while the
//! chunks are indexed: concurrent uploads wait for it, and their traces show the
//! `db.client.connection.wait` span that explains why they were slow.

use super::pipeline::{StepError, step};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_sqlx::TracedAnyPool;
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

/// How long saving a document keeps the connection after writing the row: the chunks' search
/// entries are written in the same transaction.
const INDEXING: Duration = Duration::from_millis(40);

/// The embedded database: SQLite in memory (one connection, which keeps the database alive).
pub const EMBEDDED_DATABASE: &str = "sqlite::memory:";

/// A document as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    /// `pdf`, `docx` or `text`.
    pub kind: String,
    /// How many chunks it was cut into.
    pub chunks: i64,
    /// How many vectors came back from `ml-service`.
    pub vectors: i64,
    /// Whether the indexer processed its `document.stored` event (only with `--services`).
    pub indexed: bool,
}

/// The documents table of one service, with its own traced pool.
#[derive(Clone)]
pub(crate) struct Store {
    pool: TracedAnyPool<SdkTracer>,
}

/// A failed statement, as a pipeline step reports it.
#[derive(Debug)]
pub(crate) struct StoreError(sqlx::Error);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl StepError for StoreError {
    fn error_type(&self) -> &'static str {
        "database_error"
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self(error)
    }
}

impl Store {
    /// Opens the database at `url` with one connection, traced with `provider`, and creates the
    /// table (outside any trace).
    pub(crate) async fn open(url: &str, provider: &SdkTracerProvider) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            // An in-memory SQLite database lives as long as its connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await?;
        let pool = TracedAnyPool::builder().tracer_provider(provider).pool_name("documents").build(pool);
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, kind TEXT NOT NULL, \
             chunks BIGINT NOT NULL, vectors BIGINT NOT NULL, indexed BIGINT NOT NULL DEFAULT 0)",
        )
        .execute(pool.inner())
        .await?;
        Ok(Self { pool })
    }

    /// Saves a document: the row, then its chunks' search entries, in one transaction, under the
    /// current span.
    pub(crate) async fn save(&self, tracer: &SdkTracer, name: &str, stored: &Stored) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO documents (name, kind, chunks, vectors, indexed) VALUES ($1, $2, $3, $4, 0) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, chunks = excluded.chunks, \
             vectors = excluded.vectors, indexed = 0",
        )
        .bind(name)
        .bind(&stored.kind)
        .bind(stored.chunks)
        .bind(stored.vectors)
        .execute(&mut *transaction)
        .await?;
        step(tracer, "index chunks", |_| async {
            tokio::time::sleep(INDEXING).await;
            Ok::<_, StoreError>(())
        })
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The document named `name`, if stored.
    pub(crate) async fn find(&self, name: &str) -> Result<Option<Stored>, sqlx::Error> {
        let row: Option<(String, i64, i64, i64)> =
            sqlx::query_as("SELECT kind, chunks, vectors, indexed FROM documents WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(kind, chunks, vectors, indexed)| Stored { kind, chunks, vectors, indexed: indexed != 0 }))
    }

    /// Marks the document named `name` as indexed.
    #[cfg(feature = "kafka")]
    pub(crate) async fn mark_indexed(&self, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE documents SET indexed = 1 WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(())
    }
}
