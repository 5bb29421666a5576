//! `ml-service` (axum + otel-tower): embeds a batch of chunks. Reads the `user.tier` baggage set
//! two services upstream to choose a model.

use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{FutureExt, Span, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_core::config::HttpServerConfig;
use otel_tower::OtelLayer;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EmbedRequest {
    pub(crate) chunks: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EmbedResponse {
    pub(crate) vectors: i64,
}

pub(crate) async fn serve(provider: SdkTracerProvider, port: u16) -> io::Result<SocketAddr> {
    let tracer = Arc::new(provider.tracer("ml-service"));
    let app = Router::new()
        .route("/embed", post(move |Json(batch): Json<EmbedRequest>| embed(Arc::clone(&tracer), batch)))
        .route("/health", get(|| async { "ok" }))
        .layer(
            OtelLayer::builder()
                .tracer_provider(&provider)
                .config(HttpServerConfig::builder().exclude_path("/health"))
                .axum_body()
                .build(),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    Ok(address)
}

async fn embed(tracer: Arc<SdkTracer>, batch: EmbedRequest) -> Json<EmbedResponse> {
    let tier = Context::current().baggage().get("user.tier").map(|v| v.to_string()).unwrap_or_else(|| "unknown".into());
    let model = if tier == "gold" { "minilm-l12" } else { "minilm-l6" };
    tracing::info!(chunks = batch.chunks, model, "embedding");

    let mut span = tracer.start("embed batch");
    span.set_attributes([
        KeyValue::new("embedding.model", model),
        KeyValue::new("embedding.dimensions", 384_i64),
        KeyValue::new("embedding.chunks", batch.chunks),
        KeyValue::new("app.user.tier", tier),
    ]);
    let cx = Context::current_with_span(span);
    tokio::time::sleep(Duration::from_millis(8 * batch.chunks.clamp(1, 20) as u64)).with_context(cx.clone()).await;
    cx.span().end();
    Json(EmbedResponse { vectors: batch.chunks })
}
