//! A pool wrapped with no tracer or meter provider, before any SDK is installed, traces and
//! records metrics once one is installed (issue #28): it resolves the global providers when each
//! query starts, not when it is built. A binary of its own with a single test: the global
//! providers are the whole process's.
//!
//! PostgreSQL: `DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/test` (then user `root`).
//! Start it with `scripts/services.sh start`.

mod support;

use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, global};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::testing::{MetricRecorder, SpanRecorder};
use otel_sqlx::{TracedPgPool, TracedPool};

/// The default pool, connected (and wrapped) with no SDK installed.
async fn connect() -> TracedPgPool {
    let candidates = support::postgres_candidates();
    let mut last = None;
    for url in &candidates {
        match TracedPgPool::connect(url).await {
            Ok(pool) => return pool,
            Err(error) => last = Some(error),
        }
    }
    panic!(
        "PostgreSQL is not reachable at {candidates:?} ({last:?}): start it with `scripts/services.sh start` \
         (or set DATABASE_URL)"
    );
}

#[tokio::test]
async fn a_pool_wrapped_before_the_sdk_is_installed_traces_once_it_is() {
    let pool = connect().await;
    // The control: a pool whose tracer was taken from the global provider when it was built, as
    // adapters did before issue #28. It must stay silent, or this test could not tell.
    let captured = TracedPool::builder().tracer_provider(&global::tracer_provider()).build(pool.inner().clone());

    // Before installation: the no-op tracer, nothing to export, and nothing the pool may keep.
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    sqlx::query("SELECT 1").fetch_one(&captured).await.unwrap();

    // Installed with opentelemetry's own calls, as most applications do.
    let recorder = SpanRecorder::new();
    let metrics = MetricRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_meter_provider(metrics.provider().clone());
    let tracer = recorder.provider().tracer("test");

    let cx = Context::current_with_span(tracer.start("parent"));
    sqlx::query("SELECT 1").fetch_one(&pool).with_context(cx.clone()).await.unwrap();
    cx.span().end();

    // The server and database the conventions name, and the pool's default name from them (the
    // default port, 5432, is left out of both).
    let options = pool.inner().connect_options();
    let (host, port) = (options.get_host(), options.get_port());
    let database = options.get_database().expect("a database in the URL");
    let (server, address) = match port {
        5432 => (format!("server.address={host}"), host.to_owned()),
        port => (format!("server.address={host} server.port={port}"), format!("{host}:{port}")),
    };
    let pool_name = format!("db.client.connection.pool.name={address}/{database}");
    // One point for the query since installation, nothing from the one before it.
    let duration = format!("db.namespace={database} db.query.summary=SELECT db.system.name=postgresql {server}");
    assert_eq!(metrics.histogram("db.client.operation.duration"), [(duration.clone(), 1)]);
    // The pool's gauges, registered when the instruments were built on the installed provider
    // (by that query): read at collection time, so how many connections are idle rather than
    // still on their way back to the pool varies; together they are the pool's size.
    let counts = metrics.sum_i64("db.client.connection.count");
    let states: Vec<&str> = counts.iter().map(|(attributes, _)| attributes.as_str()).collect();
    let state = |state: &str| format!("{pool_name} db.client.connection.state={state}");
    assert_eq!(states, [state("idle"), state("used")], "{counts:?}");
    let open: i64 = counts.iter().map(|(_, count)| count).sum();
    assert_eq!(open, i64::from(pool.inner().size()), "{counts:?}");
    let max = i64::from(pool.inner().options().get_max_connections());
    assert_eq!(metrics.sum_i64("db.client.connection.max"), [(pool_name.clone(), max)]);

    let control = Context::current_with_span(tracer.start("control"));
    sqlx::query("SELECT 1").fetch_one(&captured).with_context(control.clone()).await.unwrap();
    control.span().end();
    // The control took only its tracer at build time: its meter is the global one, so its query
    // is measured too, on the same point (the same server, database and summary).
    assert_eq!(metrics.histogram("db.client.operation.duration"), [(duration, 2)]);

    let spans = recorder.spans();
    let parent = spans.one("parent");
    let control = spans.one("control");
    spans
        .one("SELECT")
        .assert_kind(SpanKind::Client)
        .assert_child_of(&parent)
        .assert_status_unset()
        .assert_attr(semconv::DB_SYSTEM_NAME, "postgresql")
        .assert_attr(semconv::DB_QUERY_TEXT, "SELECT ?");
    // Neither the query before installation nor the control's was exported.
    for span in spans.iter() {
        assert_ne!(span.parent_span_id(), control.span_id(), "the control pool traced {:?}", span.name());
        if span.span_id() != parent.span_id() && span.span_id() != control.span_id() {
            span.assert_child_of(&parent);
        }
    }
}
