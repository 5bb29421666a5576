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
//! Most messages of a client go to one topic and a few partitions and succeed: a successful
//! measurement on the first topic is found in the thread's bound handles by its partition alone
//! ([`kept_key`]), without gathering its attributes; other measurements gather theirs on the stack.

use crate::messaging::{self, KAFKA, Server, TopicNames};
use opentelemetry::metrics::Meter;
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::{attribute as semconv, metric};
use otel_core::metrics::{
    AttributeList, CachedCounter, CachedHistogram, HTTP_DURATION_BUCKETS, StaticKey, seconds_histogram,
};
use rdkafka::error::KafkaError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most attributes a measurement of this crate carries: system, operation name and type,
/// destination, partition, consumer group (or `error.type`), server address and port.
const MAX_ATTRIBUTES: usize = 8;

type Attributes = AttributeList<MAX_ATTRIBUTES>;

/// `messaging.client.operation.duration` on `meter`.
fn operation_duration(meter: &Meter) -> CachedHistogram {
    CachedHistogram::new(seconds_histogram(
        meter,
        metric::MESSAGING_CLIENT_OPERATION_DURATION,
        "Duration of messaging operation initiated by a producer or consumer client.",
        &HTTP_DURATION_BUCKETS,
    ))
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

/// The key of a successful measurement on a client's first topic: its partition (none below 0,
/// as the attributes). The rest of its attributes (the topic, the operation, the server, the
/// consumer group) are the same for every such measurement of a client's instrument, so a thread
/// finds its bound handle from this one number.
fn kept_key(partition: Option<i32>) -> StaticKey {
    let mut key = StaticKey::new();
    key.number(partition.filter(|&partition| partition >= 0).map(i64::from));
    key
}

/// A producer's instruments and the attributes fixed for its life.
pub(crate) struct ProducerMetrics {
    sent: CachedCounter,
    duration: CachedHistogram,
    server: Option<Server>,
    names: TopicNames,
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
        let sent_attributes = || {
            let mut attributes = self.send_attributes(destination_name.clone(), partition);
            attributes.extend(error.map(messaging::error_type));
            attributes
        };
        let duration_attributes = || {
            let mut attributes = sent_attributes();
            attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "send"));
            attributes
        };
        if kept && error.is_none() {
            let key = kept_key(partition);
            if sent {
                self.sent.add_keyed(1, &key, sent_attributes);
            }
            self.duration.record_keyed(elapsed, &key, duration_attributes);
        } else {
            if sent {
                self.sent.add(1, sent_attributes().as_slice());
            }
            self.duration.record(elapsed, duration_attributes().as_slice());
        }
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
            process: CachedHistogram::new(seconds_histogram(
                meter,
                metric::MESSAGING_PROCESS_DURATION,
                "Duration of processing operation.",
                &HTTP_DURATION_BUCKETS,
            )),
            consumed: message_counter(
                meter,
                metric::MESSAGING_CLIENT_CONSUMED_MESSAGES,
                "Number of messages that were delivered to the application.",
            ),
            receive: operation_duration(meter),
            group,
            server,
            names: TopicNames::new("process"),
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

    /// The topic's `messaging.destination.name`, and whether it is the consumer's first topic.
    fn destination(&self, topic: &str) -> (StringValue, bool) {
        self.names.destination_kept(topic)
    }

    /// Counts `count` messages of one topic and partition handed to the application.
    pub(crate) fn consumed(&self, count: u64, topic: &str, partition: i32) {
        let (destination_name, kept) = self.destination(topic);
        self.count_consumed(count, destination_name, kept, partition);
    }

    /// Counts a message handed to the application and starts timing its processing, now.
    pub(crate) fn start_message(&self, topic: &str, partition: i32) -> ProcessMetric {
        let (destination_name, kept) = self.destination(topic);
        self.count_consumed(1, destination_name.clone(), kept, partition);
        let partition = Some(partition);
        ProcessMetric { start: Instant::now(), kept, destination: Some(destination_name), partition }
    }

    fn count_consumed(&self, count: u64, destination_name: StringValue, kept: bool, partition: i32) {
        let attributes = || self.attributes(RECEIVE, Some(destination_name), Some(partition));
        if kept {
            self.consumed.add_keyed(count, &kept_key(Some(partition)), attributes);
        } else {
            self.consumed.add(count, attributes().as_slice());
        }
    }

    /// Starts timing a process operation, now, on a batch: the topic when the batch has only
    /// one, and the partition when it has only one of that topic.
    pub(crate) fn start_process(&self, topic: Option<&str>, partition: Option<i32>) -> ProcessMetric {
        let (destination_name, kept) = match (topic, partition) {
            (Some(topic), Some(_)) => {
                let (destination_name, kept) = self.destination(topic);
                (Some(destination_name), kept)
            }
            (topic, _) => (topic.map(|topic| self.names.destination(topic)), false),
        };
        ProcessMetric { start: Instant::now(), kept, destination: destination_name, partition }
    }

    /// Records a receive (`poll`) that took `elapsed`: the message's topic and partition, or the
    /// error.
    pub(crate) fn received(&self, elapsed: Duration, received: Result<(&str, i32), &KafkaError>) {
        let elapsed = elapsed.as_secs_f64();
        let (destination_name, partition, error, kept) = match received {
            Ok((topic, partition)) => {
                let (destination_name, kept) = self.destination(topic);
                (Some(destination_name), Some(partition), None, kept)
            }
            Err(error) => (None, None, Some(messaging::error_type(error)), false),
        };
        let attributes = || {
            let mut attributes = self.attributes(RECEIVE, destination_name, partition);
            attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "receive"));
            attributes.extend(error);
            attributes
        };
        if kept {
            self.receive.record_keyed(elapsed, &kept_key(partition), attributes);
        } else {
            self.receive.record(elapsed, attributes().as_slice());
        }
    }
}

/// A process operation being timed for `messaging.process.duration`.
pub(crate) struct ProcessMetric {
    start: Instant,
    /// A message (or batch) of one partition of the first topic.
    kept: bool,
    destination: Option<StringValue>,
    partition: Option<i32>,
}

impl ProcessMetric {
    /// Records the duration on `metrics`, with `error.type` when processing failed (the value the
    /// span gets: the error's type name, or `panic`).
    pub(crate) fn finish(self, metrics: &ConsumerMetrics, error_type: Option<&'static str>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let attributes = || {
            let mut attributes = metrics.attributes("process", self.destination, self.partition);
            attributes.extend(error_type.map(|error_type| KeyValue::new(semconv::ERROR_TYPE, error_type)));
            attributes
        };
        if self.kept && error_type.is_none() {
            metrics.process.record_keyed(elapsed, &kept_key(self.partition), attributes);
        } else {
            metrics.process.record(elapsed, attributes().as_slice());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use otel_core::testing::MetricRecorder;
    use rdkafka::types::RDKafkaErrorCode;

    /// A meter provider whose points are read back as text: a counter's sums, a histogram's
    /// counts.
    pub(crate) struct Meters(MetricRecorder);

    impl Meters {
        pub(crate) fn new() -> Self {
            Self(MetricRecorder::new())
        }

        pub(crate) fn provider(&self) -> &SdkMeterProvider {
            self.0.provider()
        }

        /// The points of `metric`: sorted `key=value` attributes and the sum or count; sorted.
        pub(crate) fn points(&self, metric: &str) -> Vec<(String, u64)> {
            let mut points = self.0.sum_u64(metric);
            points.extend(self.0.histogram(metric));
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
        let metrics = Arc::new(ProducerMetrics::new(&meters.provider().meter("test"), None));
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
        let metrics = ProducerMetrics::new(&meters.provider().meter("test"), None);
        // The first topic's measurements are found by their partition; another topic's gather
        // their attributes each time.
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
