//! The messaging metrics against a real broker (tansu on 127.0.0.1:9092, KAFKA_BROKERS overrides
//! it): recorded with the provider given to `.meter_provider()`, for sampled and unsampled
//! messages alike, with exactly the conventions' low-cardinality attributes; nothing with
//! `.metrics(false)`. Every test has its own meter provider, topics and consumer groups.

mod support;

use opentelemetry::KeyValue;
use opentelemetry::trace::FutureExt;
use opentelemetry_sdk::trace::Sampler;
use otel_core::metrics::HTTP_DURATION_BUCKETS;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{SpanRecorder, remote_context};
use otel_kafka::{
    ConsumerTracing, TracedBaseProducer, TracedFutureProducer, TracedProducerContext, TracedThreadedProducer,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use support::*;

const SENT: &str = "messaging.client.sent.messages";
const OPERATION: &str = "messaging.client.operation.duration";
const PROCESS: &str = "messaging.process.duration";
const CONSUMED: &str = "messaging.client.consumed.messages";

/// `server.address` and `server.port`: the first bootstrap server the tests connect to.
fn server() -> [KeyValue; 2] {
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or_default();
    let (host, port) = first.rsplit_once(':').expect("host:port");
    [KeyValue::new("server.address", host.to_owned()), KeyValue::new("server.port", port.parse::<i64>().unwrap())]
}

/// The attributes of a send's points: `messaging.client.sent.messages`', and with `operation
/// type` those of `messaging.client.operation.duration`.
fn send_attributes(topic: &str, partition: Option<&str>, error: Option<&str>, operation_type: bool) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "send"),
        KeyValue::new("messaging.destination.name", topic.to_owned()),
    ];
    attributes.extend(partition.map(|p| KeyValue::new("messaging.destination.partition.id", p.to_owned())));
    attributes.extend(error.map(|e| KeyValue::new("error.type", e.to_owned())));
    attributes.extend(operation_type.then(|| KeyValue::new("messaging.operation.type", "send")));
    attributes.extend(server());
    sorted(attributes)
}

/// The attributes of a consumer's points: operation `name` on partition 0 of `topic`.
fn consumer_attributes(name: &'static str, topic: &str, group: &str, extra: &[KeyValue]) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", name),
        KeyValue::new("messaging.destination.name", topic.to_owned()),
        KeyValue::new("messaging.destination.partition.id", "0"),
        KeyValue::new("messaging.consumer.group.name", group.to_owned()),
    ];
    attributes.extend(extra.iter().cloned());
    attributes.extend(server());
    sorted(attributes)
}

/// The single point of `metric` for `topic`, checked to have `attributes` exactly.
#[track_caller]
fn one(meters: &Meters, metric: &str, topic: &str, attributes: &[KeyValue]) -> Point {
    let points = meters.of(metric, topic);
    assert_eq!(points.len(), 1, "one point of {metric}: {points:#?}");
    let point = points.into_iter().next().unwrap();
    assert_eq!(point.attributes, attributes, "{metric}");
    assert_eq!(point.scope, "otel-kafka", "{metric}");
    point
}

/// Checks what every point of a metric shares: the unit, and for a histogram its buckets.
#[track_caller]
fn assert_instrument(point: &Point) {
    match point.metric.as_str() {
        SENT | CONSUMED => {
            assert_eq!(point.unit, "{message}", "{}", point.metric);
            assert!(point.bounds.is_empty(), "{} is a counter", point.metric);
        }
        _ => {
            assert_eq!(point.unit, "s", "{}", point.metric);
            assert_eq!(point.bounds, HTTP_DURATION_BUCKETS, "{}: the conventions' buckets", point.metric);
        }
    }
}

fn traced_future_producer(
    config: &rdkafka::ClientConfig,
    recorder: &SpanRecorder,
    meters: &Meters,
) -> TracedFutureProducer<
    rdkafka::client::DefaultClientContext,
    rdkafka::util::DefaultRuntime,
    opentelemetry_sdk::trace::SdkTracer,
> {
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(&brokers(), e));
    TracedFutureProducer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .meter_provider(&meters.provider)
        .client_config(config)
        .build(inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_sent_is_counted_and_timed_sampled_or_not() {
    let brokers = brokers();
    let meters = Meters::new();
    // Spans follow the incoming decision; metrics are recorded either way.
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let topic = unique("metrics-sent");
    create_topic(&brokers, &topic).await;
    let producer = traced_future_producer(&producer_config(&brokers), &recorder, &meters);
    let unsampled = remote_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    for i in 0..5 {
        let record = FutureRecord::<str, str>::to(&topic).key("order-7").payload("x");
        let send = producer.send(record, Duration::from_secs(30));
        let sent = if i < 3 { send.with_context(unsampled.clone()).await } else { send.await };
        sent.expect("delivered");
    }
    assert_eq!(recorder.spans().named(&format!("send {topic}")).len(), 2, "three sends were not sampled");

    // No key, offset or client id: only the conventions' low-cardinality attributes.
    let sent = one(&meters, SENT, &topic, &send_attributes(&topic, Some("0"), None, false));
    assert_eq!(sent.value, 5, "every record, sampled or not");
    assert_instrument(&sent);
    let duration = one(&meters, OPERATION, &topic, &send_attributes(&topic, Some("0"), None, true));
    assert_eq!(duration.value, 5);
    assert_instrument(&duration);

    // The ThreadedProducer's records are recorded in the delivery callback.
    let topic = unique("metrics-sent-threaded");
    create_topic(&brokers, &topic).await;
    let config = producer_config(&brokers);
    let inner = config
        .create_with_context(TracedProducerContext::new(DefaultProducerContext))
        .unwrap_or_else(|e| unreachable(&brokers, e));
    let threaded = TracedThreadedProducer::builder()
        .tracer_provider(recorder.provider())
        .meter_provider(&meters.provider)
        .client_config(&config)
        .build_threaded(inner);
    for _ in 0..2 {
        threaded.send(BaseRecord::<str, str, ()>::to(&topic).payload("x")).expect("enqueued");
    }
    threaded.flush(WAIT).expect("flushed");
    assert_eq!(one(&meters, SENT, &topic, &send_attributes(&topic, Some("0"), None, false)).value, 2);
    assert_eq!(one(&meters, OPERATION, &topic, &send_attributes(&topic, Some("0"), None, true)).value, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_counts_with_its_error_type_and_a_rejected_record_is_only_timed() {
    let brokers = brokers();
    let meters = Meters::new();
    let recorder = SpanRecorder::new();

    // Delivery fails: a topic that does not exist (tansu does not create topics).
    let topic = unique("metrics-missing");
    let mut config = producer_config(&brokers);
    config.set("message.timeout.ms", "3000");
    let producer = traced_future_producer(&config, &recorder, &meters);
    let record = FutureRecord::<str, str>::to(&topic).key("k").payload("x");
    let (error, _) = producer.send(record, Duration::from_secs(5)).await.expect_err("no such topic");
    let code = format!("{:?}", error.rdkafka_error_code().expect("a librdkafka error code"));
    let span = recorder.spans().one(&format!("send {topic}")).attr("error.type").cloned();
    assert_eq!(span.map(|v| v.to_string()), Some(code.clone()), "the span's error.type");
    let sent = one(&meters, SENT, &topic, &send_attributes(&topic, None, Some(&code), false));
    assert_eq!(sent.value, 1, "librdkafka had it: it was sent, and failed");
    assert_eq!(one(&meters, OPERATION, &topic, &send_attributes(&topic, None, Some(&code), true)).value, 1);

    // A full queue: the record never reaches librdkafka. Not sent, but its send failed.
    let topic = unique("metrics-queue-full");
    create_topic(&brokers, &topic).await;
    let mut config = producer_config(&brokers);
    config.set("queue.buffering.max.messages", "1").set("linger.ms", "300");
    let producer = traced_future_producer(&config, &recorder, &meters);
    let mut first = Box::pin(producer.send(FutureRecord::<str, str>::to(&topic).payload("x"), WAIT));
    assert!(futures_util::poll!(first.as_mut()).is_pending(), "waiting for the delivery report");
    let (error, _) = producer
        .send(FutureRecord::<str, str>::to(&topic).payload("y"), Duration::ZERO)
        .await
        .expect_err("the queue is full");
    assert_eq!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::QueueFull));
    first.await.expect("delivered");
    let sent = one(&meters, SENT, &topic, &send_attributes(&topic, Some("0"), None, false));
    assert_eq!(sent.value, 1, "the rejected record is not counted as sent");
    let mut durations = meters.of(OPERATION, &topic);
    durations.sort_by_key(|p| p.attr("error.type"));
    let attributes: Vec<_> = durations.iter().map(|p| (p.attributes.clone(), p.value)).collect();
    assert_eq!(
        attributes,
        [
            (send_attributes(&topic, Some("0"), None, true), 1),
            (send_attributes(&topic, None, Some("QueueFull"), true), 1),
        ]
    );

    // The BaseProducer's rejection: the same.
    let topic = unique("metrics-base-queue-full");
    create_topic(&brokers, &topic).await;
    let mut config = producer_config(&brokers);
    config.set("queue.buffering.max.messages", "1");
    let inner: rdkafka::producer::BaseProducer<_> = config
        .create_with_context(TracedProducerContext::new(DefaultProducerContext))
        .unwrap_or_else(|e| unreachable(&brokers, e));
    let base = TracedBaseProducer::builder().meter_provider(&meters.provider).client_config(&config).build_base(inner);
    base.send(BaseRecord::<str, str, ()>::to(&topic).payload("x")).expect("enqueued");
    let (error, _) = base.send(BaseRecord::<str, str, ()>::to(&topic).payload("y")).expect_err("the queue is full");
    assert_eq!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::QueueFull));
    assert!(meters.of(SENT, &topic).is_empty(), "nothing sent yet: the first record's report is not served");
    one(&meters, OPERATION, &topic, &send_attributes(&topic, None, Some("QueueFull"), true));
    base.flush(WAIT).expect("flushed");
    assert_eq!(one(&meters, SENT, &topic, &send_attributes(&topic, Some("0"), None, false)).value, 1);
    assert_eq!(meters.of(OPERATION, &topic).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_given_up_while_librdkafka_has_the_record_counts_as_sent_without_a_duration() {
    let brokers = brokers();
    let meters = Meters::new();
    let topic = unique("metrics-dropped-send");
    create_topic(&brokers, &topic).await;
    let producer = traced_future_producer(&producer_config(&brokers), &SpanRecorder::new(), &meters);
    // Never polled: nothing was sent.
    drop(producer.send(FutureRecord::<str, str>::to(&topic).payload("never"), WAIT));
    // Polled once (handed to librdkafka), then dropped before its report.
    let mut sent = Box::pin(producer.send(FutureRecord::<str, str>::to(&topic).payload("dropped"), WAIT));
    assert!(futures_util::poll!(sent.as_mut()).is_pending(), "waiting for the delivery report");
    drop(sent);
    let sent = one(&meters, SENT, &topic, &send_attributes(&topic, None, None, false));
    assert_eq!(sent.value, 1, "sent, its outcome unknown: no error.type");
    assert!(meters.of(OPERATION, &topic).is_empty(), "a send without an end has no duration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumed_messages_are_counted_once_and_their_processing_and_receives_timed() {
    let brokers = brokers();
    let meters = Meters::new();
    let topic = unique("metrics-consumed");
    create_topic(&brokers, &topic).await;
    let producer: FutureProducer = producer_config(&brokers).create().unwrap_or_else(|e| unreachable(&brokers, e));
    for i in 0..4 {
        let key = format!("order-{i}");
        producer.send(FutureRecord::<str, str>::to(&topic).key(&key).payload("x"), WAIT).await.expect("delivered");
    }

    // No span is sampled: the metrics are recorded all the same.
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let group = unique("group");
    let config = consumer_config(&brokers, &group);
    let inner: StreamConsumer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    inner.subscribe(&[&topic]).unwrap();
    let consumer = ConsumerTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .receive_spans(true)
        .meter_provider(&meters.provider)
        .wrap(inner);
    let recv = async || tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    let first = recv().await;
    first.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();
    let second = recv().await;
    second.process(async |_| Err::<(), _>(std::io::Error::other("db down"))).await.unwrap_err();
    // Received one by one, processed as a batch: each message is counted once.
    let batch = [recv().await.detach(), recv().await.detach()];
    consumer.tracing().process_batch(&batch, async |batch| Ok::<_, std::io::Error>(batch.len())).await.unwrap();
    assert!(recorder.spans().is_empty());

    let consumed = one(&meters, CONSUMED, &topic, &consumer_attributes("poll", &topic, &group, &[]));
    assert_eq!(consumed.value, 4, "every message once, the batch's two included");
    assert_instrument(&consumed);
    let mut processed = meters.of(PROCESS, &topic);
    processed.sort_by_key(|p| p.attr("error.type"));
    let summary: Vec<_> = processed.iter().map(|p| (p.attributes.clone(), p.value)).collect();
    let failed = KeyValue::new("error.type", "std::io::error::Error");
    assert_eq!(
        summary,
        [
            (consumer_attributes("process", &topic, &group, &[]), 2),
            (consumer_attributes("process", &topic, &group, &[failed]), 1),
        ],
        "the first message and the batch; the failed one with the span's error.type"
    );
    processed.iter().for_each(assert_instrument);
    let receive = KeyValue::new("messaging.operation.type", "receive");
    let received = one(&meters, OPERATION, &topic, &consumer_attributes("poll", &topic, &group, &[receive]));
    assert_eq!(received.value, 4, "each recv, with receive spans on");
    assert_instrument(&received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_off_records_nothing() {
    let brokers = brokers();
    let meters = Meters::new();
    let topic = unique("metrics-off");
    create_topic(&brokers, &topic).await;
    let config = producer_config(&brokers);
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = TracedFutureProducer::builder()
        .meter_provider(&meters.provider)
        .metrics(false)
        .client_config(&config)
        .build(inner);
    producer.send(FutureRecord::<str, str>::to(&topic).payload("x"), WAIT).await.expect("delivered");

    let config = consumer_config(&brokers, &unique("group"));
    let inner: StreamConsumer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    inner.subscribe(&[&topic]).unwrap();
    let consumer = ConsumerTracing::builder()
        .client_config(&config)
        .receive_spans(true)
        .meter_provider(&meters.provider)
        .metrics(false)
        .wrap(inner);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    message.process(async |m| Ok::<_, std::io::Error>(m.offset())).await.unwrap();
    let batch = [message.detach()];
    consumer.tracing().process_batch(&batch, async |_| Ok::<_, std::io::Error>(())).await.unwrap();

    let points = meters.points();
    assert!(points.is_empty(), "{points:#?}");
}
