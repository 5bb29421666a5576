//! A pool wrapped with no tracer provider, before any SDK is installed, traces once one is
//! installed (issue #28): its tracer resolves the global provider when each span starts. A binary
//! of its own with a single test: the global provider is the whole process's.
//!
//! PostgreSQL: `DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/test` (then user `root`).
//! Start it with `scripts/services.sh start`.

mod support;

use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, global};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::testing::SpanRecorder;
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

    let recorder = SpanRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    let tracer = recorder.provider().tracer("test");

    let cx = Context::current_with_span(tracer.start("parent"));
    sqlx::query("SELECT 1").fetch_one(&pool).with_context(cx.clone()).await.unwrap();
    cx.span().end();

    let control = Context::current_with_span(tracer.start("control"));
    sqlx::query("SELECT 1").fetch_one(&captured).with_context(control.clone()).await.unwrap();
    control.span().end();

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
