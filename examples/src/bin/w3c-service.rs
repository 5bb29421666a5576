//! A W3C Trace Context conformance service: point the official test suite at it.
//!
//! ```sh
//! cargo run --bin w3c-service                  # serves http://127.0.0.1:5000/test until Ctrl-C
//! PORT=5001 cargo run --bin w3c-service        # another port
//! cargo run --bin w3c-service -- --self-test   # checks itself like the harness would, then exits
//! ```
//!
//! Then, in a clone of <https://github.com/w3c/trace-context>: `cd test && python test.py
//! http://127.0.0.1:5000/test` (see the workspace README). The service itself is
//! `otel_examples::w3c::router`: axum + otel-tower, reqwest + otel-reqwest, strict W3C propagation.

use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_core::setup::Setup;
use otel_examples::w3c;
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|arg| arg == "--self-test");

    // A provider from the OTEL_* variables (the terminal waterfall by default; under the suite,
    // `OTEL_TRACES_EXPORTER=none` keeps the terminal quiet). With `OTEL_SDK_DISABLED=true` there is
    // none, but the suite needs new span ids, so spans are then created and dropped.
    let provider = Setup::new()
        .service_name("w3c-service")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall)
        .build_provider()
        .unwrap_or_else(|| SdkTracerProvider::builder().build());
    let app = w3c::router(&provider);

    // The self-test takes any free port; the service the suite calls listens where it expects.
    let addr: SocketAddr = match (self_test, std::env::var("PORT")) {
        (true, _) => "127.0.0.1:0".parse()?,
        (false, Ok(port)) => SocketAddr::from(([127, 0, 0, 1], port.parse()?)),
        (false, Err(_)) => w3c::DEFAULT_ADDR.parse()?,
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let server = axum::serve(listener, app);

    if !self_test {
        println!("W3C test service on http://{addr}{} (Ctrl-C stops it)", w3c::TEST_PATH);
        server.with_graceful_shutdown(async { tokio::signal::ctrl_c().await.ok().unwrap_or_default() }).await?;
        provider.shutdown()?;
        return Ok(());
    }

    // Self-test: serve in the background, play the harness once, report, stop.
    let serving = tokio::spawn(server.into_future());
    let result = w3c::self_test(addr).await;
    serving.abort();
    provider.shutdown()?; // prints the trace on the waterfall
    match result {
        Ok(summary) => println!("OK: {summary}"),
        Err(problem) => return Err(format!("self-test FAILED: {problem}").into()),
    }
    Ok(())
}
