//! otel-kafka against a real Kafka-protocol broker (tansu) on 127.0.0.1:9092 (KAFKA_BROKERS
//! overrides it). Every test uses its own topics and consumer groups.

mod support;

use opentelemetry::trace::{FutureExt, Span as _, SpanKind, SpanRef, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, Value};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{SpanRecorder, SpanView};
use otel_kafka::{
    ConsumerTracing, DeliveryOutcome, OutgoingRecord, ProcessOutcome, ProcessParent, ProcessRequest,
    TracedBaseProducer, TracedConsumer, TracedFutureProducer, TracedProducerContext, TracedThreadedProducer,
    extract_context_with,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::future_producer::Delivery;
use rdkafka::producer::{BaseRecord, FutureProducer, FutureRecord};
use std::time::Duration;
use support::*;

const USER_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn traced_producer(
    recorder: &SpanRecorder,
    brokers: &str,
) -> TracedFutureProducer<
    rdkafka::client::DefaultClientContext,
    rdkafka::util::DefaultRuntime,
    opentelemetry_sdk::trace::SdkTracer,
> {
    let config = producer_config(brokers);
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(brokers, e));
    TracedFutureProducer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .build(inner)
}

type Traced = TracedConsumer<
    rdkafka::consumer::DefaultConsumerContext,
    rdkafka::util::DefaultRuntime,
    opentelemetry_sdk::trace::SdkTracer,
>;

/// A traced consumer in a fresh group, subscribed to `topic`.
fn traced_consumer(recorder: &SpanRecorder, brokers: &str, topic: &str, parent: ProcessParent) -> (Traced, String) {
    let group = unique("group");
    let config = consumer_config(brokers, &group);
    let inner: StreamConsumer = config.create().unwrap_or_else(|e| unreachable(brokers, e));
    inner.subscribe(&[topic]).unwrap();
    let consumer = ConsumerTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .parent(parent)
        .wrap(inner);
    (consumer, group)
}

/// `server.address` and `server.port`: the first bootstrap server the tests connect to.
fn server_attributes() -> [KeyValue; 2] {
    let brokers = brokers();
    let first = brokers.split(',').next().unwrap_or_default();
    let (host, port) = first.rsplit_once(':').expect("host:port");
    [KeyValue::new("server.address", host.to_owned()), KeyValue::new("server.port", port.parse::<i64>().unwrap())]
}

fn send_attributes(topic: &str, key: Option<&str>, delivery: &Delivery) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "send"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.destination.name", topic.to_owned()),
        KeyValue::new("messaging.client.id", "otel-kafka-test-producer"),
        KeyValue::new("messaging.destination.partition.id", delivery.partition.to_string()),
        KeyValue::new("messaging.kafka.offset", delivery.offset),
    ];
    attributes.extend(server_attributes());
    if let Some(key) = key {
        attributes.push(KeyValue::new("messaging.kafka.message.key", key.to_owned()));
    }
    attributes
}

/// The process span's attributes; the queue time is read from the span (it is a measure) and
/// checked to be a plausible number of milliseconds.
fn process_attributes(
    span: &SpanView<'_>,
    topic: &str,
    group: &str,
    key: Option<&str>,
    delivery: &Delivery,
) -> Vec<KeyValue> {
    let queue_time = match span.attr("otel_rust.messaging.queue_time") {
        Some(Value::F64(seconds)) => *seconds,
        other => panic!("otel_rust.messaging.queue_time: {other:?}"),
    };
    assert!((0.0..600.0).contains(&queue_time), "queue time {queue_time} s");
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "process"),
        KeyValue::new("messaging.operation.type", "process"),
        KeyValue::new("messaging.destination.name", topic.to_owned()),
        KeyValue::new("messaging.consumer.group.name", group.to_owned()),
        KeyValue::new("messaging.client.id", "otel-kafka-test-consumer"),
        KeyValue::new("messaging.destination.partition.id", delivery.partition.to_string()),
        KeyValue::new("messaging.kafka.offset", delivery.offset),
        KeyValue::new("otel_rust.messaging.queue_time", queue_time),
    ];
    attributes.extend(server_attributes());
    if let Some(key) = key {
        attributes.push(KeyValue::new("messaging.kafka.message.key", key.to_owned()));
    }
    attributes
}

#[track_caller]
fn assert_payload_nowhere(recorder: &SpanRecorder, payload: &str) {
    for span in recorder.spans().iter() {
        for kv in span.attributes() {
            assert!(!kv.value.to_string().contains(payload), "payload in {} of {:?}", kv.key, span.name());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_the_request_through_send_and_process_to_the_database_call() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("trace");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);
    let tracer = recorder.provider().tracer("app");

    // A request handler sends an order, with a header of its own.
    let request = Context::current_with_span(tracer.start("POST /orders"));
    let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
    let record = FutureRecord::to(&topic).key("order-7").payload("s3cr3t-payload").headers(headers);
    let delivery =
        producer.send(record, Duration::from_secs(30)).with_context(request.clone()).await.expect("delivered");
    request.span().end();

    // A consumer in a consumer group processes it and queries the database.
    let (consumer, group) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Producer);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    assert_eq!(message.payload(), Some(&b"s3cr3t-payload"[..]), "the payload arrives unchanged");
    let processed = message
        .process(async |message| {
            // Two polls at least, so the span must be current on each of them.
            tokio::task::yield_now().await;
            tracer.start("SELECT orders").end();
            Ok::<_, std::io::Error>(message.offset())
        })
        .await
        .expect("processing succeeds");
    assert_eq!(processed, delivery.offset);

    let spans = recorder.spans();
    spans.assert_count(4);
    spans.assert_single_trace();
    let request = spans.one("POST /orders");
    let send = spans.one(&format!("send {topic}"));
    let process = spans.one(&format!("process {topic}"));
    let query = spans.one("SELECT orders");
    send.assert_kind(SpanKind::Producer)
        .assert_child_of(&request)
        .assert_status_unset()
        .assert_attrs_exactly(&send_attributes(&topic, Some("order-7"), &delivery));
    let expected = process_attributes(&process, &topic, &group, Some("order-7"), &delivery);
    process
        .assert_kind(SpanKind::Consumer)
        .assert_child_of(&send)
        .assert_status_unset()
        .assert_attrs_exactly(&expected);
    // Also its link, as the messaging conventions ask even when the creation context is the parent.
    process.assert_links_to(send.span_context());
    assert_eq!(process.data().links.len(), 1);
    query.assert_child_of(&process);
    assert_payload_nowhere(&recorder, "s3cr3t-payload");

    // On the wire: the send span's context next to the user's header, read by a plain consumer.
    let plain = plain_consumer(&brokers, &topic);
    let raw = recv(&plain).await;
    let traceparent = format!("00-{}-{}-01", send.trace_id(), send.span_id());
    assert_eq!(
        headers_of(&raw),
        vec![
            ("x-tenant".to_owned(), Some(b"acme".to_vec())),
            ("traceparent".to_owned(), Some(traceparent.into_bytes())),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_mode_starts_a_new_trace_that_links_to_the_producer() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("link");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);
    let delivery = producer.send(FutureRecord::<str, str>::to(&topic).payload("x"), Duration::from_secs(30)).await;
    let delivery = delivery.expect("delivered");

    let (consumer, group) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Link);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.unwrap().unwrap();
    message.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();

    let spans = recorder.spans();
    let send = spans.one(&format!("send {topic}"));
    send.assert_root().assert_attrs_exactly(&send_attributes(&topic, None, &delivery));
    let process = spans.one(&format!("process {topic}"));
    let expected = process_attributes(&process, &topic, &group, None, &delivery);
    process.assert_root().assert_links_to(send.span_context()).assert_attrs_exactly(&expected);
    assert_ne!(process.trace_id(), send.trace_id(), "a new trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_span_linking_every_message() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("batch");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);
    let tracer = recorder.provider().tracer("app");
    for i in 0..3 {
        let request = Context::current_with_span(tracer.start(format!("request {i}")));
        let record = FutureRecord::<str, str>::to(&topic).payload("x");
        producer.send(record, Duration::from_secs(30)).with_context(request.clone()).await.expect("delivered");
        request.span().end();
    }

    let (consumer, group) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Producer);
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.push(tokio::time::timeout(WAIT, consumer.recv()).await.unwrap().unwrap().into_inner());
    }
    let count = consumer.tracing().process_batch(&batch, async |batch| Ok::<_, std::io::Error>(batch.len())).await;
    assert_eq!(count.unwrap(), 3);

    let spans = recorder.spans();
    let process = spans.one(&format!("process {topic}"));
    process.assert_kind(SpanKind::Consumer).assert_root().assert_attrs_exactly(&[
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "process"),
        KeyValue::new("messaging.operation.type", "process"),
        KeyValue::new("messaging.destination.name", topic.clone()),
        KeyValue::new("messaging.batch.message_count", 3),
        KeyValue::new("messaging.consumer.group.name", group),
        KeyValue::new("messaging.client.id", "otel-kafka-test-consumer"),
        server_attributes()[0].clone(),
        server_attributes()[1].clone(),
    ]);
    let sends = spans.named(&format!("send {topic}"));
    assert_eq!(sends.len(), 3);
    assert_eq!(process.data().links.len(), 3);
    for send in &sends {
        process.assert_links_to(send.span_context());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_without_or_with_garbage_headers_start_new_traces_without_panic() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("garbage");
    create_topic(&brokers, &topic).await;
    let plain: FutureProducer = producer_config(&brokers).create().unwrap();
    let valid = USER_TRACEPARENT.as_bytes();
    let cases: Vec<(&str, Option<OwnedHeaders>)> = vec![
        ("none", None),
        (
            "invalid-utf8",
            Some(OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(&[0xff, 0xfe, 0x00][..]) })),
        ),
        ("malformed", Some(OwnedHeaders::new().insert(Header { key: "traceparent", value: Some("00-xyz-01") }))),
        ("null-value", Some(OwnedHeaders::new().insert(Header::<&[u8]> { key: "traceparent", value: None }))),
        (
            "duplicate",
            Some(
                OwnedHeaders::new()
                    .insert(Header { key: "traceparent", value: Some(valid) })
                    .insert(Header { key: "traceparent", value: Some(valid) }),
            ),
        ),
        ("64k", Some(OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(&vec![b'a'; 65536][..]) }))),
    ];
    for (key, headers) in cases {
        let mut record = FutureRecord::<str, str>::to(&topic).key(key).payload("x");
        record.headers = headers;
        plain.send(record, Duration::from_secs(30)).await.expect("delivered");
    }

    let (consumer, _) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Producer);
    for _ in 0..6 {
        let message = tokio::time::timeout(WAIT, consumer.recv()).await.unwrap().unwrap();
        let extracted = extract_context_with(message.message(), &StrictTraceContextPropagator::new());
        assert!(!extracted.span().span_context().is_valid(), "no context from {:?}", message.key());
        message.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();
    }
    let spans = recorder.spans();
    let processed = spans.named(&format!("process {topic}"));
    assert_eq!(processed.len(), 6);
    for span in processed {
        let span = span.assert_root();
        assert!(span.data().links.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_and_headers_the_user_put_in_the_record_are_kept() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("user-context");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);
    let headers = OwnedHeaders::new()
        .insert(Header { key: "traceparent", value: Some(USER_TRACEPARENT) })
        .insert(Header { key: "x-user", value: Some("1") });
    let record = FutureRecord::<str, str>::to(&topic).payload("x").headers(headers);
    producer.send(record, Duration::from_secs(30)).await.expect("delivered");

    let plain = plain_consumer(&brokers, &topic);
    let raw = recv(&plain).await;
    assert_eq!(
        headers_of(&raw),
        vec![
            ("traceparent".to_owned(), Some(USER_TRACEPARENT.as_bytes().to_vec())),
            ("x-user".to_owned(), Some(b"1".to_vec())),
        ],
        "the user's traceparent is neither overwritten nor doubled"
    );

    let (consumer, _) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Producer);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.unwrap().unwrap();
    message.process(async |_| Ok::<_, std::io::Error>(())).await.unwrap();
    let user = otel_core::testing::remote_context(USER_TRACEPARENT);
    recorder.spans().one(&format!("process {topic}")).assert_remote_parent(user.span().span_context());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_records_the_kafka_error_code_and_passes_the_error_through() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("missing"); // never created: tansu does not create topics
    let mut config = producer_config(&brokers);
    config.set("message.timeout.ms", "3000");
    let inner: FutureProducer = config.create().unwrap();
    let producer = TracedFutureProducer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .build(inner);
    let record = FutureRecord::<str, str>::to(&topic).key("k").payload("x");
    let (error, message) = producer.send(record, Duration::from_secs(5)).await.expect_err("no such topic");
    assert_eq!(message.topic(), topic, "the caller gets the record back");
    let code = error.rdkafka_error_code().expect("a librdkafka error code");

    recorder.spans().one(&format!("send {topic}")).assert_status_error().assert_attrs_exactly(&[
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "send"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.destination.name", topic.clone()),
        KeyValue::new("messaging.client.id", "otel-kafka-test-producer"),
        KeyValue::new("messaging.kafka.message.key", "k"),
        KeyValue::new("error.type", format!("{code:?}")),
        server_attributes()[0].clone(),
        server_attributes()[1].clone(),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_waited_out_within_the_queue_timeout_and_recorded_when_it_is_not() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("future-queue-full");
    create_topic(&brokers, &topic).await;
    let mut config = producer_config(&brokers);
    // One record at most until its delivery report is served, and the first one held back for
    // 300 ms before it is sent: the records behind it surely find the queue full.
    config.set("queue.buffering.max.messages", "1").set("linger.ms", "300");
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = TracedFutureProducer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .build(inner);

    // The first record is enqueued by the first poll of its send.
    let mut first = Box::pin(producer.send(FutureRecord::<str, str>::to(&topic).key("first").payload("x"), WAIT));
    assert!(futures_util::poll!(first.as_mut()).is_pending(), "waiting for the delivery report");
    // No time to wait: rejected at once, the record handed back as `FutureProducer::send` does.
    let record = FutureRecord::<str, str>::to(&topic).key("second").payload("y");
    let (error, message) = producer.send(record, Duration::ZERO).await.expect_err("the queue is full");
    assert_eq!(error.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull));
    assert_eq!(
        (message.topic(), message.key(), message.payload()),
        (topic.as_str(), Some(&b"second"[..]), Some(&b"y"[..]))
    );
    // Time to wait: retried until the first record's report makes room, then delivered.
    let third = producer.send(FutureRecord::<str, str>::to(&topic).key("third").payload("z"), WAIT);
    let (first, third) = futures_util::future::join(first, third).await;
    let (first, third) = (first.expect("delivered"), third.expect("delivered after waiting"));
    assert_eq!(third.offset, first.offset + 1);

    let spans = recorder.spans();
    let sends = spans.named(&format!("send {topic}"));
    assert_eq!(sends.len(), 3);
    let by_key = |key: &str| {
        let key = Value::from(key.to_owned());
        *sends.iter().find(|span| span.attr("messaging.kafka.message.key") == Some(&key)).expect("a send span")
    };
    by_key("second").assert_status_error().assert_attr("error.type", "QueueFull");
    for (key, delivery) in [("first", &first), ("third", &third)] {
        by_key(key).assert_status_unset().assert_attr("messaging.kafka.offset", delivery.offset);
    }
    let plain = plain_consumer(&brokers, &topic);
    for key in ["first", "third"] {
        let message = recv(&plain).await;
        assert_eq!(message.key(), Some(key.as_bytes()), "delivered in order, the rejected record never");
        assert!(headers_of(&message).iter().any(|(name, _)| name == "traceparent"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_dropped_before_its_report_ends_its_span_and_one_never_polled_records_nothing() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("dropped-send");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);

    // Like an `async fn`, `send` does nothing until polled: no span, nothing enqueued.
    drop(producer.send(FutureRecord::<str, str>::to(&topic).key("never").payload("x"), WAIT));
    // Polled once (span started, record enqueued), then given up before the report.
    let mut sent = Box::pin(producer.send(FutureRecord::<str, str>::to(&topic).key("dropped").payload("y"), WAIT));
    assert!(futures_util::poll!(sent.as_mut()).is_pending(), "waiting for the delivery report");
    drop(sent);

    let spans = recorder.spans();
    spans
        .one(&format!("send {topic}"))
        .assert_attr("messaging.kafka.message.key", "dropped")
        .assert_no_attr("messaging.kafka.offset");
    let plain = plain_consumer(&brokers, &topic);
    assert_eq!(recv(&plain).await.key(), Some(&b"dropped"[..]), "the enqueued record is delivered all the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_records_its_error_type_and_a_tombstone_is_marked() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("failing");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);
    let record = FutureRecord::<str, str>::to(&topic).key("gone"); // no payload: a tombstone
    let delivery = producer.send(record, Duration::from_secs(30)).await.expect("delivered");

    let (consumer, group) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Producer);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.unwrap().unwrap();
    let error = message.process(async |_| Err::<(), _>(std::io::Error::other("db down"))).await.unwrap_err();
    assert_eq!(error.to_string(), "db down", "the error passes through");

    let spans = recorder.spans();
    let mut expected = send_attributes(&topic, Some("gone"), &delivery);
    expected.push(KeyValue::new("messaging.kafka.message.tombstone", true));
    spans.one(&format!("send {topic}")).assert_attrs_exactly(&expected);
    let process = spans.one(&format!("process {topic}"));
    let mut expected = process_attributes(&process, &topic, &group, Some("gone"), &delivery);
    expected.push(KeyValue::new("messaging.kafka.message.tombstone", true));
    expected.push(KeyValue::new("error.type", "std::io::error::Error"));
    process.assert_status_error().assert_attrs_exactly(&expected);
}

/// What the user's own producer context saw in its delivery callback.
#[derive(Debug)]
struct Report {
    opaque: usize,
    result: Result<(i32, i64), rdkafka::error::KafkaError>,
    /// How many `send {topic}` spans had ended (been exported) when the callback ran.
    ended_send_spans: usize,
}

/// A user's producer context with a `usize` opaque, reporting every delivery.
struct UserContext {
    recorder: SpanRecorder,
    span_name: String,
    reports: std::sync::Mutex<std::sync::mpsc::Sender<Report>>,
}

impl rdkafka::ClientContext for UserContext {}

impl rdkafka::producer::ProducerContext for UserContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, opaque: usize) {
        let report = Report {
            opaque,
            result: result.as_ref().map(|m| (m.partition(), m.offset())).map_err(|(e, _)| e.clone()),
            ended_send_spans: self.recorder.spans().named(&self.span_name).len(),
        };
        self.reports.lock().unwrap().send(report).unwrap();
    }
}

fn user_context(recorder: &SpanRecorder, topic: &str) -> (UserContext, std::sync::mpsc::Receiver<Report>) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let context = UserContext {
        recorder: recorder.clone(),
        span_name: format!("send {topic}"),
        reports: std::sync::Mutex::new(sender),
    };
    (context, receiver)
}

fn traced_threaded_producer(
    recorder: &SpanRecorder,
    config: &rdkafka::ClientConfig,
    context: UserContext,
) -> TracedThreadedProducer<UserContext, rdkafka::producer::NoCustomPartitioner, opentelemetry_sdk::trace::SdkTracer> {
    let inner =
        config.create_with_context(TracedProducerContext::new(context)).unwrap_or_else(|e| unreachable(&brokers(), e));
    TracedThreadedProducer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(config)
        .build_threaded(inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threaded_send_is_a_producer_span_ended_by_the_delivery_callback() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("threaded");
    create_topic(&brokers, &topic).await;
    let (context, reports) = user_context(&recorder, &topic);
    let producer = traced_threaded_producer(&recorder, &producer_config(&brokers), context);
    let tracer = recorder.provider().tracer("app");

    let request = Context::current_with_span(tracer.start("POST /orders"));
    let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
    let record = BaseRecord::with_opaque_to(&topic, 7).key("order-7").payload("s3cr3t-payload").headers(headers);
    {
        let _request = request.clone().attach();
        producer.send(record).expect("enqueued");
    }
    request.span().end();

    let report =
        tokio::task::spawn_blocking(move || reports.recv_timeout(WAIT).expect("a delivery report")).await.unwrap();
    assert_eq!(report.opaque, 7, "the user's callback gets the user's opaque");
    let (partition, offset) = report.result.expect("delivered");
    assert_eq!(report.ended_send_spans, 1, "the span ended before the user's callback ran");
    let delivery = Delivery { partition, offset, timestamp: rdkafka::Timestamp::NotAvailable };

    let spans = recorder.spans();
    spans.assert_count(2);
    let request = spans.one("POST /orders");
    let send = spans
        .one(&format!("send {topic}"))
        .assert_kind(SpanKind::Producer)
        .assert_child_of(&request)
        .assert_status_unset()
        .assert_attrs_exactly(&send_attributes(&topic, Some("order-7"), &delivery));
    assert_payload_nowhere(&recorder, "s3cr3t-payload");

    let plain = plain_consumer(&brokers, &topic);
    let raw = recv(&plain).await;
    assert_eq!((raw.partition(), raw.offset()), (partition, offset));
    let traceparent = format!("00-{}-{}-01", send.trace_id(), send.span_id());
    assert_eq!(
        headers_of(&raw),
        vec![
            ("x-tenant".to_owned(), Some(b"acme".to_vec())),
            ("traceparent".to_owned(), Some(traceparent.into_bytes())),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threaded_send_to_an_unknown_topic_records_the_error_and_calls_the_user_callback() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("threaded-missing"); // never created: tansu does not create topics
    let mut config = producer_config(&brokers);
    config.set("message.timeout.ms", "3000");
    let (context, reports) = user_context(&recorder, &topic);
    let producer = traced_threaded_producer(&recorder, &config, context);
    producer.send(BaseRecord::<str, str, usize>::with_opaque_to(&topic, 9).key("k").payload("x")).expect("enqueued");

    let report =
        tokio::task::spawn_blocking(move || reports.recv_timeout(WAIT).expect("a delivery report")).await.unwrap();
    assert_eq!(report.opaque, 9);
    assert_eq!(report.ended_send_spans, 1);
    let code = report.result.expect_err("no such topic").rdkafka_error_code().expect("a librdkafka error code");
    recorder.spans().one(&format!("send {topic}")).assert_status_error().assert_attrs_exactly(&[
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "send"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.destination.name", topic.clone()),
        KeyValue::new("messaging.client.id", "otel-kafka-test-producer"),
        KeyValue::new("messaging.kafka.message.key", "k"),
        KeyValue::new("error.type", format!("{code:?}")),
        server_attributes()[0].clone(),
        server_attributes()[1].clone(),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_base_producer_rejects_comes_back_unchanged_and_its_span_records_why() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("queue-full");
    create_topic(&brokers, &topic).await;
    let mut config = producer_config(&brokers);
    // One record at most until its delivery report is served: nobody polls yet, so a second one
    // is rejected at once with QueueFull.
    config.set("queue.buffering.max.messages", "1");
    let (context, reports) = user_context(&recorder, &topic);
    let inner: rdkafka::producer::BaseProducer<_> =
        config.create_with_context(TracedProducerContext::new(context)).unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = TracedBaseProducer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .build_base(inner);

    producer.send(BaseRecord::<str, str, usize>::with_opaque_to(&topic, 1).payload("x")).expect("enqueued");
    let headers = OwnedHeaders::new().insert(Header { key: "x-user", value: Some("1") });
    let record = BaseRecord::<str, str, usize>::with_opaque_to(&topic, 2).key("second").payload("y").headers(headers);
    let (error, record) = producer.send(record).expect_err("the queue is full");
    assert_eq!(error.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull));
    assert_eq!(record.delivery_opaque, 2, "the caller gets its own opaque back");
    assert_eq!((record.topic, record.key, record.payload), (topic.as_str(), Some("second"), Some("y")));
    let headers: Vec<_> = record.headers.iter().flat_map(|h| h.iter()).map(|h| (h.key, h.value)).collect();
    assert_eq!(headers, vec![("x-user", Some(&b"1"[..]))], "the caller's headers, without the injected context");
    recorder.spans().one(&format!("send {topic}")).assert_status_error().assert_attrs_exactly(&[
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "send"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.destination.name", topic.clone()),
        KeyValue::new("messaging.client.id", "otel-kafka-test-producer"),
        KeyValue::new("messaging.kafka.message.key", "second"),
        KeyValue::new("error.type", "QueueFull"),
        server_attributes()[0].clone(),
        server_attributes()[1].clone(),
    ]);

    // The first record's span ends when its delivery report is served.
    use rdkafka::producer::Producer;
    producer.flush(WAIT).expect("flushed");
    let report = reports.recv_timeout(WAIT).expect("a delivery report");
    assert_eq!(report.opaque, 1);
    let (partition, offset) = report.result.expect("delivered");
    let spans = recorder.spans();
    let sends = spans.named(&format!("send {topic}"));
    assert_eq!(sends.len(), 2);
    let first = sends.iter().find(|span| span.attr("error.type").is_none()).expect("the delivered record's span");
    first
        .assert_status_unset()
        .assert_attr("messaging.kafka.offset", offset)
        .assert_attr("messaging.destination.partition.id", partition.to_string());
}

/// The README's consumer loop as services write it: in a spawned task (`tokio::spawn` wants a
/// `Send + 'static` future; a compile failure here is this test failing), processing with an
/// `async` closure that borrows what the task owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_loop_runs_in_a_spawned_task() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("spawned");
    create_topic(&brokers, &topic).await;
    let (consumer, _group) = traced_consumer(&recorder, &brokers, &topic, ProcessParent::Producer);
    let tracer = recorder.provider().tracer("app");
    let worker = tokio::spawn(async move {
        let message = consumer.recv().await?;
        message
            .process(async |message| {
                tokio::task::yield_now().await;
                tracer.start("SELECT orders").end();
                Ok::<_, rdkafka::error::KafkaError>(message.offset())
            })
            .await
    });
    let producer = traced_producer(&recorder, &brokers);
    let delivery = producer
        .send(FutureRecord::<str, str>::to(&topic).payload("order"), Duration::from_secs(30))
        .await
        .expect("delivered");
    let offset = tokio::time::timeout(WAIT, worker).await.expect("in time").expect("no panic").expect("processed");
    assert_eq!(offset, delivery.offset);

    let spans = recorder.spans();
    spans.assert_single_trace();
    let send = spans.one(&format!("send {topic}"));
    let process = spans.one(&format!("process {topic}")).assert_child_of(&send);
    spans.one("SELECT orders").assert_child_of(&process);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_spans_cover_the_wait_and_link_to_the_producer() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("receive");
    create_topic(&brokers, &topic).await;
    let group = unique("group");
    let config = consumer_config(&brokers, &group);
    let inner: StreamConsumer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    inner.subscribe(&[&topic]).unwrap();
    let consumer = ConsumerTracing::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .receive_spans(true)
        .wrap(inner);
    let worker = tokio::spawn(async move {
        let message = consumer.recv().await?;
        message.process(async |message| Ok::<_, rdkafka::error::KafkaError>(message.offset())).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let producer = traced_producer(&recorder, &brokers);
    let delivery = producer
        .send(FutureRecord::<str, str>::to(&topic).payload("order"), Duration::from_secs(30))
        .await
        .expect("delivered");
    tokio::time::timeout(WAIT, worker).await.expect("in time").expect("no panic").expect("processed");

    let spans = recorder.spans();
    let send = spans.one(&format!("send {topic}"));
    let poll = spans.one(&format!("poll {topic}"));
    let waited = poll.data().end_time.duration_since(poll.data().start_time).unwrap();
    assert!(waited >= Duration::from_millis(250), "the span covers the wait: {waited:?}");
    let mut expected = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.name", "poll"),
        KeyValue::new("messaging.operation.type", "receive"),
        KeyValue::new("messaging.destination.name", topic.clone()),
        KeyValue::new("messaging.destination.partition.id", delivery.partition.to_string()),
        KeyValue::new("messaging.kafka.offset", delivery.offset),
        KeyValue::new("messaging.consumer.group.name", group),
        KeyValue::new("messaging.client.id", "otel-kafka-test-consumer"),
    ];
    expected.extend(server_attributes());
    poll.assert_kind(SpanKind::Client)
        .assert_root()
        .assert_links_to(send.span_context())
        .assert_attrs_exactly(&expected);
    spans.one(&format!("process {topic}")).assert_child_of(&send);
}

/// What hooks saw, in order.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn header_text(headers: &otel_kafka::HeadersView<'_>, key: &str) -> Option<String> {
    headers.value(key).map(|value| String::from_utf8_lossy(value).into_owned())
}

/// A producer builder whose request hook copies the record's `x-tenant` header into `app.tenant`
/// (and notes whether the injected `traceparent` is among the headers), and whose response hook
/// records the delivery outcome.
fn hooked_producer_builder(
    recorder: &SpanRecorder,
    config: &rdkafka::ClientConfig,
    seen: &Seen,
) -> otel_kafka::TracedProducerBuilder<opentelemetry_sdk::trace::SdkTracer> {
    let (requests, responses) = (seen.clone(), seen.clone());
    TracedFutureProducer::builder()
        .request_hook(move |span: &SpanRef<'_>, record: &OutgoingRecord<'_>| {
            let tenant = header_text(&record.headers, "x-tenant");
            let traceparent = record.headers.value("traceparent").is_some();
            requests.lock().unwrap().push(format!("request {tenant:?} traceparent={traceparent}"));
            if let Some(tenant) = tenant {
                span.set_attribute(KeyValue::new("app.tenant", tenant));
            }
        })
        .response_hook(move |span: &SpanRef<'_>, outcome: &DeliveryOutcome<'_>| {
            responses.lock().unwrap().push(format!("response {outcome:?}"));
            if let DeliveryOutcome::Delivered { offset, .. } = outcome {
                span.set_attribute(KeyValue::new("app.delivered_offset", *offset));
            }
        })
        // After the hooks: a new provider keeps them.
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn future_producer_hooks_see_the_record_with_its_context_and_the_delivery() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("hooks-future");
    create_topic(&brokers, &topic).await;
    let seen = Seen::default();
    let config = producer_config(&brokers);
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = hooked_producer_builder(&recorder, &config, &seen).build(inner);

    let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
    let record = FutureRecord::to(&topic).key("order-7").payload("s3cr3t-payload").headers(headers);
    let delivery = producer.send(record, Duration::from_secs(30)).await.expect("delivered");

    let expected = format!("response Delivered {{ partition: {}, offset: {} }}", delivery.partition, delivery.offset);
    assert_eq!(*seen.lock().unwrap(), [r#"request Some("acme") traceparent=true"#.to_owned(), expected]);
    let mut attributes = send_attributes(&topic, Some("order-7"), &delivery);
    attributes.push(KeyValue::new("app.tenant", "acme"));
    attributes.push(KeyValue::new("app.delivered_offset", delivery.offset));
    recorder.spans().one(&format!("send {topic}")).assert_status_unset().assert_attrs_exactly(&attributes);
    assert_payload_nowhere(&recorder, "s3cr3t-payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threaded_producer_hooks_run_with_the_span_and_the_response_hook_in_the_delivery_callback() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("hooks-threaded");
    create_topic(&brokers, &topic).await;
    let seen = Seen::default();
    let config = producer_config(&brokers);
    let (context, reports) = user_context(&recorder, &topic);
    let inner =
        config.create_with_context(TracedProducerContext::new(context)).unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = hooked_producer_builder(&recorder, &config, &seen).build_threaded(inner);

    let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
    producer
        .send(BaseRecord::with_opaque_to(&topic, 7).key("order-7").payload("x").headers(headers))
        .expect("enqueued");
    let report =
        tokio::task::spawn_blocking(move || reports.recv_timeout(WAIT).expect("a delivery report")).await.unwrap();
    let (partition, offset) = report.result.expect("delivered");
    assert_eq!((report.opaque, report.ended_send_spans), (7, 1), "the user's callback after the span's end");

    let expected = format!("response Delivered {{ partition: {partition}, offset: {offset} }}");
    assert_eq!(*seen.lock().unwrap(), [r#"request Some("acme") traceparent=true"#.to_owned(), expected]);
    let delivery = Delivery { partition, offset, timestamp: rdkafka::Timestamp::NotAvailable };
    let mut attributes = send_attributes(&topic, Some("order-7"), &delivery);
    attributes.push(KeyValue::new("app.tenant", "acme"));
    attributes.push(KeyValue::new("app.delivered_offset", offset));
    recorder.spans().one(&format!("send {topic}")).assert_status_unset().assert_attrs_exactly(&attributes);
}

/// A consumer whose request hook copies each message's `x-tenant` header into `app.tenant`, and
/// whose response hook records the outcome.
fn hooked_consumer(recorder: &SpanRecorder, brokers: &str, topic: &str, seen: &Seen) -> Traced {
    let config = consumer_config(brokers, &unique("group"));
    let inner: StreamConsumer = config.create().unwrap_or_else(|e| unreachable(brokers, e));
    inner.subscribe(&[topic]).unwrap();
    let (requests, responses) = (seen.clone(), seen.clone());
    ConsumerTracing::builder()
        .request_hook(move |span: &SpanRef<'_>, request: &ProcessRequest<'_>| {
            for message in request.messages() {
                let tenant = header_text(&message.headers, "x-tenant");
                requests.lock().unwrap().push(format!("request {} {tenant:?}", message.offset));
                if let Some(tenant) = tenant {
                    span.set_attribute(KeyValue::new("app.tenant", tenant));
                }
            }
        })
        .response_hook(move |span: &SpanRef<'_>, outcome: &ProcessOutcome<'_>| {
            responses.lock().unwrap().push(format!("response {outcome:?}"));
            if let ProcessOutcome::Err { error_type } = outcome {
                span.set_attribute(KeyValue::new("app.failure", error_type.to_string()));
            }
        })
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&config)
        .wrap(inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_hooks_read_the_message_headers_and_see_the_err_processing_returned() {
    let brokers = brokers();
    let recorder = SpanRecorder::new();
    let topic = unique("hooks-consumer");
    create_topic(&brokers, &topic).await;
    let producer = traced_producer(&recorder, &brokers);
    let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
    let record = FutureRecord::to(&topic).key("order-7").payload("x").headers(headers);
    let delivery = producer.send(record, Duration::from_secs(30)).await.expect("delivered");

    let seen = Seen::default();
    let consumer = hooked_consumer(&recorder, &brokers, &topic, &seen);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    let error = message.process(async |_| Err::<(), _>(std::io::Error::other("db down"))).await.unwrap_err();
    assert_eq!(error.to_string(), "db down", "the error passes through");

    assert_eq!(
        *seen.lock().unwrap(),
        [
            format!(r#"request {} Some("acme")"#, delivery.offset),
            r#"response Err { error_type: "std::io::error::Error" }"#.to_owned(),
        ]
    );
    let spans = recorder.spans();
    let send = spans.one(&format!("send {topic}"));
    spans
        .one(&format!("process {topic}"))
        .assert_child_of(&send)
        .assert_status_error()
        .assert_attr("app.tenant", "acme")
        .assert_attr("app.failure", "std::io::error::Error")
        .assert_attr("error.type", "std::io::error::Error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_are_not_called_for_sends_and_messages_whose_spans_do_not_record() {
    let brokers = brokers();
    let topic = unique("hooks-unsampled");
    create_topic(&brokers, &topic).await;
    let seen = Seen::default();

    // A producer whose sampler drops every span: the record goes out with an unsampled context.
    let unsampled = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let config = producer_config(&brokers);
    let inner: FutureProducer = config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    let producer = hooked_producer_builder(&unsampled, &config, &seen).build(inner);
    let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
    let record = FutureRecord::<str, str>::to(&topic).payload("x").headers(headers);
    producer.send(record, Duration::from_secs(30)).await.expect("delivered");

    // A consumer that follows its parent's decision: not sampled either.
    let parent_based = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
        opentelemetry_sdk::trace::Sampler::AlwaysOn,
    )));
    let consumer = hooked_consumer(&parent_based, &brokers, &topic, &seen);
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    let traceparent = headers_of(message.message()).into_iter().find(|(key, _)| key == "traceparent");
    let traceparent = traceparent.and_then(|(_, value)| value).expect("a traceparent");
    assert!(traceparent.ends_with(b"-00"), "an unsampled context travels");
    message.process(async |_| Ok::<_, std::io::Error>(())).await.expect("processed");

    assert!(seen.lock().unwrap().is_empty(), "hooks called: {:?}", seen.lock().unwrap());
    assert!(unsampled.spans().is_empty() && parent_based.spans().is_empty());
}
