//! The demo: three services on loopback, one distributed trace per request.
//!
//! - `api-gateway` (axum + otel-tower) accepts `POST /documents`, sets the `user.tier` baggage
//!   and calls `document-service`;
//! - `document-service` (actix-web + otel-actix) runs a small pipeline (detect type, extract,
//!   chunk, embed) as custom spans, and calls `ml-service` to embed the chunks;
//! - `ml-service` (axum + otel-tower) embeds a batch.
//!
//! Services call each other with reqwest + otel-reqwest. Each has its own tracer provider (so its
//! own `service.name`); `/health` is excluded by configuration on every service.

mod documents;
mod gateway;
mod ml;
mod pipeline;

use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// The tracer provider of each service.
#[derive(Clone, Debug)]
pub struct Providers {
    /// `api-gateway`.
    pub gateway: SdkTracerProvider,
    /// `document-service`.
    pub documents: SdkTracerProvider,
    /// `ml-service`.
    pub ml: SdkTracerProvider,
}

impl Providers {
    /// Flushes every provider, so every finished span has been handed to its exporter.
    pub fn flush(&self) {
        for provider in [&self.gateway, &self.documents, &self.ml] {
            let _ = provider.force_flush();
        }
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
    documents_server: documents::Running,
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
    /// Starts the three services.
    pub async fn start(providers: &Providers, ports: Ports) -> io::Result<Self> {
        let ml = ml::serve(providers.ml.clone(), ports.ml).await?;
        let (documents, documents_server) = documents::serve(providers.documents.clone(), ports.documents, ml)?;
        let gateway = gateway::serve(providers.gateway.clone(), ports.gateway, documents).await?;
        Ok(Self { gateway, documents, ml, documents_server })
    }

    /// The scenario: a health check (excluded: no trace), three uploads with different user
    /// tiers (one of them slow, with time no span covers), and one that fails. `between` runs
    /// after each request (the demo prints the finished trace there).
    pub async fn run_scenario(&self, mut between: impl FnMut(&Outcome)) -> Vec<Outcome> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("a reqwest client");
        let base = format!("http://{}", self.gateway);
        let mut outcomes = Vec::new();

        let health = client.get(format!("{base}/health")).send().await;
        let outcome = Outcome { request: "GET /health".into(), status: health.map_or(0, |r| r.status().as_u16()) };
        between(&outcome);
        outcomes.push(outcome);

        for (name, tier) in [
            ("invoice-2024.pdf", "free"),
            ("contract.docx", "gold"),
            ("corrupt-scan.pdf", "free"),
            ("large-report.pdf", "gold"),
        ] {
            let upload = Upload { name: name.into() };
            let response =
                client.post(format!("{base}/documents")).header("x-user-tier", tier).json(&upload).send().await;
            let outcome = Outcome {
                request: format!("POST /documents {name} (user.tier={tier})"),
                status: response.map_or(0, |r| r.status().as_u16()),
            };
            between(&outcome);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Stops the actix-web service (the axum services stop with the runtime).
    pub fn stop(self) {
        self.documents_server.stop();
    }
}
