//! Metrics with the global meter provider, against a real broker (tansu on 127.0.0.1:9092,
//! KAFKA_BROKERS overrides it): on by default once a provider is installed, without
//! `.meter_provider()`; off with `.metrics(false)`. In a binary of its own, as the global provider
//! is the whole process's; the tests here share it, and each reads only its own topic's points.

mod support;

use opentelemetry::KeyValue;
use otel_kafka::{ConsumerTracing, TracedConsumer, TracedFutureProducer};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::LazyLock;
use support::*;

/// The global meter provider of this binary, installed by the first test that asks.
fn global() -> &'static Meters {
    static METERS: LazyLock<Meters> = LazyLock::new(|| {
        let meters = Meters::new();
        opentelemetry::global::set_meter_provider(meters.provider.clone());
        meters
    });
    &METERS
}

const METRICS: [&str; 4] = [
    "messaging.client.sent.messages",
    "messaging.client.operation.duration",
    "messaging.process.duration",
    "messaging.client.consumed.messages",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_global_meter_provider_the_metrics_are_on_by_default() {
    let meters = global();
    let brokers = brokers();
    let topic = unique("metrics-global");
    create_topic(&brokers, &topic).await;
    let producer =
        TracedFutureProducer::from_config(&producer_config(&brokers)).unwrap_or_else(|e| unreachable(&brokers, e));
    for _ in 0..2 {
        producer.send(FutureRecord::<str, str>::to(&topic).payload("x"), WAIT).await.expect("delivered");
    }
    let group = unique("group");
    let consumer = TracedConsumer::from_config(&consumer_config(&brokers, &group)).unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    for _ in 0..2 {
        let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
        message.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();
    }

    let group = KeyValue::new("messaging.consumer.group.name", group);
    for (metric, operation, value) in
        [(METRICS[0], "send", 2), (METRICS[1], "send", 2), (METRICS[2], "process", 2), (METRICS[3], "poll", 2)]
    {
        let points = meters.of(metric, &topic);
        assert_eq!(points.len(), 1, "{metric}: {points:#?}");
        assert_eq!(points[0].value, value, "{metric}");
        assert_eq!(points[0].attr("messaging.operation.name").as_deref(), Some(operation), "{metric}");
        if operation != "send" {
            assert!(points[0].attributes.contains(&group), "{metric}: {:?}", points[0].attributes);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_false_records_nothing_even_with_a_global_meter_provider() {
    let meters = global();
    let brokers = brokers();
    let topic = unique("metrics-global-off");
    create_topic(&brokers, &topic).await;
    let config = producer_config(&brokers);
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = TracedFutureProducer::builder().client_config(&config).metrics(false).build(inner);
    producer.send(FutureRecord::<str, str>::to(&topic).payload("x"), WAIT).await.expect("delivered");
    let config = consumer_config(&brokers, &unique("group"));
    let inner: StreamConsumer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    inner.subscribe(&[&topic]).unwrap();
    let consumer = ConsumerTracing::builder().client_config(&config).receive_spans(true).metrics(false).wrap(inner);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    message.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();

    // The global provider is installed (the other test's points are there, or this one's would be).
    assert!(otel_core::metrics::global_meter_provider_installed());
    for metric in METRICS {
        assert!(meters.of(metric, &topic).is_empty(), "{metric} recorded with metrics(false)");
    }
}
