//! A tokio task spawned from a handler keeps the request's trace only if it is given the context:
//! `tokio::spawn` starts the task with an empty context, so its spans would start a new trace.
//!
//! ```sh
//! cargo run --bin spawn-task
//! ```

use axum::Router;
use axum::routing::get;
use opentelemetry::trace::{FutureExt, Span, TraceContextExt, TraceId, Tracer};
use opentelemetry::{Context, global};
use otel_tower::OtelLayer;
use std::time::Duration;

/// Background work with a span of its own, started from whatever context is current in the task.
async fn resize_image(name: &'static str) -> TraceId {
    let mut span = global::tracer("spawn-task").start(name);
    let trace_id = span.span_context().trace_id();
    tokio::time::sleep(Duration::from_millis(10)).await;
    span.end();
    trace_id
}

async fn upload() -> String {
    let request_trace = Context::current().span().span_context().trace_id();

    // With the context: `with_context` makes the request's context current on every poll of the
    // task, so its span is a child of the request span. (`.with_current_context()` is the same.)
    let kept = tokio::spawn(resize_image("resize (context passed)").with_context(Context::current()));
    // Without it: the task's span starts a new, unrelated trace.
    let lost = tokio::spawn(resize_image("resize (context lost)"));

    let (kept, lost) = (kept.await.expect("task ran"), lost.await.expect("task ran"));
    format!("request trace {request_trace}\n  task with the context:    {kept}\n  task without the context: {lost}\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = otel_core::setup::Setup::new()
        .service_name("spawn-task")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    let app = Router::new().route("/upload", get(upload)).layer(OtelLayer::axum());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    print!("{}", reqwest::get(format!("http://{addr}/upload")).await?.text().await?);
    Ok(()) // the waterfall shows the request trace with one task under it, and a separate trace
}
