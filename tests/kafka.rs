//! HTTP -> Kafka -> database in one trace: an axum handler produces a message; a consumer in a
//! consumer group processes it and queries PostgreSQL inside the process span.

use axum::Router;
use axum::routing::post;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SdkTracer;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::SpanRecorder;
use otel_kafka::{ConsumerTracing, TracedFutureProducer};
use otel_sqlx::TracedPool;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::{Pool, Postgres};
use std::sync::Arc;
use std::time::Duration;

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn unreachable(what: &str, error: impl std::fmt::Display) -> ! {
    panic!("{what} is not reachable ({error}): start the services with `scripts/services.sh start`")
}

fn config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("client.id", "e2e").set("compression.type", "none");
    config
}

async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = config(brokers).create().unwrap_or_else(|e| unreachable("Kafka", e));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let created = admin.create_topics(&[NewTopic::new(topic, 1, TopicReplication::Fixed(1))], &options).await;
    for result in created.unwrap_or_else(|e| unreachable("Kafka", e)) {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name}: {code:?}"));
    }
}

async fn postgres(recorder: &SpanRecorder) -> TracedPool<Postgres, SdkTracer> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = match Pool::<Postgres>::connect(&url).await {
        Ok(pool) => pool,
        Err(_) => Pool::<Postgres>::connect("postgres://root@127.0.0.1:5432/test")
            .await
            .unwrap_or_else(|e| unreachable("PostgreSQL", e)),
    };
    TracedPool::builder().tracer_provider(recorder.provider()).build(pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_flows_from_http_through_kafka_to_the_database_in_one_trace() {
    let brokers = brokers();
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let topic = format!("e2e-orders-{}-{run}", std::process::id());
    create_topic(&brokers, &topic).await;
    let recorder = SpanRecorder::new();

    // The HTTP service produces one message per order.
    let producer_config = config(&brokers);
    let inner: FutureProducer = producer_config.create().unwrap_or_else(|e| unreachable("Kafka", e));
    let producer = Arc::new(
        TracedFutureProducer::builder()
            .tracer_provider(recorder.provider())
            .propagator(StrictTraceContextPropagator::new())
            .client_config(&producer_config)
            .build(inner),
    );
    let orders_topic = topic.clone();
    let app = Router::new()
        .route(
            "/orders",
            post(move || {
                let (producer, topic) = (Arc::clone(&producer), orders_topic.clone());
                async move {
                    let record = FutureRecord::to(&topic).key("order-42").payload("{\"total\":42}");
                    match producer.send(record, Duration::from_secs(30)).await {
                        Ok(_) => "queued",
                        Err(_) => "failed",
                    }
                }
            }),
        )
        .layer(otel_e2e::tower_layer(&recorder));
    let address = otel_e2e::serve_axum(app).await;
    let body =
        reqwest::Client::new().post(format!("http://{address}/orders")).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "queued");

    // A consumer in a consumer group processes it and queries the database.
    let mut consumer_config = config(&brokers);
    consumer_config
        .set("group.id", format!("e2e-billing-{}-{run}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    let inner: StreamConsumer = consumer_config.create().unwrap_or_else(|e| unreachable("Kafka", e));
    inner.subscribe(&[topic.as_str()]).unwrap();
    let consumer = ConsumerTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&consumer_config)
        .wrap(inner);
    let pool = postgres(&recorder).await;
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await.expect("a message").unwrap();
    let key = message
        .process(async |m| {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            sqlx::query("SELECT $1::text AS order_key").bind(&key).fetch_one(&pool).await.map(|_| key)
        })
        .await
        .unwrap();
    assert_eq!(key, "order-42");

    let spans = otel_e2e::spans_when(&recorder, |spans| spans.named("POST /orders").len() == 1).await;
    spans.assert_single_trace();
    let request = spans.one("POST /orders").assert_kind(SpanKind::Server).assert_root();
    let send = spans.one(&format!("send {topic}")).assert_kind(SpanKind::Producer).assert_child_of(&request);
    let process = spans
        .one(&format!("process {topic}"))
        .assert_kind(SpanKind::Consumer)
        .assert_remote_parent(send.span_context())
        .assert_attr("messaging.kafka.message.key", "order-42");
    spans.one("SELECT").assert_kind(SpanKind::Client).assert_child_of(&process);
    for span in spans.iter() {
        for kv in span.attributes() {
            assert!(!kv.value.to_string().contains("\"total\""), "the payload leaked into {}", kv.key);
        }
    }
}
