//! The service under test: an axum router behind `otel_tower::OtelLayer` (spans and metrics), with
//! one `tracing` event per request sent as a log record through the setup guard's log layer. The
//! SDK is configured by `otel_core::setup::init()` from the `OTEL_*` variables run.sh sets.
//!
//! Prints `addr=<ip:port>` and `shutdown_bound_ms=<guard's bound>` on standard output once it
//! listens. On SIGTERM or ctrl-c it stops accepting, drains, drops the guard (flushing the three
//! signals to the collector), and reports on standard error how long each step took.
//!
//! `SHUTDOWN_DETAIL=1`: before the guard is dropped, its three providers are shut down as the guard
//! does it (side by side, with the guard's timeout), each timed, to tell where a slow exit goes.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use otel_core::setup::TelemetryGuard;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing_subscriber::layer::SubscriberExt;

/// A little CPU work per request, so the handler is not free next to the instrumentation.
fn score(id: u64) -> u64 {
    (0..2_000u64).fold(id, |h, i| h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i)) % 1_000
}

async fn user(Path(id): Path<u64>) -> String {
    tracing::info!(user.id = id, "loading the user");
    format!(r#"{{"id":{id},"name":"user-{id}","score":{}}}"#, score(id))
}

async fn orders(Path(id): Path<u64>) -> String {
    let count = id % 8 + 1;
    tracing::info!(user.id = id, orders = count, "listing the user's orders");
    let items: Vec<String> =
        (0..count).map(|n| format!(r#"{{"order":{},"total":{}}}"#, id * 10 + n, score(n))).collect();
    format!("[{}]", items.join(","))
}

/// Runs one provider's shutdown: `<ms> ms (ok | the error)`.
fn timed<E: std::fmt::Display>(shutdown: impl FnOnce() -> Result<(), E>) -> String {
    let start = Instant::now();
    let outcome = shutdown().map_or_else(|error| error.to_string(), |()| "ok".to_owned());
    format!("{} ms ({outcome})", start.elapsed().as_millis())
}

/// Each provider's shutdown, side by side on clones with the guard's timeout, as the guard does
/// (its drop then finds them shut down).
fn shutdown_each(guard: &TelemetryGuard) -> String {
    let timeout = guard.shutdown_timeout();
    std::thread::scope(|scope| {
        let traces = guard.provider().cloned().map(|p| scope.spawn(move || timed(|| p.shutdown_with_timeout(timeout))));
        let metrics =
            guard.meter_provider().cloned().map(|p| scope.spawn(move || timed(|| p.shutdown_with_timeout(timeout))));
        let logs =
            guard.logger_provider().cloned().map(|p| scope.spawn(move || timed(|| p.shutdown_with_timeout(timeout))));
        let report = |name: &str, handle: Option<std::thread::ScopedJoinHandle<'_, String>>| {
            let outcome = handle.map_or_else(|| "none".to_owned(), |h| h.join().unwrap_or_else(|_| "panicked".into()));
            format!("{name} {outcome}")
        };
        [report("traces", traces), report("metrics", metrics), report("logs", logs)].join(", ")
    })
}

#[tokio::main]
async fn main() {
    let guard = otel_core::setup::init();
    // Only the log layer: the benchmark measures export, not log lines on a terminal.
    if let Err(error) = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(guard.log_layer()))
    {
        eprintln!("service: no tracing subscriber ({error}); log records will not be exported");
    }

    // A path that is not a number is axum's 400, never a panic.
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/users/{id}/orders", get(orders))
        .layer(otel_tower::OtelLayer::builder().metrics(true).build());

    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("service: cannot listen on 127.0.0.1: {error}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    println!("addr={addr}\nshutdown_bound_ms={}", guard.shutdown_timeout().as_millis());
    let _ = std::io::stdout().flush();

    // When the signal came: the start of every shutdown step reported below.
    let signalled = Arc::new(OnceLock::new());
    let on_signal = signalled.clone();
    let stop = async move {
        collector_bench::stop_signal().await;
        let _ = on_signal.set(Instant::now());
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        eprintln!("service: server error: {error}");
    }
    let since = *signalled.get().unwrap_or(&Instant::now());
    let drained = since.elapsed();
    if std::env::var("SHUTDOWN_DETAIL").is_ok_and(|v| v == "1") {
        eprintln!("service: each provider's shutdown: {}", shutdown_each(&guard));
    }
    // What an application does at the end of main: the guard flushes and shuts the providers down.
    drop(guard);
    let dropped = since.elapsed();
    eprintln!(
        "service: shutdown drained_ms={} guard_dropped_ms={} guard_drop_ms={}",
        drained.as_millis(),
        dropped.as_millis(),
        (dropped - drained).as_millis()
    );
}
