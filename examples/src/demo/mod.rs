//! The demo: services on loopback, one distributed trace per request.
//!
//! - `api-gateway` (axum + otel-tower) accepts `POST /documents`, sets the `user.tier` baggage
//!   and calls `document-service`; `GET /documents/{name}` looks a document up there;
//! - `document-service` (actix-web + otel-actix) runs a small pipeline (detect type, extract,
//!   chunk, embed) as custom spans, calls `ml-service` to embed the chunks, and stores the result
//!   through otel-sqlx: an embedded SQLite database, or PostgreSQL with `--services`. Its pool has
//!   one connection, which saving holds while it indexes: uploads sent at once wait for it;
//! - `ml-service` (axum + otel-tower) embeds a batch;
//! - with `--services` only: lookups go through a Redis cache (otel-redis), and each stored
//!   document is announced on a Kafka topic (otel-kafka) that `indexer` consumes, in the same
//!   trace, marking the document indexed in the database.
//!
//! Services call each other with reqwest + otel-reqwest. Each has its own tracer provider (so its
//! own `service.name`); `/health` is excluded by configuration on every service. Metrics go to the
//! global meter provider, which the demo reads back at the end ([`MetricsSummary`]).

mod documents;
mod gateway;
#[cfg(feature = "kafka")]
mod indexer;
mod ml;
mod pipeline;
mod store;
mod summary;

pub use store::{EMBEDDED_DATABASE, Stored};
pub use summary::{Distribution, MetricsSummary};

use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// The topic `document-service` announces stored documents on, and `indexer` consumes.
pub const DOCUMENTS_TOPIC: &str = "demo-documents";

/// Whether this build has the Kafka part of `--services` (the `kafka` feature: librdkafka is built
/// from source, which needs cmake and the headers of libcurl and zlib).
pub const KAFKA: bool = cfg!(feature = "kafka");

/// Where the demo keeps its data.
#[derive(Clone, Debug)]
pub struct Backends {
    /// The documents database, as a sqlx `Any` URL.
    pub database: String,
    /// The Redis server of the lookup cache, when there is one.
    pub redis: Option<String>,
    /// The Kafka bootstrap servers of the stored-documents topic, when there is one.
    pub kafka: Option<String>,
    /// This run's id: the payload of its events (the topic outlives a run).
    pub run: String,
}

impl Backends {
    /// Nothing to install: SQLite in memory, no cache, no topic.
    pub fn embedded() -> Self {
        Self { database: EMBEDDED_DATABASE.to_owned(), redis: None, kafka: None, run: run_id() }
    }

    /// The services `scripts/services.sh start` runs: PostgreSQL, Redis and (with the `kafka`
    /// feature) Kafka on 127.0.0.1 (`DATABASE_URL`, `REDIS_URL` and `KAFKA_BROKERS` name others).
    /// `Err` lists those that cannot be reached.
    pub async fn services() -> Result<Self, Vec<String>> {
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let database = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
        let redis = env("REDIS_URL", "redis://127.0.0.1:6379");
        let kafka = KAFKA.then(|| env("KAFKA_BROKERS", "127.0.0.1:9092"));
        let mut missing = Vec::new();
        let mut wanted = vec![("PostgreSQL", &database, 5432), ("Redis", &redis, 6379)];
        wanted.extend(kafka.as_ref().map(|kafka| ("Kafka", kafka, 9092)));
        for (name, url, port) in wanted {
            let address = address_of(url, port);
            let connect = tokio::net::TcpStream::connect(&address);
            if !matches!(tokio::time::timeout(Duration::from_secs(1), connect).await, Ok(Ok(_))) {
                missing.push(format!("{name} at {address}"));
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Self { database, redis: Some(redis), kafka, run: run_id() })
    }
}

/// `host:port` of a URL (`scheme://user@host:port/path`) or of `host:port`; `port` when it has none.
fn address_of(url: &str, port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host = rest.split(['/', '?', ',']).next().unwrap_or(rest);
    if host.contains(':') { host.to_owned() } else { format!("{host}:{port}") }
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("run-{nanos:x}")
}

/// The tracer provider of each service.
#[derive(Clone, Debug)]
pub struct Providers {
    /// `api-gateway`.
    pub gateway: SdkTracerProvider,
    /// `document-service`.
    pub documents: SdkTracerProvider,
    /// `ml-service`.
    pub ml: SdkTracerProvider,
    /// `indexer` (with `--services`).
    pub indexer: SdkTracerProvider,
}

impl Providers {
    /// Flushes every provider, so every finished span has been handed to its exporter.
    pub fn flush(&self) {
        for provider in self.all() {
            let _ = provider.force_flush();
        }
    }

    /// Every service's provider.
    pub fn all(&self) -> [&SdkTracerProvider; 4] {
        [&self.gateway, &self.documents, &self.ml, &self.indexer]
    }
}

/// Where the services listen: port 0 picks free ports.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// `api-gateway`.
    pub gateway: u16,
    /// `document-service`.
    pub documents: u16,
    /// `ml-service`.
    pub ml: u16,
}

impl Ports {
    /// Free ports chosen by the system.
    pub const ANY: Self = Self { gateway: 0, documents: 0, ml: 0 };
    /// The fixed ports `--serve` uses, so that a person can curl them.
    pub const FIXED: Self = Self { gateway: 8080, documents: 8081, ml: 8082 };
}

/// The running demo.
#[derive(Debug)]
pub struct Demo {
    /// `api-gateway`'s address.
    pub gateway: SocketAddr,
    /// `document-service`'s address.
    pub documents: SocketAddr,
    /// `ml-service`'s address.
    pub ml: SocketAddr,
    /// Whether lookups go through the cache and stored documents through the topic.
    pub services: bool,
    documents_server: documents::Running,
    /// The names `indexer` processed (with `--services`).
    indexed: Option<Mutex<mpsc::UnboundedReceiver<String>>>,
}

/// A document upload, as the gateway receives it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Upload {
    /// The file name: its extension decides the type; `corrupt` in it makes extraction fail;
    /// `large` in it makes processing slow.
    pub name: String,
}

/// One request of the scenario and how it ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// What was sent.
    pub request: String,
    /// The gateway's status code.
    pub status: u16,
}

impl Demo {
    /// Starts the services, with their data in `backends`.
    pub async fn start(providers: &Providers, ports: Ports, backends: Backends) -> io::Result<Self> {
        #[cfg(feature = "kafka")]
        let indexed = match &backends.kafka {
            Some(brokers) => {
                indexer::create_topic(brokers).await?;
                let (send, receive) = mpsc::unbounded_channel();
                let provider = providers.indexer.clone();
                indexer::start(provider, brokers, &backends.database, backends.run.clone(), send).await?;
                Some(Mutex::new(receive))
            }
            None => None,
        };
        #[cfg(not(feature = "kafka"))]
        let indexed = None;
        let services = backends.redis.is_some();
        let ml = ml::serve(providers.ml.clone(), ports.ml).await?;
        let (documents, documents_server) =
            documents::serve(providers.documents.clone(), ports.documents, ml, backends)?;
        let gateway = gateway::serve(providers.gateway.clone(), ports.gateway, documents).await?;
        Ok(Self { gateway, documents, ml, services, documents_server, indexed })
    }

    /// The scenario: a health check (excluded: no trace), four uploads with different user tiers
    /// (one of them slow, with time no span covers, and one that fails), a document looked up
    /// twice (a cache miss, then a hit, with `--services`), and three uploads at once, which wait
    /// for the pool's one connection. `between` runs after each request (the demo prints the
    /// finished trace there); with `--services`, once the indexer has processed the upload.
    pub async fn run_scenario(&self, mut between: impl FnMut(&Outcome)) -> Vec<Outcome> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("a reqwest client");
        let base = format!("http://{}", self.gateway);
        let mut outcomes = Vec::new();
        let status = |response: reqwest::Result<reqwest::Response>| response.map_or(0, |r| r.status().as_u16());

        let outcome = Outcome {
            request: "GET /health".into(),
            status: status(client.get(format!("{base}/health")).send().await),
        };
        between(&outcome);
        outcomes.push(outcome);

        for (name, tier) in [
            ("invoice-2024.pdf", "free"),
            ("contract.docx", "gold"),
            ("corrupt-scan.pdf", "free"),
            ("large-report.pdf", "gold"),
        ] {
            let outcome = Outcome {
                request: format!("POST /documents {name} (user.tier={tier})"),
                status: status(upload(&client, &base, name, tier).await),
            };
            if outcome.status == 200 {
                self.wait_indexed(1).await;
            }
            between(&outcome);
            outcomes.push(outcome);
        }

        for lookup in if self.services { ["cache miss", "cache hit"] } else { ["first", "again"] } {
            let response = client.get(format!("{base}/documents/contract.docx")).send().await;
            let outcome =
                Outcome { request: format!("GET /documents/contract.docx ({lookup})"), status: status(response) };
            between(&outcome);
            outcomes.push(outcome);
        }

        // Three at once: the pool's one connection serves them in turn.
        let names = ["batch-1.txt", "batch-2.txt", "batch-3.txt"];
        let sent = futures_util::future::join_all(names.map(|name| upload(&client, &base, name, "free"))).await;
        let succeeded = sent.iter().filter(|response| response.as_ref().is_ok_and(|r| r.status().is_success())).count();
        self.wait_indexed(succeeded).await;
        for (name, response) in names.into_iter().zip(sent) {
            let outcome = Outcome {
                request: format!("POST /documents {name} (three at once, one connection)"),
                status: status(response),
            };
            between(&outcome);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Waits (up to 10 s) until the indexer has processed `count` more documents, with
    /// `--services`.
    async fn wait_indexed(&self, count: usize) {
        let Some(indexed) = &self.indexed else { return };
        let mut indexed = indexed.lock().await;
        for _ in 0..count {
            if tokio::time::timeout(Duration::from_secs(10), indexed.recv()).await.is_err() {
                tracing::warn!("the indexer did not process an upload within 10 s");
                return;
            }
        }
    }

    /// Stops the actix-web service (the axum services stop with the runtime).
    pub fn stop(self) {
        self.documents_server.stop();
    }
}

/// Sends one upload to the gateway.
async fn upload(client: &reqwest::Client, base: &str, name: &str, tier: &str) -> reqwest::Result<reqwest::Response> {
    let upload = Upload { name: name.into() };
    client.post(format!("{base}/documents")).header("x-user-tier", tier).json(&upload).send().await
}
