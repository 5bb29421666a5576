//! `document-service` (actix-web + otel-actix): runs the document pipeline as custom spans and
//! calls `ml-service` (reqwest + otel-reqwest) to embed the chunks.

use super::Upload;
use super::ml::{EmbedRequest, EmbedResponse};
use super::pipeline::{StepError, attribute, event, step};
use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_actix::OtelMiddleware;
use otel_core::config::HttpServerConfig;
use otel_reqwest::UrlTemplate;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

struct DocumentService {
    client: ClientWithMiddleware,
    embed_url: String,
    tracer: SdkTracer,
}

/// The actix-web system the service runs on, on its own thread.
#[derive(Debug)]
pub(crate) struct Running {
    system: actix_web::rt::System,
}

impl Running {
    pub(crate) fn stop(self) {
        self.system.stop();
    }
}

/// Starts the service on a thread of its own (actix-web runs its own runtime).
pub(crate) fn serve(provider: SdkTracerProvider, port: u16, ml: SocketAddr) -> io::Result<(SocketAddr, Running)> {
    let (started, receive) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("document-service".into()).spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match server(&provider, port, ml) {
                Ok((address, server)) => {
                    let _ = started.send(Ok((address, actix_web::rt::System::current())));
                    let _ = server.await;
                }
                Err(error) => {
                    let _ = started.send(Err(error));
                }
            }
        });
    })?;
    let (address, system) = receive.recv().map_err(|_| io::Error::other("document-service did not start"))??;
    Ok((address, Running { system }))
}

fn server(provider: &SdkTracerProvider, port: u16, ml: SocketAddr) -> io::Result<(SocketAddr, actix_web::dev::Server)> {
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(otel_reqwest::OtelMiddleware::builder().tracer_provider(provider).build())
        .build();
    let service = web::Data::new(DocumentService {
        client,
        embed_url: format!("http://{ml}/embed"),
        tracer: provider.tracer("document-pipeline"),
    });
    let middleware = OtelMiddleware::builder()
        .tracer_provider(provider)
        .config(HttpServerConfig::builder().exclude_path("/health"))
        .build();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(service.clone())
            .wrap(middleware.clone())
            .route("/process", web::post().to(process))
            .route("/health", web::get().to(|| async { "ok" }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(("127.0.0.1", port))?;
    let address = server.addrs()[0];
    Ok((address, server.run()))
}

#[derive(Debug, Serialize)]
struct Summary {
    name: String,
    kind: &'static str,
    chunks: i64,
    vectors: i64,
}

#[derive(Debug)]
enum PipelineError {
    Unreadable,
    Embedding(String),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable => f.write_str("the scan could not be read"),
            Self::Embedding(reason) => write!(f, "embedding failed: {reason}"),
        }
    }
}

impl std::error::Error for PipelineError {}

impl StepError for PipelineError {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable_document",
            Self::Embedding(_) => "embedding_failed",
        }
    }
}

async fn process(service: web::Data<DocumentService>, upload: web::Json<Upload>) -> HttpResponse {
    let tier = Context::current().baggage().get("user.tier").map(|v| v.to_string()).unwrap_or_else(|| "unknown".into());
    // The server span otel-actix started is the current span: add to it.
    Context::current().span().set_attribute(KeyValue::new("app.user.tier", tier.clone()));
    tracing::info!(document = %upload.name, tier = %tier, "processing");
    match pipeline(&service, &upload.name).await {
        Ok(summary) => HttpResponse::Ok().json(summary),
        Err(error) => {
            tracing::error!(error = %error, "pipeline failed");
            HttpResponse::InternalServerError().body(error.to_string())
        }
    }
}

async fn pipeline(service: &DocumentService, name: &str) -> Result<Summary, PipelineError> {
    let tracer = &service.tracer;
    let kind = step(tracer, "detect type", |cx| async move {
        let kind = match name.rsplit('.').next() {
            Some("pdf") => "pdf",
            Some("docx") => "docx",
            _ => "text",
        };
        attribute(&cx, KeyValue::new("document.type", kind));
        event(&cx, "magic bytes checked", vec![KeyValue::new("bytes.read", 8_i64)]);
        tokio::time::sleep(Duration::from_millis(4)).await;
        Ok(kind)
    })
    .await?;
    let length = step(tracer, "extract", |cx| async move {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if name.contains("corrupt") {
            return Err(PipelineError::Unreadable);
        }
        let length: i64 = if name.contains("large") { 48_000 } else { 9_500 };
        attribute(&cx, KeyValue::new("document.text.length", length));
        Ok(length)
    })
    .await?;
    if name.contains("large") {
        // Waiting for a worker slot, deliberately without a span: the waterfall shows this time
        // inside the server span as a gap, which is how such waits are found.
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    let chunks = step(tracer, "chunk", |cx| async move {
        let chunks = length / 4_000 + 1;
        for index in 0..chunks {
            event(&cx, "chunk", vec![KeyValue::new("chunk.index", index)]);
        }
        attribute(&cx, KeyValue::new("document.chunks", chunks));
        tokio::time::sleep(Duration::from_millis(6)).await;
        Ok(chunks)
    })
    .await?;
    let vectors = step(tracer, "embed", |cx| async move {
        let response = service
            .client
            .post(&service.embed_url)
            .with_extension(UrlTemplate::new("/embed"))
            .json(&EmbedRequest { chunks })
            .send()
            .await
            .map_err(|e| PipelineError::Embedding(e.to_string()))?;
        let body: EmbedResponse = response.json().await.map_err(|e| PipelineError::Embedding(e.to_string()))?;
        attribute(&cx, KeyValue::new("embedding.vectors", body.vectors));
        Ok(body.vectors)
    })
    .await?;
    Ok(Summary { name: name.to_owned(), kind, chunks, vectors })
}
