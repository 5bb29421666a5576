//! `document-service` (actix-web + otel-actix): runs the document pipeline as custom spans, calls
//! `ml-service` (reqwest + otel-reqwest) to embed the chunks, and stores the result (otel-sqlx).
//! With `--services`, lookups go through a Redis cache (otel-redis) and each stored document is
//! announced on a Kafka topic (otel-kafka) for the indexer.

use super::ml::{EmbedRequest, EmbedResponse};
use super::pipeline::{StepError, attribute, event, step};
use super::store::{Store, Stored};
use super::{Backends, Upload};
use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_actix::OtelMiddleware;
use otel_core::config::HttpServerConfig;
use otel_redis::TracedConnection;
use otel_reqwest::UrlTemplate;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

struct DocumentService {
    client: ClientWithMiddleware,
    embed_url: String,
    tracer: SdkTracer,
    store: Store,
    /// With `--services`: the cache in front of lookups, and the producer of stored events.
    cache: Option<TracedConnection<MultiplexedConnection, SdkTracer>>,
    #[cfg(feature = "kafka")]
    events: Option<super::indexer::Events>,
}

impl DocumentService {
    /// Opens the store, and with `--services` the cache and the producer, on the service's own
    /// runtime.
    async fn connect(provider: &SdkTracerProvider, ml: SocketAddr, backends: &Backends) -> io::Result<Self> {
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(otel_reqwest::OtelMiddleware::builder().tracer_provider(provider).build())
            .build();
        let store = Store::open(&backends.database, provider).await.map_err(io::Error::other)?;
        let cache = match &backends.redis {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).map_err(io::Error::other)?;
                let info = client.get_connection_info().clone();
                let connection = client.get_multiplexed_async_connection().await.map_err(io::Error::other)?;
                Some(TracedConnection::builder().tracer_provider(provider).connection_info(&info).build(connection))
            }
            None => None,
        };
        #[cfg(feature = "kafka")]
        let events = match &backends.kafka {
            Some(brokers) => Some(super::indexer::Events::connect(provider, brokers, &backends.run)?),
            None => None,
        };
        Ok(Self {
            client,
            embed_url: format!("http://{ml}/embed"),
            tracer: provider.tracer("document-pipeline"),
            store,
            cache,
            #[cfg(feature = "kafka")]
            events,
        })
    }
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
pub(crate) fn serve(
    provider: SdkTracerProvider,
    port: u16,
    ml: SocketAddr,
    backends: Backends,
) -> io::Result<(SocketAddr, Running)> {
    let (started, receive) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("document-service".into()).spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let service = DocumentService::connect(&provider, ml, &backends).await;
            match service.and_then(|service| server(&provider, port, service)) {
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

fn server(
    provider: &SdkTracerProvider,
    port: u16,
    service: DocumentService,
) -> io::Result<(SocketAddr, actix_web::dev::Server)> {
    let service = web::Data::new(service);
    let middleware = OtelMiddleware::builder()
        .tracer_provider(provider)
        .config(HttpServerConfig::builder().exclude_path("/health"))
        .build();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(service.clone())
            .wrap(middleware.clone())
            .route("/process", web::post().to(process))
            .route("/lookup/{name}", web::get().to(lookup))
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
    Storing(String),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable => f.write_str("the scan could not be read"),
            Self::Embedding(reason) => write!(f, "embedding failed: {reason}"),
            Self::Storing(reason) => write!(f, "storing failed: {reason}"),
        }
    }
}

impl std::error::Error for PipelineError {}

impl StepError for PipelineError {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable_document",
            Self::Embedding(_) => "embedding_failed",
            Self::Storing(_) => "storing_failed",
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
    // The SQL spans (and the pool's wait, when the connection is busy) are the service's own
    // children: no step span around them.
    let stored = Stored { kind: kind.to_owned(), chunks, vectors, indexed: false };
    service.store.save(tracer, name, &stored).await.map_err(|e| PipelineError::Storing(e.to_string()))?;
    if let Some(mut cache) = service.cache.clone() {
        // A lookup cached before this upload would be stale.
        cache.del::<_, ()>(cache_key(name)).await.map_err(|e| PipelineError::Storing(e.to_string()))?;
    }
    #[cfg(feature = "kafka")]
    if let Some(events) = &service.events {
        // The indexer picks the document up from the topic, in the same trace.
        events.announce(name).await.map_err(PipelineError::Storing)?;
    }
    Ok(Summary { name: name.to_owned(), kind, chunks, vectors })
}

/// `GET /lookup/{name}`: the stored document, from the cache when it holds it (`--services`).
async fn lookup(service: web::Data<DocumentService>, name: web::Path<String>) -> HttpResponse {
    let key = cache_key(&name);
    let mut cache = service.cache.clone();
    if let Some(cache) = &mut cache {
        match cache.get::<_, Option<String>>(&key).await {
            Ok(Some(cached)) => return HttpResponse::Ok().content_type("application/json").body(cached),
            Ok(None) => {}
            Err(error) => tracing::warn!(error = %error, "cache unavailable"),
        }
    }
    match service.store.find(&name).await {
        Ok(Some(stored)) => {
            let body = serde_json::to_string(&stored).unwrap_or_default();
            if let Some(cache) = &mut cache
                && let Err(error) = cache.set_ex::<_, _, ()>(&key, &body, 60).await
            {
                tracing::warn!(error = %error, "cache unavailable");
            }
            HttpResponse::Ok().content_type("application/json").body(body)
        }
        Ok(None) => HttpResponse::NotFound().body("no such document"),
        Err(error) => {
            tracing::error!(error = %error, "lookup failed");
            HttpResponse::InternalServerError().body("lookup failed")
        }
    }
}

/// The cache key of the document named `name`.
fn cache_key(name: &str) -> String {
    format!("demo:document:{name}")
}
