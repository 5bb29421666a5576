//! Added cost per message: bare `FutureProducer`/`StreamConsumer` vs the traced wrappers, same
//! process, same broker (KAFKA_BROKERS, default 127.0.0.1:9092).
//!
//! `cargo bench -p otel-kafka --bench kafka_overhead -- <bare|bare-header|sampled|unsampled|sampled-metrics|unsampled-metrics> <messages> [produce]`
//! produces then consumes (only produces, with `produce`) `messages` small records on a fresh
//! topic and prints the heap allocations per produced and per consumed message and both
//! throughputs. `sampled-metrics` and `unsampled-metrics` are `sampled` and `unsampled` with the
//! wrappers' metrics recorded through `.meter_provider()` on an SDK meter provider whose only
//! reader is a periodic reader with a day's interval, which never exports during the run: the
//! recording path alone (the other modes record none);
//! `-- throughput <messages>` alternates bare, bare-header and sampled runs (three each) and
//! prints the median throughputs side by side. `bare-header` is the bare producer sending the
//! same records with a `traceparent` header: what carrying the context costs the client library
//! and the broker, apart from the wrappers. `otel-kafka/benches/measure.sh` runs everything, with
//! callgrind for instructions (N messages minus 0, every thread of this process but librdkafka's
//! main threads, which handle metadata; the broker is another process). The SDK runs with a batch processor and an exporter that drops spans;
//! sends run under an incoming (remote) parent, sampled or not.

use futures_util::future::join_all;
use opentelemetry::trace::FutureExt;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::remote_context;
use otel_core::testing::{CountingAllocator, DroppingExporter};
use otel_kafka::{ConsumerTracing, TracedFutureProducer};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

static EXPORTER: std::sync::LazyLock<DroppingExporter> = std::sync::LazyLock::new(DroppingExporter::default);

/// Records in flight at once while producing.
const WINDOW: usize = 100;
const PAYLOAD: &str = "{\"order\":7,\"total\":42}";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

struct Run {
    produce_allocations: f64,
    consume_allocations: f64,
    produce_rate: f64,
    consume_rate: f64,
}

fn config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("compression.type", "none").set("linger.ms", "5");
    config
}

async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = config(brokers).create().expect("admin client");
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&[NewTopic::new(topic, 1, TopicReplication::Fixed(1))], &options)
        .await
        .expect("Kafka on KAFKA_BROKERS (scripts/services.sh start)");
    for result in results {
        result.expect("topic created");
    }
}

/// Metrics that are recorded, not exported during the run.
fn meter_provider() -> SdkMeterProvider {
    otel_core::testing::MetricRecorder::new().provider().clone()
}

async fn run(mode: &str, messages: usize, consume: bool, brokers: &str, provider: &SdkTracerProvider) -> Run {
    let topic = format!("otel-kafka-bench-{mode}-{}", unique());
    create_topic(brokers, &topic).await;
    let flags = if mode.starts_with("unsampled") { "00" } else { "01" };
    // No global meter provider is installed: without `meter_provider`, no metrics.
    let meters = mode.ends_with("-metrics").then(meter_provider);
    let parent = remote_context(&format!("{}{flags}", &TRACEPARENT[..53]));
    let keys: Vec<String> = (0..messages.max(WINDOW)).map(|i| format!("order-{i}")).collect();

    // Produce.
    let producer_config = config(brokers);
    let bare: FutureProducer = producer_config.create().expect("producer");
    let mut traced = TracedFutureProducer::builder()
        .tracer_provider(provider)
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&producer_config);
    if let Some(meters) = &meters {
        traced = traced.meter_provider(meters);
    }
    let traced = traced.build(bare.clone());
    let produce = async |count: usize| {
        for chunk in keys[..count].chunks(WINDOW) {
            if mode == "bare" {
                let sends = chunk
                    .iter()
                    .map(|key| bare.send(FutureRecord::to(&topic).key(key).payload(PAYLOAD), Duration::from_secs(30)));
                for delivery in join_all(sends).await {
                    delivery.expect("delivered");
                }
            } else if mode == "bare-header" {
                // What the broker stores for a traced record: the same record with a traceparent.
                let sends = chunk.iter().map(|key| {
                    let header = Header { key: "traceparent", value: Some(TRACEPARENT) };
                    let record = FutureRecord::to(&topic).key(key).payload(PAYLOAD);
                    bare.send(
                        record.headers(OwnedHeaders::new_with_capacity(2).insert(header)),
                        Duration::from_secs(30),
                    )
                });
                for delivery in join_all(sends).await {
                    delivery.expect("delivered");
                }
            } else {
                let sends = chunk.iter().map(|key| {
                    traced.send(FutureRecord::to(&topic).key(key).payload(PAYLOAD), Duration::from_secs(30))
                });
                for delivery in join_all(sends).await {
                    delivery.expect("delivered");
                }
            }
        }
    };
    produce(WINDOW).with_context(parent.clone()).await; // warm up: connections, metadata
    let before = CountingAllocator::allocations();
    let start = Instant::now();
    produce(messages).with_context(parent).await;
    let produce_time = start.elapsed();
    let produce_allocations = CountingAllocator::allocations() - before;
    let messages_consumed = if consume { messages } else { 0 };

    // Consume, by assignment (no group rebalance in the measure), from the first measured record.
    let mut consumer_config = config(brokers);
    consumer_config.set("group.id", format!("{topic}-group")).set("enable.auto.commit", "false");
    let consumer: StreamConsumer = consumer_config.create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    let first = WINDOW as i64;
    assignment.add_partition_offset(&topic, 0, Offset::Offset(first)).unwrap();
    consumer.assign(&assignment).unwrap();
    let mut tracing = ConsumerTracing::builder()
        .tracer_provider(provider)
        .propagator(StrictTraceContextPropagator::new())
        .client_config(&consumer_config);
    if let Some(meters) = &meters {
        tracing = tracing.meter_provider(meters);
    }
    let tracing = tracing.build();
    // Timed from the assignment: fetching from the broker is part of consuming.
    let consume_start = Instant::now();
    let mut consume_allocations = 0;
    for i in 0..messages_consumed {
        let message = consumer.recv().await.expect("a message");
        if i == 0 {
            // Allocations are counted from the second message on: the first fetch is setup.
            consume_allocations = CountingAllocator::allocations();
        }
        if mode.starts_with("bare") {
            std::hint::black_box(message.payload().map(<[u8]>::len));
        } else {
            let len = tracing.process(&message, async |m| Ok::<_, std::io::Error>(m.payload().map(<[u8]>::len))).await;
            std::hint::black_box(len.unwrap());
        }
    }
    let consume_time = consume_start.elapsed();
    let consumed = messages_consumed.saturating_sub(1).max(1) as f64;
    let consume_allocations = CountingAllocator::allocations().saturating_sub(consume_allocations) as f64;
    Run {
        produce_allocations: produce_allocations as f64 / messages.max(1) as f64,
        consume_allocations: if messages_consumed > 1 { consume_allocations / consumed } else { 0.0 },
        produce_rate: messages as f64 / produce_time.as_secs_f64(),
        consume_rate: messages_consumed as f64 / consume_time.as_secs_f64(),
    }
}

/// A suffix no other run uses.
fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    format!("{}-{now}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = args.next().unwrap_or_else(|| "sampled".into());
    let messages: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let consume = args.next().is_none_or(|phases| phases != "produce");
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_span_processor(BatchSpanProcessor::builder(EXPORTER.clone()).build())
        .build();

    if mode == "throughput" {
        let (mut bare, mut header, mut sampled) = (Vec::new(), Vec::new(), Vec::new());
        runtime.block_on(async {
            for _ in 0..3 {
                bare.push(run("bare", messages, true, &brokers, &provider).await);
                header.push(run("bare-header", messages, true, &brokers, &provider).await);
                sampled.push(run("sampled", messages, true, &brokers, &provider).await);
            }
        });
        let rates = |runs: &[Run], f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
        for (what, f) in [("produce", (|r: &Run| r.produce_rate) as fn(&Run) -> f64), ("consume", |r| r.consume_rate)] {
            let (b, h, s) = (rates(&bare, f), rates(&header, f), rates(&sampled, f));
            println!(
                "{what} msgs/s: bare={b:.0} bare+traceparent={h:.0} traced={s:.0} \
                 traced/bare+traceparent={:.3} traced/bare={:.3}",
                s / h,
                s / b
            );
        }
        return;
    }

    let result = runtime.block_on(run(&mode, messages, consume, &brokers, &provider));
    provider.force_flush().unwrap();
    println!(
        "mode={mode} messages={messages} allocations/produced={:.2} allocations/consumed={:.2} \
         produce_msgs_per_s={:.0} consume_msgs_per_s={:.0} exported_spans={}",
        result.produce_allocations,
        result.consume_allocations,
        result.produce_rate,
        result.consume_rate,
        EXPORTER.exported()
    );
}
