//! axum + otel-tower: one layer gives every request a SERVER span named `GET /users/{id}`.
//!
//! ```sh
//! cargo run --bin axum-server             # sends itself a few requests, prints their traces, exits
//! cargo run --bin axum-server -- --serve  # keeps serving on http://127.0.0.1:3000
//! ```
//!
//! `/health` is excluded by configuration: it gets no span (the environment can exclude more:
//! `OTEL_RUST_TOWER_EXCLUDED_URLS=^/metrics`).

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use otel_core::config::HttpServerConfig;
use otel_tower::OtelLayer;
use std::net::SocketAddr;

async fn user(Path(id): Path<u32>) -> String {
    format!("user {id}\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The SDK, from the standard OTEL_* variables. With nothing set, every finished trace is
    //    printed on standard error as a waterfall. Keep the guard: dropping it flushes.
    let _guard = otel_core::setup::Setup::new()
        .service_name("axum-server")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    // 2. The layer (built after the setup: it takes the global tracer provider when built),
    //    answering with axum's own body type so that health probes pass through untouched.
    let otel = OtelLayer::builder().config(HttpServerConfig::builder().exclude_path("/health")).axum_body().build();

    // 3. Added with `Router::layer` after the routes, so it sees the matched route template.
    let app = Router::new().route("/users/{id}", get(user)).route("/health", get(|| async { "ok\n" })).layer(otel);

    let serve = std::env::args().any(|arg| arg == "--serve");
    let listener = tokio::net::TcpListener::bind(if serve { "127.0.0.1:3000" } else { "127.0.0.1:0" }).await?;
    let addr = listener.local_addr()?;
    // `ConnectInfo` lets the span record the peer's address (`network.peer.address`).
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
    if serve {
        println!("serving on http://{addr}: try curl http://{addr}/users/42");
        return Ok(server.await?);
    }

    // Run the server in the background until told to stop.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server.with_graceful_shutdown(async { stopped.await.unwrap_or_default() }).into_future());

    // A plain client (no tracing of its own): each request starts a new trace on the server.
    let client = reqwest::Client::new();
    for path in ["/users/42", "/users/7?page=2", "/health", "/no/such/route"] {
        let response = client.get(format!("http://{addr}{path}")).send().await?;
        println!("GET {path} -> {}", response.status());
    }

    stop.send(()).ok();
    server.await??;
    println!("the waterfall below shows 3 traces: /health had no span");
    Ok(()) // `_guard` is dropped here: the pending traces are printed
}
