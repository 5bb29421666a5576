//! A broker killed and restarted under a traced producer and consumer: no panic, no message
//! lost by the instrumentation, and the spans of the sends that failed say so. The test starts
//! its own tansu on a free port, from a temporary directory.

mod support;

use futures_util::future::join_all;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::SpanRecorder;
use otel_kafka::{ConsumerTracing, TracedFutureProducer};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_and_restarted_mid_run_loses_nothing_and_failures_are_recorded() {
    let mut tansu = Tansu::start();
    let brokers = tansu.brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("restart");
    create_topic(&brokers, &topic).await;

    let traced = |timeout_ms: &str| {
        let mut config = producer_config(&brokers);
        config.set("message.timeout.ms", timeout_ms).set("reconnect.backoff.max.ms", "500");
        let inner: FutureProducer = config.create().unwrap();
        TracedFutureProducer::builder()
            .tracer_provider(recorder.provider())
            .propagator(StrictTraceContextPropagator::new())
            .client_config(&config)
            .build(inner)
    };
    let patient = traced("120000");
    let hasty = traced("2000");

    // Before: five messages delivered.
    for i in 0..5 {
        let key = format!("before-{i}");
        let record = FutureRecord::<str, str>::to(&topic).key(&key).payload("x");
        patient.send(record, Duration::from_secs(30)).await.expect("delivered before the kill");
    }

    tansu.kill();

    // While the broker is down: short-timeout sends fail, and their spans record it.
    let failures = join_all((0..3).map(|i| {
        let hasty = &hasty;
        let topic = &topic;
        async move {
            let key = format!("lost-{i}");
            let record = FutureRecord::<str, str>::to(topic).key(&key).payload("x");
            hasty.send(record, Duration::from_secs(5)).await
        }
    }))
    .await;
    for failure in &failures {
        assert!(failure.is_err(), "a send with a 2 s timeout and no broker fails: {failure:?}");
    }

    // Patient sends wait in librdkafka's queue while the broker restarts.
    let keys: Vec<String> = (0..5).map(|i| format!("during-{i}")).collect();
    let pending = join_all(keys.iter().map(|key| {
        let record = FutureRecord::<str, str>::to(&topic).key(key).payload("x");
        patient.send(record, Duration::from_secs(30))
    }));
    let restart = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| tansu.restart());
    };
    let (delivered, ()) =
        tokio::time::timeout(WAIT, futures_util::future::join(pending, restart)).await.expect("in time");
    for delivery in &delivered {
        assert!(delivery.is_ok(), "queued sends are delivered once the broker is back: {delivery:?}");
    }

    // Every delivered message is consumed and processed, each as a child of its send span.
    let group = unique("group");
    let config = consumer_config(&brokers, &group);
    let inner: StreamConsumer = config.create().unwrap();
    inner.subscribe(&[&topic]).unwrap();
    let consumer = ConsumerTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .wrap(inner);
    let mut seen = BTreeSet::new();
    while seen.len() < 10 {
        let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        message.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();
        seen.insert(key);
    }
    let expected: BTreeSet<String> =
        (0..5).map(|i| format!("before-{i}")).chain((0..5).map(|i| format!("during-{i}"))).collect();
    assert_eq!(seen, expected, "nothing lost, nothing that failed delivered");

    let spans = recorder.spans();
    let sends = spans.named(&format!("send {topic}"));
    assert_eq!(sends.len(), 13);
    let failed: Vec<_> = sends.iter().filter(|s| s.attr("error.type").is_some()).collect();
    assert_eq!(failed.len(), 3, "the three failed sends record error.type");
    for span in &failed {
        let key = span.attr("messaging.kafka.message.key").unwrap().to_string();
        assert!(key.starts_with("lost-"), "{key}");
        span.assert_status_error();
        assert!(span.attr("messaging.kafka.offset").is_none());
    }
    let processes = spans.named(&format!("process {topic}"));
    assert_eq!(processes.len(), 10);
    for process in &processes {
        let key = process.attr("messaging.kafka.message.key").unwrap().to_string();
        let send = sends
            .iter()
            .find(|s| s.attr("messaging.kafka.message.key").map(|v| v.to_string()) == Some(key.clone()))
            .unwrap();
        process.assert_child_of(send);
    }
}
