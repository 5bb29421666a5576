//! Real databases over loopback (PostgreSQL, MariaDB/MySQL) and SQLite in a temporary file, each
//! through its typed pool and through sqlx's `Any` driver: every test asserts the exported spans
//! (names, kinds, complete attribute sets, statuses, parents).
//!
//! PostgreSQL: `DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/test` (then user `root`).
//! MariaDB/MySQL: `MYSQL_URL`, else `mysql://root@127.0.0.1:3306/test`. Start both with
//! `scripts/services.sh start`. Each test creates its own uniquely named tables.

mod support;

use futures_util::TryStreamExt;
use opentelemetry::trace::{FutureExt, SpanKind, SpanRef, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::trace::{Sampler, SdkTracer};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::testing::{FinishedSpans, SpanRecorder, SpanView, remote_context};
use otel_sqlx::{POOL_WAIT_ATTRIBUTE, POOL_WAIT_SPAN_NAME, SqlRequest, SqlResponse, TracedPool, TracedPoolBuilder};
use sqlx::{AssertSqlSafe, Database, Pool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

/// A name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[derive(sqlx::FromRow, Debug, PartialEq)]
struct Person {
    id: i32,
    name: String,
}

/// The attributes every span of a pool carries, and what differs per database.
struct Flavor {
    base: Vec<KeyValue>,
    /// The n-th placeholder (1-based).
    placeholder: fn(usize) -> String,
    syntax_error: &'static str,
    unique_violation: &'static str,
    /// The code of a query on a table that does not exist.
    missing_table: &'static str,
    name_type: &'static str,
    system: &'static str,
}

fn dollar(n: usize) -> String {
    format!("${n}")
}

fn question(_: usize) -> String {
    "?".to_owned()
}

fn base(system: &'static str, namespace: Option<&str>, address: Option<&str>, port: Option<u16>) -> Vec<KeyValue> {
    let mut base = vec![KeyValue::new(semconv::DB_SYSTEM_NAME, system)];
    if let Some(namespace) = namespace {
        base.push(KeyValue::new(semconv::DB_NAMESPACE, namespace.to_owned()));
    }
    if let Some(address) = address {
        base.push(KeyValue::new(semconv::SERVER_ADDRESS, address.to_owned()));
    }
    if let Some(port) = port {
        base.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
    base
}

async fn postgres() -> (Pool<sqlx::Postgres>, Flavor) {
    let (pool, flavor, _) = postgres_at().await;
    (pool, flavor)
}

/// The PostgreSQL pool, its flavor, and the URL that reached it.
async fn postgres_at() -> (Pool<sqlx::Postgres>, Flavor, String) {
    let candidates = support::postgres_candidates();
    let mut last = None;
    for url in &candidates {
        match Pool::<sqlx::Postgres>::connect(url).await {
            Ok(pool) => {
                let options = pool.connect_options();
                let port = Some(options.get_port()).filter(|&p| p != 5432);
                let namespace = options.get_database().unwrap_or(options.get_username()).to_owned();
                let flavor = Flavor {
                    base: base("postgresql", Some(&namespace), Some(options.get_host()), port),
                    placeholder: dollar,
                    syntax_error: "42601",
                    unique_violation: "23505",
                    missing_table: "42P01",
                    name_type: "TEXT",
                    system: "postgresql",
                };
                return (pool, flavor, url.clone());
            }
            Err(error) => last = Some(error),
        }
    }
    panic!(
        "PostgreSQL is not reachable at {candidates:?} ({last:?}): start it with `scripts/services.sh start` \
         (or set DATABASE_URL)"
    );
}

fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

async fn mariadb() -> (Pool<sqlx::MySql>, Flavor) {
    let url = mysql_url();
    let pool = Pool::<sqlx::MySql>::connect(&url).await.unwrap_or_else(|error| {
        panic!(
            "MariaDB/MySQL is not reachable at {url} ({error}): start it with `scripts/services.sh start` \
             (or set MYSQL_URL)"
        )
    });
    let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&pool).await.unwrap();
    let system = if version.contains("MariaDB") { "mariadb" } else { "mysql" };
    let options = pool.connect_options();
    let port = Some(options.get_port()).filter(|&p| p != 3306);
    let flavor = Flavor {
        base: base(system, options.get_database(), Some(options.get_host()), port),
        placeholder: question,
        syntax_error: "42000",
        unique_violation: "23000",
        missing_table: "42S02",
        name_type: "VARCHAR(64)",
        system,
    };
    (pool, flavor)
}

async fn sqlite() -> (Pool<sqlx::Sqlite>, Flavor) {
    let (url, flavor) = sqlite_file();
    let pool = Pool::<sqlx::Sqlite>::connect(&url).await.expect("a SQLite file in the temporary directory");
    (pool, flavor)
}

/// A new SQLite file's URL, and its flavor.
fn sqlite_file() -> (String, Flavor) {
    let path = std::env::temp_dir().join(format!("{}.db", unique("otel_sqlx")));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let flavor = Flavor {
        base: base("sqlite", Some(&path.to_string_lossy()), None, None),
        placeholder: question,
        syntax_error: "1",
        unique_violation: "1555", // SQLITE_CONSTRAINT_PRIMARYKEY
        missing_table: "1",       // SQLITE_ERROR
        name_type: "TEXT",
        system: "sqlite",
    };
    (url, flavor)
}

// sqlx's `Any` driver on the same databases: the spans must be those of the typed pools (the
// system, dialect, server and database read from the URL), except that PostgreSQL's database is
// only the URL's (never the user's name).

fn any_pool_options() -> sqlx::any::AnyPoolOptions {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
}

async fn any_postgres() -> (Pool<sqlx::Any>, Flavor) {
    let (typed, mut flavor, url) = postgres_at().await;
    let options = typed.connect_options();
    flavor.base = base(
        "postgresql",
        options.get_database(),
        Some(options.get_host()),
        Some(options.get_port()).filter(|&p| p != 5432),
    );
    let pool = any_pool_options().connect(&url).await.unwrap_or_else(|error| panic!("Any on {url}: {error}"));
    (pool, flavor)
}

async fn any_mariadb() -> (Pool<sqlx::Any>, Flavor) {
    let (_, flavor) = mariadb().await;
    let url = mysql_url();
    let pool = any_pool_options().connect(&url).await.unwrap_or_else(|error| panic!("Any on {url}: {error}"));
    (pool, flavor)
}

async fn any_sqlite() -> (Pool<sqlx::Any>, Flavor) {
    let (url, flavor) = sqlite_file();
    let pool = any_pool_options().connect(&url).await.expect("a SQLite file in the temporary directory");
    (pool, flavor)
}

fn traced<DB: otel_sqlx::TracedDatabase>(
    pool: &Pool<DB>,
    flavor: &Flavor,
    recorder: &SpanRecorder,
    settings: impl FnOnce(TracedPoolBuilder<DB, SdkTracer>) -> TracedPoolBuilder<DB, SdkTracer>,
) -> TracedPool<DB, SdkTracer> {
    // Waits for a connection vary under parallel tests: only the wait test sets a short threshold.
    let builder =
        TracedPool::<DB>::builder().tracer_provider(recorder.provider()).pool_wait_threshold(Duration::from_secs(60));
    settings(builder).mariadb(flavor.system == "mariadb").build(pool.clone())
}

/// The expected attributes of a query span.
fn expected(flavor: &Flavor, summary: Option<&str>, text: &str, extra: &[KeyValue]) -> Vec<KeyValue> {
    let mut attributes = flavor.base.clone();
    if let Some(summary) = summary {
        attributes.push(KeyValue::new(semconv::DB_QUERY_SUMMARY, summary.to_owned()));
    }
    attributes.push(KeyValue::new(semconv::DB_QUERY_TEXT, text.to_owned()));
    attributes.extend_from_slice(extra);
    attributes
}

/// Asserts a CLIENT span with exactly `attributes`, plus the pool wait when `pooled` (its value
/// is whatever was measured: a non-negative number of seconds).
#[track_caller]
fn assert_query<'a>(span: SpanView<'a>, mut attributes: Vec<KeyValue>, pooled: bool) -> SpanView<'a> {
    if pooled {
        let wait = span.attr(POOL_WAIT_ATTRIBUTE).cloned().unwrap_or_else(|| panic!("{:?} has no wait", span.name()));
        assert!(matches!(wait, Value::F64(w) if w >= 0.0), "wait of {:?}: {wait:?}", span.name());
        attributes.push(KeyValue::new(POOL_WAIT_ATTRIBUTE, wait));
    }
    span.assert_kind(SpanKind::Client).assert_attrs_exactly(&attributes)
}

async fn create_people<DB: Database>(pool: &Pool<DB>, flavor: &Flavor) -> String
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let table = unique("people");
    let ddl = format!("CREATE TABLE {table} (id INT PRIMARY KEY, name {} NOT NULL)", flavor.name_type);
    sqlx::raw_sql(AssertSqlSafe(ddl)).execute(pool).await.expect("create table");
    table
}

fn spans_named<'a>(spans: &'a FinishedSpans, name: &str, count: usize) -> Vec<SpanView<'a>> {
    let found = spans.named(name);
    assert_eq!(found.len(), count, "spans named {name:?}:\n{}", spans.describe());
    found
}

/// How often the hooks of [`with_hooks`] ran.
#[derive(Default)]
struct HookCalls {
    requests: Arc<AtomicUsize>,
    responses: Arc<AtomicUsize>,
}

impl HookCalls {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn responses(&self) -> usize {
        self.responses.load(Ordering::SeqCst)
    }
}

/// Hooks that copy what they see onto the span (`test.*` attributes) and count their calls.
fn with_hooks<DB, T>(builder: TracedPoolBuilder<DB, T>, calls: &HookCalls) -> TracedPoolBuilder<DB, T> {
    let (requests, responses) = (Arc::clone(&calls.requests), Arc::clone(&calls.responses));
    builder
        .request_hook(move |span: &SpanRef<'_>, request: &SqlRequest<'_>| {
            requests.fetch_add(1, Ordering::SeqCst);
            span.set_attribute(KeyValue::new("test.statement", request.sql.to_owned()));
            span.set_attribute(KeyValue::new("test.system", request.db_system_name));
            if let Some(summary) = request.summary {
                span.set_attribute(KeyValue::new("test.summary", summary.to_owned()));
            }
            if let Some(namespace) = request.db_namespace {
                span.set_attribute(KeyValue::new("test.namespace", namespace.to_owned()));
            }
        })
        .response_hook(move |span: &SpanRef<'_>, response: &SqlResponse<'_>| {
            responses.fetch_add(1, Ordering::SeqCst);
            match response {
                SqlResponse::Done { returned_rows, .. } => span.set_attribute(KeyValue::new(
                    "test.returned_rows",
                    i64::try_from(*returned_rows).unwrap_or(i64::MAX),
                )),
                SqlResponse::Error(error) => {
                    let code = error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
                    span.set_attribute(KeyValue::new("test.error", code.unwrap_or_else(|| format!("{error:?}"))));
                }
                _ => {}
            }
        })
}

/// Asserts what [`with_hooks`] recorded on a span that ended with `rows` returned.
#[track_caller]
fn assert_hooked<'a>(span: SpanView<'a>, flavor: &Flavor, sql: &str, summary: Option<&str>, rows: i64) -> SpanView<'a> {
    let span = span
        .assert_attr("test.statement", sql.to_owned())
        .assert_attr("test.system", flavor.system)
        .assert_attr("test.returned_rows", rows)
        .assert_no_attr("test.error");
    let span = match summary {
        Some(summary) => span.assert_attr("test.summary", summary.to_owned()),
        None => span.assert_no_attr("test.summary"),
    };
    match flavor.base.iter().find(|kv| kv.key.as_str() == semconv::DB_NAMESPACE) {
        Some(namespace) => span.assert_attr("test.namespace", namespace.value.clone()),
        None => span.assert_no_attr("test.namespace"),
    }
}

macro_rules! database_tests {
    ($module:ident, $connect:ident, $db:ty) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn select_insert_update_delete_cte_and_typed_queries() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b);
                let p = flavor.placeholder;

                let insert = format!("INSERT INTO {table} (id, name) VALUES ({}, {})", p(1), p(2));
                sqlx::query(AssertSqlSafe(insert.clone())).bind(1_i32).bind("ada").execute(&pool).await.unwrap();
                let inline = format!("INSERT INTO {table} (id, name) VALUES (2, 'bob')");
                sqlx::query(AssertSqlSafe(inline)).execute(&pool).await.unwrap();
                let select = format!("SELECT id, name FROM {table} WHERE id > {} ORDER BY id", p(1));
                let rows = sqlx::query(AssertSqlSafe(select.clone())).bind(0_i32).fetch_all(&pool).await.unwrap();
                assert_eq!(rows.len(), 2);
                let update = format!("UPDATE {table} SET name = {} WHERE id = {}", p(1), p(2));
                sqlx::query(AssertSqlSafe(update.clone())).bind("bea").bind(2_i32).execute(&pool).await.unwrap();
                let typed = format!("SELECT id, name FROM {table} WHERE id = {}", p(1));
                let person: Person =
                    sqlx::query_as(AssertSqlSafe(typed.clone())).bind(2_i32).fetch_one(&pool).await.unwrap();
                assert_eq!(person, Person { id: 2, name: "bea".into() });
                // What `query_as!` expands to: a `Map` (its own persistence rule).
                let mapped = format!("SELECT name FROM {table} WHERE id = {}", p(1));
                let name: Option<String> = sqlx::query(AssertSqlSafe(mapped.clone()))
                    .bind(1_i32)
                    .try_map(|row: <$db as Database>::Row| sqlx::Row::try_get(&row, 0))
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
                assert_eq!(name.as_deref(), Some("ada"));
                let cte =
                    format!("WITH recent AS (SELECT id FROM {table} WHERE id >= {}) SELECT count(*) FROM recent", p(1));
                let count: i64 =
                    sqlx::query_scalar(AssertSqlSafe(cte.clone())).bind(1_i32).fetch_one(&pool).await.unwrap();
                assert_eq!(count, 2);
                let delete = format!("DELETE FROM {table} WHERE id = {}", p(1));
                sqlx::query(AssertSqlSafe(delete.clone())).bind(1_i32).execute(&pool).await.unwrap();

                let spans = recorder.spans();
                spans.assert_count(8);
                let inserts = spans_named(&spans, &format!("INSERT {table}"), 2);
                let summary = format!("INSERT {table}");
                assert_query(inserts[0], expected(&flavor, Some(&summary), &insert, &[]), true).assert_status_unset();
                let sanitized = format!("INSERT INTO {table} (id, name) VALUES (?, ?)");
                assert_query(inserts[1], expected(&flavor, Some(&summary), &sanitized, &[]), true);
                let selects = spans_named(&spans, &format!("SELECT {table}"), 3);
                let summary = format!("SELECT {table}");
                assert_query(selects[0], expected(&flavor, Some(&summary), &select, &[]), true);
                assert_query(selects[1], expected(&flavor, Some(&summary), &typed, &[]), true);
                assert_query(selects[2], expected(&flavor, Some(&summary), &mapped, &[]), true);
                let summary = format!("UPDATE {table}");
                assert_query(spans.one(&summary), expected(&flavor, Some(&summary), &update, &[]), true);
                let summary = format!("SELECT {table} SELECT");
                assert_query(spans.one(&summary), expected(&flavor, Some(&summary), &cte, &[]), true);
                let summary = format!("DELETE {table}");
                assert_query(spans.one(&summary), expected(&flavor, Some(&summary), &delete, &[]), true)
                    .assert_status_unset();
                for span in spans.iter() {
                    span.assert_root();
                }
            }

            #[tokio::test]
            async fn a_parameterized_text_is_recorded_as_written_and_any_other_sanitized() {
                let (raw, flavor) = $connect().await;
                let recorder = SpanRecorder::new();
                let parameterized = format!("SELECT {} + 1", (flavor.placeholder)(1));
                for always in [false, true] {
                    recorder.reset();
                    let pool = traced(&raw, &flavor, &recorder, |b| b.sanitize_query_text(always));
                    sqlx::query(AssertSqlSafe(parameterized.clone())).bind(1_i32).fetch_all(&pool).await.unwrap();
                    sqlx::query("SELECT 2 + 1").fetch_all(&pool).await.unwrap();
                    let spans = recorder.spans();
                    let texts: Vec<String> = spans
                        .iter()
                        .filter_map(|s| s.attr(semconv::DB_QUERY_TEXT).map(|v| v.as_str().into_owned()))
                        .collect();
                    let expected_parameterized =
                        if always { parameterized.replace(" 1", " ?") } else { parameterized.clone() };
                    assert!(texts.contains(&expected_parameterized), "{texts:?}");
                    assert!(texts.contains(&"SELECT ? + ?".to_owned()), "no parameter: sanitized, {texts:?}");
                }
            }

            #[tokio::test]
            async fn returned_rows_are_opt_in() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let insert = format!("INSERT INTO {table} (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
                sqlx::raw_sql(AssertSqlSafe(insert)).execute(&raw).await.unwrap();
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b.returned_rows(true));
                let select = format!("SELECT id FROM {table}");
                sqlx::query(AssertSqlSafe(select.clone())).fetch_all(&pool).await.unwrap();
                let spans = recorder.spans();
                let summary = format!("SELECT {table}");
                let rows = KeyValue::new(semconv::DB_RESPONSE_RETURNED_ROWS, 3_i64);
                assert_query(spans.one(&summary), expected(&flavor, Some(&summary), &select, &[rows]), true);
            }

            #[tokio::test]
            async fn transactions_commit_and_roll_back() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b);
                let p = flavor.placeholder;
                let insert = format!("INSERT INTO {table} (id, name) VALUES ({}, {})", p(1), p(2));

                let mut tx = pool.begin().await.unwrap();
                sqlx::query(AssertSqlSafe(insert.clone())).bind(1_i32).bind("kept").execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(AssertSqlSafe(insert.clone())).bind(2_i32).bind("gone").execute(&mut *tx).await.unwrap();
                tx.rollback().await.unwrap();

                let count = format!("SELECT count(*) FROM {table}");
                let rows: i64 = sqlx::query_scalar(AssertSqlSafe(count)).fetch_one(&raw).await.unwrap();
                assert_eq!(rows, 1, "one committed, one rolled back");
                let spans = recorder.spans();
                spans.assert_count(6);
                for begin in spans_named(&spans, "BEGIN", 2) {
                    assert_query(begin, expected(&flavor, Some("BEGIN"), "BEGIN", &[]), true);
                }
                let summary = format!("INSERT {table}");
                for span in spans_named(&spans, &summary, 2) {
                    // On the transaction's connection: no pool wait.
                    assert_query(span, expected(&flavor, Some(&summary), &insert, &[]), false);
                }
                assert_query(spans.one("COMMIT"), expected(&flavor, Some("COMMIT"), "COMMIT", &[]), false)
                    .assert_status_unset();
                assert_query(spans.one("ROLLBACK"), expected(&flavor, Some("ROLLBACK"), "ROLLBACK", &[]), false)
                    .assert_status_unset();
            }

            #[tokio::test]
            async fn acquired_connections_are_traced() {
                let (raw, flavor) = $connect().await;
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b);
                let mut conn = pool.acquire().await.unwrap();
                let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *conn).await.unwrap();
                assert_eq!(one, 1);
                drop(conn);
                let spans = recorder.spans();
                spans.assert_count(1);
                assert_query(spans.one("SELECT"), expected(&flavor, Some("SELECT"), "SELECT ?", &[]), false);
            }

            #[tokio::test]
            async fn a_stream_dropped_early_ends_its_span_once_without_error() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let insert = format!("INSERT INTO {table} (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')");
                sqlx::raw_sql(AssertSqlSafe(insert)).execute(&raw).await.unwrap();
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b.returned_rows(true));
                let select = format!("SELECT id, name FROM {table} ORDER BY id");
                {
                    let mut rows = sqlx::query_as::<_, Person>(AssertSqlSafe(select.clone())).fetch(&pool);
                    let first = rows.try_next().await.unwrap().unwrap();
                    let second = rows.try_next().await.unwrap().unwrap();
                    assert_eq!((first.id, second.id), (1, 2));
                    assert_eq!(recorder.spans().len(), 0, "the span is open while the stream is");
                }
                let spans = recorder.spans();
                spans.assert_count(1);
                let summary = format!("SELECT {table}");
                let rows = KeyValue::new(semconv::DB_RESPONSE_RETURNED_ROWS, 2_i64);
                assert_query(spans.one(&summary), expected(&flavor, Some(&summary), &select, &[rows]), true)
                    .assert_status_unset();
            }

            #[tokio::test]
            async fn failures_record_the_sqlstate() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b);

                let error = sqlx::query("SELEC 1 FROM nowhere").execute(&pool).await.unwrap_err();
                assert!(matches!(error, sqlx::Error::Database(_)), "{error:?}");
                let insert = format!("INSERT INTO {table} (id, name) VALUES (7, 'x')");
                sqlx::query(AssertSqlSafe(insert.clone())).execute(&pool).await.unwrap();
                let error = sqlx::query(AssertSqlSafe(insert)).execute(&pool).await.unwrap_err();
                assert!(error.as_database_error().is_some_and(|e| e.is_unique_violation()), "{error:?}");

                let spans = recorder.spans();
                spans.assert_count(3);
                let failure = |code: &'static str| {
                    [KeyValue::new(semconv::DB_RESPONSE_STATUS_CODE, code), KeyValue::new(semconv::ERROR_TYPE, code)]
                };
                // Nothing recognisable: the span is named after the database system.
                assert_query(
                    spans.one(flavor.system),
                    expected(&flavor, None, "SELEC ? FROM nowhere", &failure(flavor.syntax_error)),
                    true,
                )
                .assert_status_error();
                let summary = format!("INSERT {table}");
                let inserts = spans_named(&spans, &summary, 2);
                let sanitized = format!("INSERT INTO {table} (id, name) VALUES (?, ?)");
                assert_query(inserts[0], expected(&flavor, Some(&summary), &sanitized, &[]), true)
                    .assert_status_unset();
                assert_query(
                    inserts[1],
                    expected(&flavor, Some(&summary), &sanitized, &failure(flavor.unique_violation)),
                    true,
                )
                .assert_status_error();
            }

            #[tokio::test]
            async fn queries_are_children_of_the_current_span() {
                let (raw, flavor) = $connect().await;
                let recorder = SpanRecorder::new();
                let pool = traced(&raw, &flavor, &recorder, |b| b);
                let tracer = recorder.provider().tracer("app");
                let request = tracer.span_builder("GET /users/{id}").with_kind(SpanKind::Server).start(&tracer);
                let cx = Context::current_with_span(request);
                let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).with_context(cx.clone()).await.unwrap();
                assert_eq!(one, 1);
                cx.span().end();
                let spans = recorder.spans();
                let parent = spans.one("GET /users/{id}");
                assert_query(spans.one("SELECT"), expected(&flavor, Some("SELECT"), "SELECT ?", &[]), true)
                    .assert_child_of(&parent);
            }

            #[tokio::test]
            async fn hooks_see_the_statement_and_the_outcome_on_the_pool_a_connection_and_a_transaction() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let recorder = SpanRecorder::new();
                let calls = HookCalls::default();
                // Hooks set before `tracer_provider(..)` are kept by it; sqlcommenter on, to show
                // the hook sees the text as written, without the comment.
                let pool = with_hooks(TracedPool::<$db>::builder(), &calls)
                    .tracer_provider(recorder.provider())
                    .pool_wait_threshold(Duration::from_secs(60))
                    .sqlcommenter(true)
                    .mariadb(flavor.system == "mariadb")
                    .build(raw.clone());
                let p = flavor.placeholder;
                let insert = format!("INSERT INTO {table} (id, name) VALUES ({}, {})", p(1), p(2));
                let select = format!("SELECT id, name FROM {table} WHERE id >= {} ORDER BY id", p(1));
                let missing = unique("missing");
                let broken = format!("SELECT id FROM {missing} WHERE id = {}", p(1));

                // On the pool.
                sqlx::query(AssertSqlSafe(insert.clone())).bind(1_i32).bind("ada").execute(&pool).await.unwrap();
                sqlx::query(AssertSqlSafe(insert.clone())).bind(2_i32).bind("bob").execute(&pool).await.unwrap();
                let rows = sqlx::query(AssertSqlSafe(select.clone())).bind(1_i32).fetch_all(&pool).await.unwrap();
                assert_eq!(rows.len(), 2);
                let error = sqlx::query(AssertSqlSafe(broken.clone()))
                    .bind(1_i32)
                    .fetch_all(&pool)
                    .await
                    .map(|rows| rows.len())
                    .unwrap_err();
                assert!(matches!(error, sqlx::Error::Database(_)), "{error:?}");
                // `fetch_one` finding no row: sqlx makes `RowNotFound` above the traced executor.
                let error = sqlx::query(AssertSqlSafe(select.clone()))
                    .bind(9_i32)
                    .fetch_one(&pool)
                    .await
                    .map(drop)
                    .unwrap_err();
                assert!(matches!(error, sqlx::Error::RowNotFound), "{error:?}");
                // On a pooled connection.
                let mut conn = pool.acquire().await.unwrap();
                let rows = sqlx::query(AssertSqlSafe(select.clone())).bind(2_i32).fetch_all(&mut *conn).await.unwrap();
                assert_eq!(rows.len(), 1);
                drop(conn);
                // In a transaction.
                let mut tx = pool.begin().await.unwrap();
                let rows = sqlx::query(AssertSqlSafe(select.clone())).bind(1_i32).fetch_all(&mut *tx).await.unwrap();
                assert_eq!(rows.len(), 2);
                let error = sqlx::query(AssertSqlSafe(broken.clone()))
                    .bind(1_i32)
                    .fetch_all(&mut *tx)
                    .await
                    .map(|rows| rows.len())
                    .unwrap_err();
                assert!(matches!(error, sqlx::Error::Database(_)), "{error:?}");
                tx.rollback().await.unwrap();

                let spans = recorder.spans();
                spans.assert_count(10);
                assert_eq!(calls.requests(), 10, "one request hook call per span:\n{}", spans.describe());
                assert_eq!(calls.responses(), 10, "one response hook call per span:\n{}", spans.describe());
                let summary = format!("INSERT {table}");
                for span in spans_named(&spans, &summary, 2) {
                    assert_hooked(span, &flavor, &insert, Some(&summary), 0).assert_status_unset();
                }
                let summary = format!("SELECT {table}");
                let selects = spans_named(&spans, &summary, 4);
                for (span, rows) in selects.into_iter().zip([2, 0, 1, 2]) {
                    assert_hooked(span, &flavor, &select, Some(&summary), rows).assert_status_unset();
                }
                let summary = format!("SELECT {missing}");
                for span in spans_named(&spans, &summary, 2) {
                    span.assert_attr("test.statement", broken.clone())
                        .assert_attr("test.error", flavor.missing_table)
                        .assert_no_attr("test.returned_rows")
                        .assert_status_error();
                }
                assert_hooked(spans.one("BEGIN"), &flavor, "BEGIN", Some("BEGIN"), 0);
                assert_hooked(spans.one("ROLLBACK"), &flavor, "ROLLBACK", Some("ROLLBACK"), 0);
            }

            #[tokio::test]
            async fn hooks_do_not_run_for_spans_that_do_not_record() {
                let (raw, flavor) = $connect().await;
                let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
                let calls = HookCalls::default();
                let pool = traced(&raw, &flavor, &recorder, |b| with_hooks(b, &calls));
                let required = traced(&raw, &flavor, &recorder, |b| with_hooks(b, &calls).require_sampled_parent(true));
                let parent = |flags: &str| {
                    remote_context(&format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"))
                };

                // An unsampled parent: the parent-based sampler drops the span.
                let one: i32 =
                    sqlx::query_scalar("SELECT 1").fetch_one(&pool).with_context(parent("00")).await.unwrap();
                assert_eq!(one, 1);
                let mut tx = pool.begin().with_context(parent("00")).await.unwrap();
                sqlx::query("SELECT 1").execute(&mut *tx).with_context(parent("00")).await.unwrap();
                tx.commit().with_context(parent("00")).await.unwrap();
                // No sampled parent, and one is required.
                sqlx::query("SELECT 1").execute(&required).await.unwrap();
                recorder.spans().assert_count(0);
                assert_eq!((calls.requests(), calls.responses()), (0, 0), "no hook without a recorded span");

                // A sampled parent: both hooks run.
                sqlx::query("SELECT 1").execute(&required).with_context(parent("01")).await.unwrap();
                recorder.spans().assert_count(1);
                assert_eq!((calls.requests(), calls.responses()), (1, 1));
            }

            #[tokio::test]
            async fn a_stream_dropped_early_gets_no_response_hook() {
                let (raw, flavor) = $connect().await;
                let table = create_people(&raw, &flavor).await;
                let insert = format!("INSERT INTO {table} (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
                sqlx::raw_sql(AssertSqlSafe(insert)).execute(&raw).await.unwrap();
                let recorder = SpanRecorder::new();
                let calls = HookCalls::default();
                let pool = traced(&raw, &flavor, &recorder, |b| with_hooks(b, &calls));
                let select = format!("SELECT id, name FROM {table} ORDER BY id");
                {
                    let mut rows = sqlx::query_as::<_, Person>(AssertSqlSafe(select.clone())).fetch(&pool);
                    assert_eq!(rows.try_next().await.unwrap().map(|p| p.id), Some(1));
                }
                {
                    let mut conn = pool.acquire().await.unwrap();
                    let mut rows = sqlx::query_as::<_, Person>(AssertSqlSafe(select.clone())).fetch(&mut *conn);
                    assert_eq!(rows.try_next().await.unwrap().map(|p| p.id), Some(1));
                }
                let spans = recorder.spans();
                let summary = format!("SELECT {table}");
                for span in spans_named(&spans, &summary, 2) {
                    span.assert_attr("test.statement", select.clone()).assert_no_attr("test.returned_rows");
                }
                assert_eq!((calls.requests(), calls.responses()), (2, 0), "the operation did not finish");
            }
        }
    };
}

database_tests!(postgresql, postgres, sqlx::Postgres);
database_tests!(mariadb, mariadb, sqlx::MySql);
database_tests!(sqlite, sqlite, sqlx::Sqlite);
database_tests!(any_postgresql, any_postgres, sqlx::Any);
database_tests!(any_mariadb, any_mariadb, sqlx::Any);
database_tests!(any_sqlite, any_sqlite, sqlx::Any);

#[tokio::test]
async fn any_pools_take_the_system_from_the_url_and_mariadb_from_the_server() {
    use otel_sqlx::TracedAnyPool;

    let (postgres, _) = any_postgres().await;
    assert_eq!(TracedAnyPool::new(postgres).db_system_name(), "postgresql");
    let (sqlite, _) = any_sqlite().await;
    assert_eq!(TracedAnyPool::new(sqlite).db_system_name(), "sqlite");
    // `mysql:` says MySQL; the server says whether it is MariaDB.
    let (mysql, flavor) = any_mariadb().await;
    assert_eq!(TracedAnyPool::new(mysql.clone()).db_system_name(), "mysql");
    assert_eq!(TracedAnyPool::builder().wrap(mysql.clone()).await.db_system_name(), flavor.system);
    assert_eq!(TracedAnyPool::builder().mariadb(true).build(mysql).db_system_name(), "mariadb");
    let connected = TracedAnyPool::connect(&mysql_url()).await.unwrap();
    assert_eq!(connected.db_system_name(), flavor.system);
}

#[tokio::test]
async fn an_any_pool_on_sqlite_in_memory_records_no_database_and_fails_with_the_result_code() {
    use otel_sqlx::TracedAnyPool;

    // One connection: each new connection of an in-memory URL is a new database.
    let raw = any_pool_options().max_connections(1).connect("sqlite::memory:").await.unwrap();
    let recorder = SpanRecorder::new();
    let pool: TracedAnyPool<SdkTracer> = TracedAnyPool::builder()
        .tracer_provider(recorder.provider())
        .pool_wait_threshold(Duration::from_secs(60))
        .build(raw);
    let flavor = Flavor {
        base: base("sqlite", None, None, None),
        placeholder: question,
        syntax_error: "1",
        unique_violation: "1555",
        missing_table: "1",
        name_type: "TEXT",
        system: "sqlite",
    };
    let sum: i64 = sqlx::query_scalar("SELECT ? + 1").bind(41_i64).fetch_one(&pool).await.unwrap();
    assert_eq!(sum, 42);
    let error = sqlx::query("SELECT id FROM missing_table").execute(&pool).await.unwrap_err();
    assert!(matches!(error, sqlx::Error::Database(_)), "{error:?}");

    let spans = recorder.spans();
    spans.assert_count(2);
    assert_query(spans.one("SELECT"), expected(&flavor, Some("SELECT"), "SELECT ? + 1", &[]), true)
        .assert_status_unset();
    let failure = [
        KeyValue::new(semconv::DB_RESPONSE_STATUS_CODE, flavor.missing_table),
        KeyValue::new(semconv::ERROR_TYPE, flavor.missing_table),
    ];
    assert_query(
        spans.one("SELECT missing_table"),
        expected(&flavor, Some("SELECT missing_table"), "SELECT id FROM missing_table", &failure),
        true,
    )
    .assert_status_error();
}

#[tokio::test]
async fn mariadb_is_detected_from_the_server_version() {
    let (raw, flavor) = mariadb().await;
    let pool = TracedPool::builder().wrap(raw).await;
    assert_eq!(pool.db_system_name(), flavor.system);
}

#[tokio::test]
async fn a_long_pool_wait_is_its_own_span_and_a_short_one_is_not() {
    let (raw, flavor) = sqlite().await;
    let raw = sqlx::pool::PoolOptions::<sqlx::Sqlite>::new()
        .max_connections(1)
        .connect_with((*raw.connect_options()).clone())
        .await
        .unwrap();
    let recorder = SpanRecorder::new();
    let pool = traced(&raw, &flavor, &recorder, |b| b.pool_wait_threshold(Duration::from_millis(50)));

    let held = pool.acquire().await.unwrap();
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop(held);
    });
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    holder.await.unwrap();
    let spans = recorder.spans();
    let wait = spans.one(POOL_WAIT_SPAN_NAME);
    let query = assert_query(spans.one("SELECT"), expected(&flavor, Some("SELECT"), "SELECT ?", &[]), true);
    wait.assert_child_of(&query).assert_kind(SpanKind::Internal).assert_attrs_exactly(&[
        KeyValue::new(semconv::DB_SYSTEM_NAME, "sqlite"),
        KeyValue::new(semconv::DB_CLIENT_CONNECTION_POOL_NAME, flavor.base[1].value.as_str().into_owned()),
    ]);
    let waited = wait.data().end_time.duration_since(wait.data().start_time).unwrap();
    assert!((Duration::from_millis(100)..Duration::from_secs(5)).contains(&waited), "waited {waited:?}");
    assert!(wait.data().end_time <= query.data().end_time, "the wait comes before the query ends");
    // In the project's own namespace: `db.*` belongs to the conventions.
    let Some(Value::F64(recorded)) = query.attr("otel_rust.db.client.connection.wait_time") else { unreachable!() };
    assert!((0.1..5.0).contains(recorded), "recorded wait {recorded}");

    // The connection is free now: no wait span.
    recorder.reset();
    sqlx::query("SELECT 2").execute(&pool).await.unwrap();
    let spans = recorder.spans();
    spans.assert_count(1).assert_none_named(POOL_WAIT_SPAN_NAME);
}

#[tokio::test]
async fn sqlcommenter_sends_the_query_spans_traceparent_to_the_server() {
    let (raw, flavor) = postgres().await;
    let recorder = SpanRecorder::new();
    let pool = traced(&raw, &flavor, &recorder, |b| b.sqlcommenter(true));
    // The server reports the statement it is running: ours, with the comment.
    let sql = "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()";
    let seen: String = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();

    let spans = recorder.spans();
    let span = assert_query(
        spans.one("SELECT pg_stat_activity"),
        expected(&flavor, Some("SELECT pg_stat_activity"), sql, &[]),
        true,
    );
    let (statement, comment) = seen.split_once(" /*").unwrap_or_else(|| panic!("no comment in {seen:?}"));
    assert_eq!(statement, sql);
    let traceparent = comment
        .strip_prefix("traceparent='")
        .and_then(|rest| rest.strip_suffix("'*/"))
        .unwrap_or_else(|| panic!("not a sqlcommenter comment: {comment:?}"));
    let parsed = otel_core::propagation::Traceparent::parse(traceparent).expect("a valid W3C traceparent");
    assert_eq!(parsed.trace_id, span.trace_id());
    assert_eq!(parsed.span_id, span.span_id());
    assert!(parsed.flags.is_sampled());

    // A statement with a comment of its own is left alone.
    let commented = "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() /* mine */";
    let seen: String = sqlx::query_scalar(commented).fetch_one(&pool).await.unwrap();
    assert_eq!(seen, commented);
}

#[tokio::test]
async fn metrics_cover_operations_and_the_pool() {
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let (raw, flavor) = sqlite().await;
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let recorder = SpanRecorder::new();
    let pool = traced(&raw, &flavor, &recorder, |b| b.meter_provider(&meters).pool_name("main"));
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    let conn = pool.acquire().await.unwrap();
    drop(conn);
    meters.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let mut names: Vec<String> = exported
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .map(|m| m.name().to_owned())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "db.client.connection.count",
            "db.client.connection.max",
            "db.client.connection.pending_requests",
            "db.client.connection.use_time",
            "db.client.connection.wait_time",
            "db.client.operation.duration",
        ]
    );
}

#[tokio::test]
async fn operation_durations_carry_the_summary_and_the_outcome() {
    use otel_core::testing::MetricRecorder;

    let (raw, flavor) = sqlite().await;
    let meters = MetricRecorder::new();
    let recorder = SpanRecorder::new();
    let pool = traced(&raw, &flavor, &recorder, |b| b.meter_provider(meters.provider()));
    // Summaries short and long (past the 32 bytes a key holds by value), twice each (the second
    // finds the thread's handle), a failure, and a text without summary.
    let long = "otel_sqlx_a_table_whose_name_is_long";
    sqlx::query(AssertSqlSafe(format!("CREATE TABLE {long} (id INTEGER)"))).execute(&pool).await.unwrap();
    for _ in 0..2 {
        sqlx::query("SELECT 1").execute(&pool).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("SELECT id FROM {long}"))).fetch_all(&pool).await.unwrap();
    }
    sqlx::query("SELECT * FROM missing_table").execute(&pool).await.unwrap_err();
    sqlx::query(";").execute(&pool).await.ok();
    let namespace = flavor.base.iter().find(|kv| kv.key.as_str() == semconv::DB_NAMESPACE).unwrap();
    let point = |attributes: &str, count: u64| {
        (format!("db.namespace={} {attributes}", namespace.value).trim_end().to_owned(), count)
    };
    assert_eq!(
        meters.histogram("db.client.operation.duration"),
        [
            point(&format!("db.query.summary=CREATE TABLE {long} db.system.name=sqlite"), 1),
            point("db.query.summary=SELECT db.system.name=sqlite", 2),
            point(
                "db.query.summary=SELECT missing_table db.response.status_code=1 db.system.name=sqlite error.type=1",
                1
            ),
            point(&format!("db.query.summary=SELECT {long} db.system.name=sqlite"), 2),
            point("db.system.name=sqlite", 1),
        ]
    );
}

/// A connection the server kills mid-query (`pg_terminate_backend`): the query fails with sqlx's
/// own error, its span records the server's code as the conventions ask, nothing hangs, and the
/// pool's next query (on a new connection) is traced as usual.
#[tokio::test]
async fn a_backend_terminated_mid_query_fails_with_sqlxs_error_and_the_next_query_is_traced() {
    let (raw, flavor) = postgres().await;
    let recorder = SpanRecorder::new();
    let pool = traced(&raw, &flavor, &recorder, |b| b);
    let mut connection = pool.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *connection).await.unwrap();
    let killer = raw.clone();
    let kill = tokio::spawn(async move {
        // Once the long query runs: it shows in pg_stat_activity as active.
        for _ in 0..100 {
            let active: Option<String> = sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_optional(&killer)
                .await
                .unwrap();
            if active.as_deref() == Some("active") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&killer).await.unwrap();
    });
    let failed =
        tokio::time::timeout(Duration::from_secs(20), sqlx::query("SELECT pg_sleep(30)").execute(&mut *connection))
            .await
            .expect("the query returns once its connection is killed");
    kill.await.unwrap();
    drop(connection);
    let error = failed.expect_err("a killed connection fails the query");
    let code = error.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned());
    assert_eq!(code.as_deref(), Some("57P01"), "sqlx's own error (admin_shutdown): {error:?}");

    sqlx::query("SELECT 1").execute(&pool).await.expect("the pool opens a new connection");
    let spans = recorder.spans();
    let by_text = |text: &str| {
        let found = spans.named("SELECT");
        let span = found.into_iter().find(|s| s.attr(semconv::DB_QUERY_TEXT) == Some(&Value::from(text.to_owned())));
        span.unwrap_or_else(|| panic!("no span for {text}: {}", spans.describe()))
    };
    by_text("SELECT pg_sleep(?)")
        .assert_status_error()
        .assert_attr(semconv::DB_RESPONSE_STATUS_CODE, "57P01")
        .assert_attr(semconv::ERROR_TYPE, "57P01");
    by_text("SELECT ?").assert_status_unset();
}
