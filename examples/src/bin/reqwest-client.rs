//! reqwest-middleware + otel-reqwest calling a local axum server: a `UrlTemplate` names the span,
//! and a retry middleware (reqwest-retry) around it gives one span per attempt, numbered with
//! `http.request.resend_count`.
//!
//! ```sh
//! cargo run --bin reqwest-client
//! ```

use axum::{Router, http::StatusCode, routing::get};
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use opentelemetry_semantic_conventions::attribute::HTTP_REQUEST_RESEND_COUNT;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::setup::waterfall::Waterfall;
use otel_reqwest::{OtelMiddleware, UrlTemplate};
use otel_tower::OtelLayer;
use reqwest_middleware::ClientBuilder;
use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Prints every CLIENT span as it ends, with its resend count (the waterfall shows timing only).
#[derive(Debug)]
struct PrintAttempts;

impl SpanProcessor for PrintAttempts {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        if span.span_kind == SpanKind::Client {
            let resend = span.attributes.iter().find(|kv| kv.key.as_str() == HTTP_REQUEST_RESEND_COUNT);
            let resend = resend.map_or("-".to_owned(), |kv| kv.value.to_string());
            let status = if matches!(span.status, Status::Error { .. }) { "Error" } else { "Unset" };
            println!("  span {:<16} {HTTP_REQUEST_RESEND_COUNT}={resend:<2} status={status}", span.name);
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The SDK by hand (what `otel_core::setup` does, plus our printing processor): the terminal
    // waterfall, installed globally with the strict W3C propagator.
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("reqwest-client").build())
        .with_span_processor(PrintAttempts)
        .with_batch_exporter(Waterfall::new().exporter())
        .build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(StrictTraceContextPropagator::new());

    // A local instrumented server whose `/flaky` fails twice (503) before it succeeds.
    let failures = Arc::new(AtomicU32::new(0));
    let flaky = move || async move {
        let failed_before = failures.fetch_add(1, Ordering::Relaxed);
        if failed_before < 2 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
    };
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ada\n" }))
        .route("/flaky", get(flaky))
        .layer(OtelLayer::axum());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The retry middleware first (outer), then ours (inner): ours sees every attempt.
    let retry_policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(10), Duration::from_millis(50))
        .build_with_max_retries(3);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(retry_policy))
        .with(OtelMiddleware::default())
        .build();

    // One parent span around both calls, so the waterfall shows them in one trace.
    let parent = Context::current_with_span(global::tracer("reqwest-client").start("nightly sync"));
    async {
        println!("GET /users/42 with a UrlTemplate:");
        let request = client.get(format!("http://{addr}/users/42")).with_extension(UrlTemplate::new("/users/{id}"));
        println!("  -> {}", request.send().await?.status());
        println!("GET /flaky, retried on 503:");
        println!("  -> {}", client.get(format!("http://{addr}/flaky")).send().await?.status());
        Ok::<_, reqwest_middleware::Error>(())
    }
    .with_context(parent.clone())
    .await?;
    parent.span().end();
    provider.shutdown()?; // flushes: the waterfall prints the trace
    Ok(())
}
