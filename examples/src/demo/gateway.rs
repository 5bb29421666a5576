//! `api-gateway` (axum + otel-tower): accepts uploads, puts the user's tier in the baggage, and
//! forwards them to `document-service` (reqwest + otel-reqwest); looks documents up there.

use super::Upload;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{FutureExt, Span, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_core::config::HttpServerConfig;
use otel_reqwest::UrlTemplate;
use otel_tower::OtelLayer;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

struct Gateway {
    client: ClientWithMiddleware,
    process_url: String,
    lookup_url: String,
    tracer: SdkTracer,
}

pub(crate) async fn serve(provider: SdkTracerProvider, port: u16, documents: SocketAddr) -> io::Result<SocketAddr> {
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(otel_reqwest::OtelMiddleware::builder().tracer_provider(&provider).build())
        .build();
    let gateway = Arc::new(Gateway {
        client,
        process_url: format!("http://{documents}/process"),
        lookup_url: format!("http://{documents}/lookup"),
        tracer: provider.tracer("api-gateway"),
    });
    let app = Router::new()
        .route("/documents", post(upload))
        .route("/documents/{name}", get(lookup))
        .route("/health", get(|| async { "ok" }))
        .with_state(gateway)
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

async fn upload(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Json(upload): Json<Upload>,
) -> (StatusCode, String) {
    let tier = headers.get("x-user-tier").and_then(|v| v.to_str().ok()).unwrap_or("free").to_owned();
    tracing::info!(document = %upload.name, tier = %tier, "upload accepted");

    // A business step of the gateway's own, as a span under the server span.
    let mut validate = gateway.tracer.start("validate upload");
    validate.set_attribute(KeyValue::new("document.name", upload.name.clone()));
    validate.end();

    // Baggage travels with every downstream call made in this context.
    let cx = Context::current().with_baggage([KeyValue::new("user.tier", tier)]);
    let sent = gateway
        .client
        .post(&gateway.process_url)
        .with_extension(UrlTemplate::new("/process"))
        .json(&upload)
        .send()
        .with_context(cx)
        .await;
    match sent {
        Ok(response) if response.status().is_success() => (StatusCode::OK, response.text().await.unwrap_or_default()),
        Ok(response) => {
            tracing::warn!(status = response.status().as_u16(), "document-service failed");
            (StatusCode::BAD_GATEWAY, "document processing failed".into())
        }
        Err(error) => {
            tracing::error!(error = %error, "document-service unreachable");
            (StatusCode::BAD_GATEWAY, "document-service unreachable".into())
        }
    }
}

async fn lookup(State(gateway): State<Arc<Gateway>>, Path(name): Path<String>) -> (StatusCode, String) {
    let sent = gateway
        .client
        .get(format!("{}/{name}", gateway.lookup_url))
        .with_extension(UrlTemplate::new("/lookup/{name}"))
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => {
            tracing::error!(error = %error, "document-service unreachable");
            (StatusCode::BAD_GATEWAY, "document-service unreachable".into())
        }
    }
}
