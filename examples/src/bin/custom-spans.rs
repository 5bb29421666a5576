//! Your own spans inside an instrumented handler, two ways: with the OpenTelemetry API, and with
//! `tracing` bridged by tracing-opentelemetry. Both nest under otel-tower's SERVER span, because
//! that span is the current context while the handler runs.
//!
//! ```sh
//! cargo run --bin custom-spans
//! ```

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use opentelemetry::trace::{FutureExt, Span, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};
use otel_tower::OtelLayer;
use std::time::Duration;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

async fn order(Path(id): Path<u32>) -> Result<String, StatusCode> {
    let tracer = global::tracer("custom-spans");

    // 1. The OpenTelemetry API: a child of the current context (the server span).
    let mut validate = tracer.start("validate order");
    validate.set_attribute(KeyValue::new("app.order.id", i64::from(id)));
    validate.add_event("rules loaded", vec![KeyValue::new("app.rules.count", 12)]);
    if id == 0 {
        let error = std::io::Error::new(std::io::ErrorKind::InvalidInput, "order 0 does not exist");
        validate.record_error(&error); // an `exception` event with the error's type and message
        validate.set_status(Status::error("invalid order id"));
        validate.end();
        return Err(StatusCode::NOT_FOUND);
    }
    validate.end();

    // Async work inside an API span: make its context current while the future runs, so spans
    // started inside (and client calls) become its children.
    let load = Context::current_with_span(tracer.start("load order"));
    tokio::time::sleep(Duration::from_millis(5)).with_context(load.clone()).await;
    load.span().end();

    // 2. `tracing`: a span the bridge turns into an OpenTelemetry span, child of the server span.
    let price = async {
        tokio::time::sleep(Duration::from_millis(3)).await;
        tracing::info!(app.order.total = 42, "priced"); // an event on the span
        42
    };
    let total = price.instrument(tracing::info_span!("price order", app.order.id = id)).await;
    Ok(format!("order {id}: total {total}\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = otel_core::setup::Setup::new()
        .service_name("custom-spans")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    // The bridge: `tracing` spans become OpenTelemetry spans of the installed provider.
    if let Some(provider) = guard.provider() {
        use opentelemetry::trace::TracerProvider as _;
        let bridge = tracing_opentelemetry::layer().with_tracer(provider.tracer("custom-spans"));
        tracing_subscriber::registry().with(bridge).init();
    }

    let app = Router::new().route("/orders/{id}", get(order)).layer(OtelLayer::axum());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    for id in [7, 0] {
        let response = reqwest::get(format!("http://{addr}/orders/{id}")).await?;
        println!("GET /orders/{id} -> {}", response.status());
    }
    Ok(()) // the guard prints two traces: validate, load and price under GET /orders/{id}; ✗ on 0
}
