//! End-to-end tests across the adapters, against real servers, Redis, databases and a Kafka
//! broker on loopback (`scripts/services.sh start`). The tests are this package's test targets;
//! this library holds what they share.

use opentelemetry_sdk::trace::SdkTracer;
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{FinishedSpans, SpanRecorder};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// otel-tower's server layer recording into `recorder`, with the strict propagator and no
/// configuration from the environment.
pub fn tower_layer(recorder: &SpanRecorder) -> otel_tower::OtelLayer<SdkTracer> {
    otel_tower::OtelLayer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .build()
}

/// Serves `app` on a free loopback port (with the peer address for `client.address`).
pub async fn serve_axum(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    address
}

/// The recorder's spans once `done` says they are all there (servers end their spans after the
/// response reached the client), or what there is after 5 seconds.
pub async fn spans_when(recorder: &SpanRecorder, done: impl Fn(&FinishedSpans) -> bool) -> FinishedSpans {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let spans = recorder.spans();
        if done(&spans) || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// The workspace README's examples are compiled as doctests here, where every adapter is a
// dependency, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct WorkspaceReadme;

/// A pool on the local PostgreSQL (`DATABASE_URL`, else the `postgres` or `root` user on
/// 127.0.0.1:5432, database `test`); fails saying how to start it.
pub async fn postgres() -> sqlx::Pool<sqlx::Postgres> {
    let candidates = match std::env::var("DATABASE_URL") {
        Ok(url) => vec![url],
        Err(_) => vec!["postgres://postgres@127.0.0.1:5432/test".into(), "postgres://root@127.0.0.1:5432/test".into()],
    };
    for url in &candidates {
        if let Ok(pool) = sqlx::Pool::<sqlx::Postgres>::connect(url).await {
            return pool;
        }
    }
    panic!(
        "PostgreSQL is not reachable at {candidates:?}: start it with `scripts/services.sh start`, or set DATABASE_URL"
    )
}
