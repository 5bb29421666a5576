//! `indexer` (otel-kafka consumer + otel-sqlx), with `--services` only: processes each
//! `document.stored` event from the topic and marks the document indexed. Its `process` span
//! continues the trace of the upload that sent the event; the time between the `send` and the
//! `process` span is the time the message waited in the queue.

use super::DOCUMENTS_TOPIC;
use super::store::Store;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otel_kafka::{ConsumerTracing, TracedFutureProducer};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::DefaultRuntime;
use std::io;
use std::time::Duration;
use tokio::sync::mpsc;

/// `document-service`'s side: announces each stored document on the topic.
pub(crate) struct Events {
    producer: TracedFutureProducer<DefaultClientContext, DefaultRuntime, SdkTracer>,
    /// This run's id, the payload of its events (the indexer skips other runs').
    run: String,
}

impl Events {
    /// A producer traced with `provider`.
    pub(crate) fn connect(provider: &SdkTracerProvider, brokers: &str, run: &str) -> io::Result<Self> {
        let config = ClientConfig::new().set("bootstrap.servers", brokers).set("message.timeout.ms", "10000").clone();
        let producer = config.create().map_err(io::Error::other)?;
        let producer = TracedFutureProducer::builder().tracer_provider(provider).client_config(&config).build(producer);
        Ok(Self { producer, run: run.to_owned() })
    }

    /// Sends `name`'s event, under the current span.
    pub(crate) async fn announce(&self, name: &str) -> Result<(), String> {
        let record = FutureRecord::to(DOCUMENTS_TOPIC).key(name).payload(&self.run);
        self.producer.send(record, Duration::from_secs(10)).await.map(|_| ()).map_err(|(error, _)| error.to_string())
    }
}

/// Creates the topic when the broker does not have it yet.
pub(crate) async fn create_topic(brokers: &str) -> io::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().map_err(io::Error::other)?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let topic = NewTopic::new(DOCUMENTS_TOPIC, 1, TopicReplication::Fixed(1));
    for result in admin.create_topics(&[topic], &options).await.map_err(io::Error::other)? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(io::Error::other(format!("creating topic {topic}: {code}"))),
        }
    }
    Ok(())
}

/// Starts the indexer: it reads the topic from the start in a group of its own (so no event of
/// this run is missed, however long joining takes), processes the events of this run (their
/// payload is `run`) and sends each document's name on `indexed`.
pub(crate) async fn start(
    provider: SdkTracerProvider,
    brokers: &str,
    database: &str,
    run: String,
    indexed: mpsc::UnboundedSender<String>,
) -> io::Result<()> {
    let store = Store::open(database, &provider).await.map_err(io::Error::other)?;
    let config = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("demo-indexer-{run}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .clone();
    let consumer: StreamConsumer = config.create().map_err(io::Error::other)?;
    consumer.subscribe(&[DOCUMENTS_TOPIC]).map_err(io::Error::other)?;
    let tracing = ConsumerTracing::builder().tracer_provider(&provider).client_config(&config).build();
    tokio::spawn(async move {
        loop {
            let message = match consumer.recv().await {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(error = %error, "indexer: receive failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            // Events of earlier runs (the topic outlives the demo) are skipped, untraced.
            if message.payload() != Some(run.as_bytes()) {
                continue;
            }
            let Some(name) = message.key().and_then(|key| std::str::from_utf8(key).ok()).map(str::to_owned) else {
                continue;
            };
            let processed = tracing
                .process(&message, async |_| {
                    tracing::info!(document = %name, "indexing");
                    store.mark_indexed(&name).await
                })
                .await;
            if let Err(error) = processed {
                tracing::error!(error = %error, "indexer: update failed");
            }
            let _ = indexed.send(name);
        }
    });
    Ok(())
}
