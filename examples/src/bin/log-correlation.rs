//! Trace ids in log lines: otel-core's `tracing-subscriber` format adds `trace_id`, `span_id` and
//! `sampled` to every event logged while a span is current, so a log line leads to its trace.
//!
//! ```sh
//! cargo run --bin log-correlation             # text lines: trace_id=… span_id=… sampled=true INFO …
//! cargo run --bin log-correlation -- --json   # JSON objects with "trace_id", "span_id", "sampled"
//! ```

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use opentelemetry::global;
use opentelemetry::trace::Tracer;
use otel_tower::OtelLayer;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Runs inside the SERVER span otel-tower made current: its logs carry that span's ids.
async fn user(Path(id): Path<u32>) -> String {
    tracing::info!(user.id = id, "loading user");
    // A child span made current: the next line shows the same trace id and the child's span id.
    global::tracer("log-correlation").in_span("check permissions", |_| {
        tracing::info!("permissions checked");
    });
    tracing::warn!("cache miss, read from the database");
    format!("user {id}\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The exporter's waterfall goes to stderr; the logs go to stdout.
    let _guard = otel_core::setup::Setup::new()
        .service_name("log-correlation")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    // The log subscriber: the usual fmt layer, with otel-core's trace-id format around it, and
    // `RUST_LOG` filtering (`info` when unset).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::registry().with(filter);
    if std::env::args().any(|arg| arg == "--json") {
        logs.with(otel_core::setup::logs::json_layer()).init();
    } else {
        logs.with(otel_core::setup::logs::text_layer()).init();
    }

    let app = Router::new().route("/users/{id}", get(user)).layer(OtelLayer::axum());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    tracing::info!(%addr, "listening (no span is current here: no trace ids)");
    for id in [1, 2] {
        reqwest::get(format!("http://{addr}/users/{id}")).await?.error_for_status()?;
    }
    tracing::info!("done: compare the trace ids above with the waterfall below");
    Ok(())
}
