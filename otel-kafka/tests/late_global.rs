//! Issue #28: a producer and a consumer built with the global defaults BEFORE the SDK is
//! installed trace and record metrics once it is, against a real broker (tansu on 127.0.0.1:9092,
//! KAFKA_BROKERS overrides it). A binary of its own, with one test: the global tracer and meter
//! providers are the whole process's.

mod support;

use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{MetricRecorder, SpanRecorder};
use otel_kafka::{ConsumerTracing, TracedConsumer, TracedFutureProducer};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::*;

/// The metric attributes of the first bootstrap server of `brokers` (`[proto://]host:port`).
fn server(brokers: &str) -> String {
    let first = brokers.split(',').next().expect("a broker").trim();
    let first = first.split_once("://").map_or(first, |(_, rest)| rest);
    let (host, port) = first.rsplit_once(':').expect("host:port");
    format!("server.address={host} server.port={port}")
}

/// The `traceparent` header of `message`, if any, as text.
fn traceparent(message: &impl Message) -> Option<String> {
    headers_of(message)
        .into_iter()
        .find(|(key, _)| key == "traceparent")
        .map(|(_, value)| String::from_utf8(value.expect("a value")).expect("UTF-8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_and_consumer_built_before_the_sdk_is_installed_trace_once_it_is() {
    let brokers = brokers();
    let topic = unique("late-global");
    create_topic(&brokers, &topic).await;

    // Built with the defaults while nothing is installed: the global provider is the no-op one.
    let producer_config = producer_config(&brokers);
    let producer = TracedFutureProducer::from_config(&producer_config).unwrap_or_else(|e| unreachable(&brokers, e));
    let group = unique("group");
    let consumer = TracedConsumer::from_config(&consumer_config(&brokers, &group)).unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    // The control: what the defaults did before issue #28, the global provider's tracer taken when
    // the adapter is built. It keeps the no-op tracer whatever is installed later.
    let inner: FutureProducer = producer_config.create().unwrap_or_else(|e| unreachable(&brokers, e));
    let captured_producer = TracedFutureProducer::builder().tracer_provider(&global::tracer_provider()).build(inner);
    let captured_tracing = ConsumerTracing::builder().tracer_provider(&global::tracer_provider()).build();

    global::set_text_map_propagator(StrictTraceContextPropagator::new());
    // A send before any provider is installed: a no-op span, so no context in the record (the
    // propagator is installed), and the producer's tracer stays unresolved, not stuck on no-op.
    let record = FutureRecord::to(&topic).key("before").payload("1");
    producer.send(record, WAIT).await.expect("delivered");

    // Installed with opentelemetry's own calls, as most applications do.
    let recorder = SpanRecorder::new();
    let metrics = MetricRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_meter_provider(metrics.provider().clone());
    let tracer = recorder.provider().tracer("test");
    let parent = Context::current_with_span(tracer.start("parent"));

    // The control producer, under the parent: nothing exported; its no-op span hands the parent's
    // context on, so the record carries the parent's traceparent.
    let record = FutureRecord::to(&topic).key("captured").payload("2");
    captured_producer.send(record, WAIT).with_context(parent.clone()).await.expect("delivered");
    assert!(recorder.spans().is_empty(), "the build-time tracer exports nothing: {}", recorder.spans().describe());

    // The same producer that sent before: now a `send {topic}` PRODUCER span, child of the parent.
    let record = FutureRecord::to(&topic).key("after").payload("3");
    let delivery = producer.send(record, WAIT).with_context(parent.clone()).await.expect("delivered");
    parent.span().end();

    let spans = recorder.spans();
    spans.assert_count(2);
    let parent_span = spans.one("parent");
    let send = spans
        .one(&format!("send {topic}"))
        .assert_kind(SpanKind::Producer)
        .assert_child_of(&parent_span)
        .assert_attr("messaging.kafka.message.key", "after")
        .assert_attr("messaging.kafka.offset", delivery.offset);
    let (parent_context, send_context) = (parent_span.span_context().clone(), send.span_context().clone());
    drop(spans);

    // That send is measured: one message sent and one send operation, on the topic's partition
    // and the producer's bootstrap server. Neither the send before installation nor the control's
    // is: no tracer had been resolved since installation when the control sent.
    let server = server(&brokers);
    let destination =
        format!("messaging.destination.name={topic} messaging.destination.partition.id={}", delivery.partition);
    let sent = format!("{destination} messaging.operation.name=send messaging.system=kafka {server}");
    assert_eq!(metrics.sum_u64("messaging.client.sent.messages"), [(sent, 1)]);
    let send_operation = format!(
        "{destination} messaging.operation.name=send messaging.operation.type=send messaging.system=kafka {server}"
    );
    assert_eq!(metrics.histogram("messaging.client.operation.duration"), [(send_operation, 1)]);

    // In order on the topic's one partition: "before", "captured", "after".
    let before = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    assert_eq!(before.key(), Some(&b"before"[..]));
    assert_eq!(traceparent(before.message()), None, "a send before installation starts no span");
    drop(before);

    let captured = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    assert_eq!(captured.key(), Some(&b"captured"[..]));
    let parents = format!("00-{}-{}-01", parent_context.trace_id(), parent_context.span_id());
    assert_eq!(traceparent(captured.message()).as_deref(), Some(&*parents), "the control's span is no-op");
    // The control consumer tracing processes it: nothing exported either.
    captured_tracing.process(captured.message(), async |_| Ok::<_, std::io::Error>(())).await.unwrap();
    recorder.spans().assert_count(2).assert_none_named(&format!("process {topic}"));
    drop(captured);

    // The consumer built before installation: a `process {topic}` CONSUMER span continuing the send.
    let after = tokio::time::timeout(WAIT, consumer.recv()).await.expect("in time").expect("a message");
    assert_eq!(after.key(), Some(&b"after"[..]));
    assert_eq!(after.offset(), delivery.offset);
    let sends = format!("00-{}-{}-01", send_context.trace_id(), send_context.span_id());
    assert_eq!(traceparent(after.message()).as_deref(), Some(&*sends), "the send span's context travels");
    let inside = after
        .process(async |_| {
            tokio::task::yield_now().await;
            Ok::<_, std::io::Error>(Context::current().span().span_context().clone())
        })
        .await
        .unwrap();

    let spans = recorder.spans();
    spans.assert_count(3);
    spans.assert_single_trace();
    let process = spans
        .one(&format!("process {topic}"))
        .assert_kind(SpanKind::Consumer)
        .assert_child_of(&spans.one(&format!("send {topic}")))
        .assert_attr("messaging.consumer.group.name", group.clone())
        .assert_attr("messaging.kafka.message.key", "after")
        .assert_attr("messaging.kafka.offset", delivery.offset);
    assert_eq!(process.span_context(), &inside, "the process span is current inside the handler");

    // Both processings are measured, each message consumed once: the consumer's, with its group
    // and bootstrap server; the control's (its tracer was captured, its meter is the global one),
    // built with neither.
    let point = |operation: &str, consumer: bool| {
        let (group, server) = match consumer {
            true => (format!("messaging.consumer.group.name={group} "), format!(" {server}")),
            false => (String::new(), String::new()),
        };
        format!("{group}{destination} messaging.operation.name={operation} messaging.system=kafka{server}")
    };
    assert_eq!(
        metrics.histogram("messaging.process.duration"),
        [(point("process", true), 1), (point("process", false), 1)]
    );
    assert_eq!(
        metrics.sum_u64("messaging.client.consumed.messages"),
        [(point("poll", true), 1), (point("poll", false), 1)]
    );
}
