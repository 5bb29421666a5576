//! The messaging attributes both sides record, and Kafka errors as `error.type`.

use opentelemetry::trace::Status;
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::semconv::http::HostPort;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// `messaging.system`.
pub(crate) const KAFKA: &str = "kafka";

/// The delay between the message's timestamp and the start of its processing, in seconds. The
/// conventions define no attribute for it, so it sits in this project's own namespace
/// (`otel_rust.*`), not in `kafka.*` or `messaging.*`, which the conventions own.
pub(crate) const QUEUE_TIME: &str = "otel_rust.messaging.queue_time";

/// `messaging.system`, `messaging.operation.name` and `messaging.operation.type` (the same word
/// for `send` and `process`).
pub(crate) fn operation(attributes: &mut Vec<KeyValue>, operation: &'static str) {
    operation_named(attributes, operation, operation);
}

/// [`operation`] where the name and the type differ (`poll`, of type `receive`).
pub(crate) fn operation_named(attributes: &mut Vec<KeyValue>, name: &'static str, kind: &'static str) {
    attributes.push(KeyValue::new(semconv::MESSAGING_SYSTEM, KAFKA));
    attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, name));
    attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, kind));
}

/// `server.address` and `server.port` of a client's spans: the first of its `bootstrap.servers`,
/// the broker the client was told to reach (the conventions' low-cardinality choice, rather than
/// whichever broker led the partition).
#[derive(Clone, Debug)]
pub(crate) struct Server {
    address: StringValue,
    port: Option<u16>,
}

impl Server {
    /// The first bootstrap server of `config` (`host:port`, optionally `proto://host:port`).
    pub(crate) fn from_config(config: &ClientConfig) -> Option<Self> {
        let first = config.get("bootstrap.servers")?.split(',').next()?.trim();
        let first = first.split_once("://").map_or(first, |(_, rest)| rest);
        let HostPort { host, port } = HostPort::parse(first)?;
        Some(Self { address: StringValue::from(Arc::<str>::from(host)), port })
    }

    /// Appends `server.address` and, when known, `server.port` (to a span's `Vec` or a metric's
    /// `AttributeList`).
    pub(crate) fn record(&self, attributes: &mut impl Extend<KeyValue>) {
        let port = self.port.map(|port| KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        attributes.extend(std::iter::once(KeyValue::new(semconv::SERVER_ADDRESS, self.address.clone())).chain(port));
    }
}

/// `messaging.kafka.message.key` when the key is valid UTF-8 (a binary key is not recorded).
pub(crate) fn key(key: Option<&[u8]>) -> Option<KeyValue> {
    let key = std::str::from_utf8(key?).ok()?;
    Some(KeyValue::new(semconv::MESSAGING_KAFKA_MESSAGE_KEY, key.to_owned()))
}

/// `messaging.kafka.message.tombstone`, only when true (a record without a payload).
pub(crate) fn tombstone(has_payload: bool) -> Option<KeyValue> {
    (!has_payload).then(|| KeyValue::new(semconv::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, true))
}

/// `messaging.destination.partition.id` (a string), static for the usual partition numbers.
pub(crate) fn partition(partition: i32) -> KeyValue {
    const IDS: [&str; 32] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
        "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
    ];
    let id = match usize::try_from(partition).ok().and_then(|i| IDS.get(i)) {
        Some(id) => StringValue::from(*id),
        None => StringValue::from(partition.to_string()),
    };
    KeyValue::new(semconv::MESSAGING_DESTINATION_PARTITION_ID, id)
}

/// What a failed operation records: `error.type` and the status.
pub(crate) fn kafka_failure(error: &KafkaError) -> (KeyValue, Status) {
    // The status description is librdkafka's fixed text for the code, never broker-provided
    // detail.
    let status = match error.rdkafka_error_code() {
        Some(code) => Status::error(code.to_string()),
        None => Status::error(kafka_error_kind(error)),
    };
    (error_type(error), status)
}

/// `error.type` of a failed operation: the librdkafka code's variant name (`MessageTimedOut`,
/// `UnknownTopicOrPartition`), `_OTHER` for errors without a code. Spans and metrics record the
/// same value.
pub(crate) fn error_type(error: &KafkaError) -> KeyValue {
    match error.rdkafka_error_code() {
        Some(code) => KeyValue::new(semconv::ERROR_TYPE, format!("{code:?}")),
        None => KeyValue::new(semconv::ERROR_TYPE, otel_core::semconv::http::ERROR_TYPE_OTHER),
    }
}

/// A fixed description for errors that carry no librdkafka code.
fn kafka_error_kind(error: &KafkaError) -> &'static str {
    match error {
        KafkaError::Canceled => "canceled",
        KafkaError::ClientConfig(..) => "client configuration error",
        KafkaError::ClientCreation(_) => "client creation error",
        KafkaError::Nul(_) => "nul byte in a string",
        _ => "kafka error",
    }
}

/// Span names are `'static` in the API, so `send {topic}` would be formatted for every message.
/// The first topic a producer or consumer sees (most see only one) gets its name and destination
/// value built once and kept for the life of the process (in otel-core's bounded interner);
/// other topics are formatted each time.
#[derive(Debug)]
pub(crate) struct TopicNames {
    operation: &'static str,
    first: OnceLock<Option<CachedTopic>>,
}

#[derive(Debug)]
struct CachedTopic {
    topic: &'static str,
    name: &'static str,
    destination: StringValue,
}

impl TopicNames {
    pub(crate) const fn new(operation: &'static str) -> Self {
        Self { operation, first: OnceLock::new() }
    }

    /// The span name (`{operation} {topic}`) and `messaging.destination.name` value for `topic`.
    pub(crate) fn get(&self, topic: &str) -> (Cow<'static, str>, StringValue) {
        match self.cached(topic) {
            Some(cached) => (Cow::Borrowed(cached.name), cached.destination.clone()),
            None => (Cow::Owned(format!("{} {topic}", self.operation)), StringValue::from(topic.to_owned())),
        }
    }

    /// The `messaging.destination.name` value for `topic` alone (for metrics, which need no span
    /// name).
    pub(crate) fn destination(&self, topic: &str) -> StringValue {
        match self.cached(topic) {
            Some(cached) => cached.destination.clone(),
            None => StringValue::from(topic.to_owned()),
        }
    }

    /// The `messaging.destination.name` value for `topic`, and whether it is the first topic,
    /// whose name is kept.
    pub(crate) fn destination_kept(&self, topic: &str) -> (StringValue, bool) {
        match self.cached(topic) {
            Some(cached) => (cached.destination.clone(), true),
            None => (StringValue::from(topic.to_owned()), false),
        }
    }

    /// The kept name and destination of `topic`, when it is the first topic seen.
    fn cached(&self, topic: &str) -> Option<&CachedTopic> {
        let cached = self.first.get_or_init(|| {
            let name = otel_core::internal::intern::intern(&format!("{} {topic}", self.operation))?;
            let topic: &'static str = &name[self.operation.len() + 1..];
            Some(CachedTopic { topic, name, destination: StringValue::from(topic) })
        });
        cached.as_ref().filter(|cached| cached.topic == topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn the_first_topic_is_named_once_and_others_each_time() {
        let names = TopicNames::new("send");
        let (first, destination) = names.get("orders");
        assert!(matches!(first, Cow::Borrowed("send orders")));
        assert_eq!(destination.as_str(), "orders");
        assert!(matches!(names.get("orders").0, Cow::Borrowed(_)));
        let (other, destination) = names.get("payments");
        assert_eq!(other, "send payments");
        assert_eq!(destination.as_str(), "payments");
        // The destination alone: the kept value for the first topic, the same text for others.
        let kept = names.destination("orders");
        assert_eq!(kept.as_str(), "orders");
        assert_eq!(kept.as_str().as_ptr(), first[5..].as_ptr(), "the kept text, not a copy");
        assert_eq!(names.destination("payments").as_str(), "payments");
    }

    #[test]
    fn errors_are_named_by_their_code() {
        let (error_type, _) = kafka_failure(&KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut));
        assert_eq!(error_type, KeyValue::new(semconv::ERROR_TYPE, "MessageTimedOut"));
        let (error_type, status) = kafka_failure(&KafkaError::Canceled);
        assert_eq!(error_type, KeyValue::new(semconv::ERROR_TYPE, "_OTHER"));
        assert_eq!(status, Status::error("canceled"));
        assert_eq!(partition(7).value.as_str(), "7");
        assert_eq!(partition(1000).value.as_str(), "1000");
        assert!(key(Some(&[0xff][..])).is_none());
    }
}
