//! SQL under an HTTP server span: the queries a handler runs are the request's children, with
//! the bound value never recorded.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SdkTracer;
use otel_core::testing::SpanRecorder;
use otel_sqlx::TracedPool;
use sqlx::{Postgres, Row};
use std::sync::Arc;

const SECRET: &str = "hunter2-e2e-never-recorded";

#[tokio::test]
async fn queries_are_children_of_the_request() {
    let recorder = SpanRecorder::new();
    let pool: Arc<TracedPool<Postgres, SdkTracer>> =
        Arc::new(TracedPool::builder().tracer_provider(recorder.provider()).build(otel_e2e::postgres().await));
    let app = Router::new()
        .route(
            "/orders/{id}",
            get(|State(pool): State<Arc<TracedPool<Postgres, SdkTracer>>>| async move {
                let row =
                    sqlx::query("SELECT $1::text AS secret, 42 AS total").bind(SECRET).fetch_one(&*pool).await.unwrap();
                let total: i32 = row.get("total");
                total.to_string()
            }),
        )
        .with_state(pool)
        .layer(otel_e2e::tower_layer(&recorder));
    let address = otel_e2e::serve_axum(app).await;

    let body =
        reqwest::Client::new().get(format!("http://{address}/orders/9")).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "42");

    let spans = otel_e2e::spans_when(&recorder, |spans| spans.named("GET /orders/{id}").len() == 1).await;
    spans.assert_single_trace();
    let request = spans.one("GET /orders/{id}").assert_kind(SpanKind::Server);
    spans
        .one("SELECT")
        .assert_kind(SpanKind::Client)
        .assert_child_of(&request)
        .assert_attr("db.system.name", "postgresql")
        // Parameterized: recorded as written (the conventions); the bound value travels apart.
        .assert_attr("db.query.text", "SELECT $1::text AS secret, 42 AS total");
    for span in spans.iter() {
        for kv in span.attributes() {
            assert!(!kv.value.to_string().contains(SECRET), "a bound value leaked into {} of {}", kv.key, span.name());
        }
    }
}
