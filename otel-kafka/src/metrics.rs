//! The messaging metrics of the semantic conventions, and when they are recorded.
//!
//! - `messaging.client.sent.messages`: once per record librdkafka accepted, when its delivery
//!   outcome is known (`error.type` when delivery failed).
//! - `messaging.client.operation.duration`: each `send`, from the call to its outcome (operation
//!   `send`, type `send`); and, with receive spans on, each `TracedConsumer::recv` (operation
//!   `poll`, type `receive`).
//! - `messaging.process.duration`: each `process` / `process_batch` (operation `process`).
//! - `messaging.client.consumed.messages`: once per message handed to `process` /
//!   `process_batch` (operation `poll`).
//!
//! Only low-cardinality attributes: the system, the operation, the topic and partition, the
//! consumer group, the bootstrap server, `error.type`; never keys, payloads, offsets or client
//! ids. The wrappers hold these as `Option`s, built only when a meter is there: with metrics off
//! nothing here runs. Every message is recorded, whether or not its span is sampled.
//!
//! Most messages of a client go to one topic and a few partitions and succeed: the attribute lists
//! of the first topic's partitions ([`Series`]) are built once, when a partition is first seen,
//! and reused; other measurements gather theirs on the stack.

use crate::messaging::{self, KAFKA, Server, TopicNames};
use opentelemetry::metrics::Meter;
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::{attribute as semconv, metric};
use otel_core::metrics::{AttributeList, CachedCounter, CachedHistogram, HTTP_DURATION_BUCKETS, StaticKey};
use rdkafka::error::KafkaError;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The most attributes a measurement of this crate carries: system, operation name and type,
/// destination, partition, consumer group (or `error.type`), server address and port.
const MAX_ATTRIBUTES: usize = 8;

type Attributes = AttributeList<MAX_ATTRIBUTES>;

/// Partitions of the first topic whose attribute lists are kept.
const KEPT_PARTITIONS: usize = 64;

/// `messaging.client.operation.duration` on `meter`.
fn operation_duration(meter: &Meter) -> CachedHistogram {
    CachedHistogram::new(
        meter
            .f64_histogram(metric::MESSAGING_CLIENT_OPERATION_DURATION)
            .with_unit("s")
            .with_description("Duration of messaging operation initiated by a producer or consumer client.")
            .with_boundaries(HTTP_DURATION_BUCKETS.to_vec())
            .build(),
    )
}

/// A `{message}` counter on `meter`.
fn message_counter(meter: &Meter, name: &'static str, description: &'static str) -> CachedCounter {
    CachedCounter::new(meter.u64_counter(name).with_unit("{message}").with_description(description).build())
}

/// `messaging.system` and `messaging.operation.name`, the two attributes every point has.
fn operation(attributes: &mut Attributes, name: &'static str) {
    attributes.push(KeyValue::new(semconv::MESSAGING_SYSTEM, KAFKA));
    attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, name));
}

/// `messaging.destination.name` and `messaging.destination.partition.id`, when known (a partition
/// below 0 is librdkafka's "unassigned").
fn destination(attributes: &mut Attributes, destination: Option<StringValue>, partition: Option<i32>) {
    if let Some(destination) = destination {
        attributes.push(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination));
    }
    if let Some(partition) = partition.filter(|&partition| partition >= 0) {
        attributes.push(messaging::partition(partition));
    }
}

/// The key of a kept series: its partition. The rest of its attributes (the first topic, the
/// operation, the server, the consumer group) are the same for every point a client's instrument
/// records through a series, so a thread finds the series' handle from this one number.
fn series_key(partition: i32) -> StaticKey {
    let mut key = StaticKey::new();
    key.number(Some(i64::from(partition)));
    key
}

/// A kept list as a measurement's attributes, made when a thread binds its series.
fn series_attributes(list: &[KeyValue]) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.extend(list.iter().cloned());
    attributes
}

/// The attribute lists of the first topic's partitions, each built when its partition is first
/// seen: a message there builds none.
struct Series<S>(Box<[OnceLock<S>]>);

impl<S> Series<S> {
    fn new() -> Self {
        Self((0..KEPT_PARTITIONS).map(|_| OnceLock::new()).collect())
    }

    /// The lists of `partition` of the first topic, built by `build` if they are not yet;
    /// `None` for a partition past those kept.
    fn get(&self, partition: i32, build: impl FnOnce() -> S) -> Option<&S> {
        let slot = self.0.get(usize::try_from(partition).ok()?)?;
        Some(slot.get_or_init(build))
    }
}

/// A producer's instruments and the attributes fixed for its life.
pub(crate) struct ProducerMetrics {
    sent: CachedCounter,
    duration: CachedHistogram,
    server: Option<Server>,
    names: TopicNames,
    series: Series<SendSeries>,
}

/// The points of one partition of the first topic: `sent` for the counter, `duration` (with
/// the operation type) for the histogram.
struct SendSeries {
    /// Names the partition's points in the instruments' handles (the rest is fixed per client).
    key: StaticKey,
    sent: Box<[KeyValue]>,
    duration: Box<[KeyValue]>,
}

impl fmt::Debug for ProducerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerMetrics").finish_non_exhaustive()
    }
}

impl ProducerMetrics {
    /// The instruments on `meter`; `server` is the producer's bootstrap server, if known.
    pub(crate) fn new(meter: &Meter, server: Option<Server>) -> Self {
        Self {
            sent: message_counter(
                meter,
                metric::MESSAGING_CLIENT_SENT_MESSAGES,
                "Number of messages producer attempted to send to the broker.",
            ),
            duration: operation_duration(meter),
            server,
            names: TopicNames::new("send"),
            series: Series::new(),
        }
    }

    /// Records a send to `topic` whose outcome is known, started at `start`: its duration, with
    /// `error.type` when it failed; and, when `sent` (librdkafka had accepted the record), the
    /// sent message.
    ///
    /// A record rejected when handed to librdkafka (`QueueFull` past the queue timeout, an
    /// unknown partition) is not `sent`: it never left the application, and the conventions do
    /// not count messages that were not sent. Its send still failed, so its duration is recorded.
    /// `partition` is the one the record was written to or meant for, if any.
    pub(crate) fn send_finished(
        &self,
        start: Instant,
        topic: &str,
        partition: Option<i32>,
        error: Option<&KafkaError>,
        sent: bool,
    ) {
        let elapsed = start.elapsed().as_secs_f64();
        let (destination_name, kept) = self.names.destination_kept(topic);
        if kept
            && error.is_none()
            && let Some(partition) = partition
            && let Some(series) = self.series.get(partition, || self.send_series(destination_name.clone(), partition))
        {
            if sent {
                self.sent.add_keyed(1, &series.key, || series_attributes(&series.sent));
            }
            self.duration.record_keyed(elapsed, &series.key, || series_attributes(&series.duration));
            return;
        }
        let mut attributes = self.send_attributes(destination_name, partition);
        if let Some(error) = error {
            attributes.push(messaging::error_type(error));
        }
        if sent {
            self.sent.add(1, attributes.as_slice());
        }
        attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "send"));
        self.duration.record(elapsed, attributes.as_slice());
    }

    /// Records a send to `topic` given up before its outcome (a `send` future dropped while it
    /// waits for the report): librdkafka had the record, so it was sent, and is counted without
    /// `error.type` (its outcome is unknown, not a failure). The send has no end, so no duration.
    pub(crate) fn send_abandoned(&self, topic: &str) {
        let attributes = self.send_attributes(self.names.destination(topic), None);
        self.sent.add(1, attributes.as_slice());
    }

    fn send_attributes(&self, destination_name: StringValue, partition: Option<i32>) -> Attributes {
        let mut attributes = Attributes::new();
        operation(&mut attributes, "send");
        destination(&mut attributes, Some(destination_name), partition);
        if let Some(server) = &self.server {
            server.record(&mut attributes);
        }
        attributes
    }

    fn send_series(&self, destination_name: StringValue, partition: i32) -> SendSeries {
        let mut attributes = self.send_attributes(destination_name, Some(partition));
        let sent = attributes.as_slice().into();
        attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "send"));
        SendSeries { key: series_key(partition), sent, duration: attributes.as_slice().into() }
    }
}

/// The send of a record that travels through librdkafka's opaque (the `ThreadedProducer`'s and
/// `BaseProducer`'s records), from the `send` call until its delivery report or its rejection:
/// librdkafka gives every record it accepted to the delivery callback, so one of the two ends it.
pub(crate) struct SendMetric {
    metrics: Arc<ProducerMetrics>,
    start: Instant,
}

impl SendMetric {
    /// Starts timing the send of a record, now.
    pub(crate) fn start(metrics: Arc<ProducerMetrics>) -> Self {
        Self { metrics, start: Instant::now() }
    }

    /// The producer refused the record to `topic` when it was handed over: not sent.
    pub(crate) fn rejected(self, topic: &str, partition: Option<i32>, error: &KafkaError) {
        self.metrics.send_finished(self.start, topic, partition, Some(error), false);
    }

    /// The delivery report of the record to `topic`: sent, delivered or failed.
    pub(crate) fn delivered(self, topic: &str, partition: i32, error: Option<&KafkaError>) {
        self.metrics.send_finished(self.start, topic, Some(partition), error, true);
    }
}

/// A consumer's instruments and the attributes fixed for its life.
pub(crate) struct ConsumerMetrics {
    process: CachedHistogram,
    consumed: CachedCounter,
    receive: CachedHistogram,
    group: Option<StringValue>,
    server: Option<Server>,
    names: TopicNames,
    series: Series<ConsumerSeries>,
}

/// The points of one partition of the first topic: delivered (`consumed`), processed without
/// error (`process`), received (`receive`, with the operation type).
struct ConsumerSeries {
    /// Names the partition's points in the instruments' handles (the rest is fixed per client).
    key: StaticKey,
    consumed: Box<[KeyValue]>,
    process: Box<[KeyValue]>,
    receive: Box<[KeyValue]>,
}

impl fmt::Debug for ConsumerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerMetrics").finish_non_exhaustive()
    }
}

/// The operation name of the consumer's receive: as its receive spans (`poll {topic}`).
const RECEIVE: &str = "poll";

impl ConsumerMetrics {
    /// The instruments on `meter`; `group` and `server` are the consumer's group and bootstrap
    /// server, if known.
    pub(crate) fn new(meter: &Meter, group: Option<StringValue>, server: Option<Server>) -> Self {
        Self {
            process: CachedHistogram::new(
                meter
                    .f64_histogram(metric::MESSAGING_PROCESS_DURATION)
                    .with_unit("s")
                    .with_description("Duration of processing operation.")
                    .with_boundaries(HTTP_DURATION_BUCKETS.to_vec())
                    .build(),
            ),
            consumed: message_counter(
                meter,
                metric::MESSAGING_CLIENT_CONSUMED_MESSAGES,
                "Number of messages that were delivered to the application.",
            ),
            receive: operation_duration(meter),
            group,
            server,
            names: TopicNames::new("process"),
            series: Series::new(),
        }
    }

    /// `operation`, the destination, the consumer group and the server.
    fn attributes(
        &self,
        name: &'static str,
        destination_name: Option<StringValue>,
        partition: Option<i32>,
    ) -> Attributes {
        let mut attributes = Attributes::new();
        operation(&mut attributes, name);
        destination(&mut attributes, destination_name, partition);
        if let Some(group) = &self.group {
            attributes.push(KeyValue::new(semconv::MESSAGING_CONSUMER_GROUP_NAME, group.clone()));
        }
        if let Some(server) = &self.server {
            server.record(&mut attributes);
        }
        attributes
    }

    /// The kept lists of `partition` of `topic`, when it is the first topic; and the topic's
    /// `messaging.destination.name`.
    fn series(&self, topic: &str, partition: i32) -> (Option<&ConsumerSeries>, StringValue) {
        let (destination_name, kept) = self.names.destination_kept(topic);
        let series = kept.then(|| self.series.get(partition, || self.build_series(&destination_name, partition)));
        (series.flatten(), destination_name)
    }

    fn build_series(&self, destination_name: &StringValue, partition: i32) -> ConsumerSeries {
        let list = |name| self.attributes(name, Some(destination_name.clone()), Some(partition));
        let mut receive = list(RECEIVE);
        receive.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "receive"));
        ConsumerSeries {
            key: series_key(partition),
            consumed: list(RECEIVE).as_slice().into(),
            process: list("process").as_slice().into(),
            receive: receive.as_slice().into(),
        }
    }

    /// Counts `count` messages of one topic and partition handed to the application.
    pub(crate) fn consumed(&self, count: u64, topic: &str, partition: i32) {
        match self.series(topic, partition) {
            (Some(series), _) => self.consumed.add_keyed(count, &series.key, || series_attributes(&series.consumed)),
            (None, destination_name) => {
                let attributes = self.attributes(RECEIVE, Some(destination_name), Some(partition));
                self.consumed.add(count, attributes.as_slice());
            }
        }
    }

    /// Counts a message handed to the application and starts timing its processing, now.
    pub(crate) fn start_message(&self, topic: &str, partition: i32) -> ProcessMetric<'_> {
        let (series, destination_name) = self.series(topic, partition);
        match series {
            Some(series) => self.consumed.add_keyed(1, &series.key, || series_attributes(&series.consumed)),
            None => {
                let attributes = self.attributes(RECEIVE, Some(destination_name.clone()), Some(partition));
                self.consumed.add(1, attributes.as_slice());
            }
        }
        let partition = Some(partition);
        ProcessMetric { metrics: self, start: Instant::now(), series, destination: Some(destination_name), partition }
    }

    /// Starts timing a process operation, now, on a batch: the topic when the batch has only
    /// one, and the partition when it has only one of that topic.
    pub(crate) fn start_process(&self, topic: Option<&str>, partition: Option<i32>) -> ProcessMetric<'_> {
        let (series, destination_name) = match (topic, partition) {
            (Some(topic), Some(partition)) => {
                let (series, destination_name) = self.series(topic, partition);
                (series, Some(destination_name))
            }
            (topic, _) => (None, topic.map(|topic| self.names.destination(topic))),
        };
        ProcessMetric { metrics: self, start: Instant::now(), series, destination: destination_name, partition }
    }

    /// Records a receive (`poll`) that took `elapsed`: the message's topic and partition, or the
    /// error.
    pub(crate) fn received(&self, elapsed: Duration, received: Result<(&str, i32), &KafkaError>) {
        let elapsed = elapsed.as_secs_f64();
        let (destination_name, partition, error) = match received {
            Ok((topic, partition)) => match self.series(topic, partition) {
                (Some(series), _) => {
                    return self.receive.record_keyed(elapsed, &series.key, || series_attributes(&series.receive));
                }
                (None, destination_name) => (Some(destination_name), Some(partition), None),
            },
            Err(error) => (None, None, Some(messaging::error_type(error))),
        };
        let mut attributes = self.attributes(RECEIVE, destination_name, partition);
        attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "receive"));
        attributes.extend(error);
        self.receive.record(elapsed, attributes.as_slice());
    }
}

/// A process operation being timed for `messaging.process.duration`.
pub(crate) struct ProcessMetric<'a> {
    metrics: &'a ConsumerMetrics,
    start: Instant,
    /// The kept lists, for a message (or batch) of one partition of the first topic.
    series: Option<&'a ConsumerSeries>,
    destination: Option<StringValue>,
    partition: Option<i32>,
}

impl ProcessMetric<'_> {
    /// Records the duration, with `error.type` when processing failed (the value the span gets:
    /// the error's type name, or `panic`).
    pub(crate) fn finish(self, error_type: Option<&'static str>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let metrics = self.metrics;
        if let (Some(series), None) = (self.series, error_type) {
            return metrics.process.record_keyed(elapsed, &series.key, || series_attributes(&series.process));
        }
        let mut attributes = metrics.attributes("process", self.destination, self.partition);
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type));
        }
        metrics.process.record(elapsed, attributes.as_slice());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use rdkafka::types::RDKafkaErrorCode;

    /// A meter provider whose points are read back as text.
    pub(crate) struct Meters {
        exporter: InMemoryMetricExporter,
        pub(crate) provider: SdkMeterProvider,
    }

    impl Meters {
        pub(crate) fn new() -> Self {
            let exporter = InMemoryMetricExporter::default();
            let provider =
                SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
            Self { exporter, provider }
        }

        /// The points of `metric`: sorted `key=value` attributes and the sum or count; sorted.
        pub(crate) fn points(&self, metric: &str) -> Vec<(String, u64)> {
            self.provider.force_flush().unwrap();
            let collected = self.exporter.get_finished_metrics().unwrap();
            let mut points = Vec::new();
            let text = |attributes: &mut dyn Iterator<Item = &KeyValue>| {
                let mut attributes: Vec<_> = attributes.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                attributes.sort();
                attributes.join(" ")
            };
            for scope in collected.last().into_iter().flat_map(|resource| resource.scope_metrics()) {
                for data in scope.metrics().filter(|m| m.name() == metric).map(|m| m.data()) {
                    match data {
                        AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                            points.extend(sum.data_points().map(|p| (text(&mut p.attributes()), p.value())));
                        }
                        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                            points.extend(histogram.data_points().map(|p| (text(&mut p.attributes()), p.count())));
                        }
                        _ => panic!("unexpected data for {metric}"),
                    }
                }
            }
            points.sort();
            points
        }
    }

    const DESTINATION: &str = "messaging.destination.name=orders";
    const SYSTEM: &str = "messaging.system=kafka";
    const SEND: &str = "messaging.destination.name=orders messaging.operation.name=send messaging.system=kafka";

    #[test]
    fn a_record_counts_as_sent_once_librdkafka_has_it() {
        let meters = Meters::new();
        let metrics = Arc::new(ProducerMetrics::new(&meters.provider.meter("test"), None));
        let queue_full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);

        // Rejected when handed over: timed, with its error, never sent.
        metrics.send_finished(Instant::now(), "orders", None, Some(&queue_full), false);
        SendMetric::start(Arc::clone(&metrics)).rejected("orders", Some(-1), &queue_full);
        assert_eq!(meters.points(metric::MESSAGING_CLIENT_SENT_MESSAGES), []);
        let duration = meters.points(metric::MESSAGING_CLIENT_OPERATION_DURATION);
        let queue_full = format!("error.type=QueueFull {DESTINATION} messaging.operation.name=send");
        assert_eq!(duration, [(format!("{queue_full} messaging.operation.type=send {SYSTEM}"), 2)]);

        // Delivered; failed in delivery; given up while librdkafka had it (sent, outcome unknown).
        SendMetric::start(Arc::clone(&metrics)).delivered("orders", 2, None);
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        SendMetric::start(Arc::clone(&metrics)).delivered("orders", -1, Some(&timed_out));
        metrics.send_abandoned("orders");
        let partition = "messaging.destination.partition.id=2 messaging.operation.name=send";
        assert_eq!(
            meters.points(metric::MESSAGING_CLIENT_SENT_MESSAGES),
            [
                (format!("error.type=MessageTimedOut {SEND}"), 1),
                (format!("{DESTINATION} {partition} {SYSTEM}"), 1),
                (SEND.to_owned(), 1),
            ]
        );
        assert_eq!(meters.points(metric::MESSAGING_CLIENT_OPERATION_DURATION).len(), 3, "abandoned sends have none");
    }

    #[test]
    fn kept_and_gathered_attribute_lists_make_the_same_points() {
        let meters = Meters::new();
        let metrics = ProducerMetrics::new(&meters.provider.meter("test"), None);
        // The first topic's partitions below the bound are kept; another topic, or a partition
        // past the bound, gathers its list each time.
        for (topic, partition) in [("orders", 1), ("payments", 1), ("orders", 100), ("orders", 1)] {
            metrics.send_finished(Instant::now(), topic, Some(partition), None, true);
        }
        let point = |topic: &str, partition: i32, count| {
            let (name, system) = ("messaging.operation.name=send", SYSTEM);
            let destination = format!("messaging.destination.name={topic}");
            (format!("{destination} messaging.destination.partition.id={partition} {name} {system}"), count)
        };
        let expected = [point("orders", 1, 2), point("orders", 100, 1), point("payments", 1, 1)];
        assert_eq!(meters.points(metric::MESSAGING_CLIENT_SENT_MESSAGES), expected);
        let durations = meters.points(metric::MESSAGING_CLIENT_OPERATION_DURATION);
        let counts: Vec<_> =
            durations.iter().map(|(attributes, count)| (attributes.contains("type=send"), *count)).collect();
        assert_eq!(counts, [(true, 2), (true, 1), (true, 1)]);
    }
}
