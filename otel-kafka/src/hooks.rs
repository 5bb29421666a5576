//! What request and response hooks see: the record being sent and its delivery outcome on the
//! producer side, the message (or batch) being processed and how processing returned on the
//! consumer side.
//!
//! The views borrow what the wrappers already hold and compute nothing until a hook reads them;
//! they are only built for spans that record, when a hook is set.

use otel_core::hooks::{RequestHook, ResponseHook};
use rdkafka::Timestamp;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use std::fmt;
use std::sync::Arc;

/// A producer's request hook, shared (and nameable) whatever the closure's type.
pub(crate) type SendRequestHook = Arc<dyn for<'a> RequestHook<OutgoingRecord<'a>>>;
/// A producer's response hook.
pub(crate) type SendResponseHook = Arc<dyn for<'a> ResponseHook<DeliveryOutcome<'a>>>;
/// A consumer's request hook.
pub(crate) type ProcessRequestHook = Arc<dyn for<'a> RequestHook<ProcessRequest<'a>>>;
/// A consumer's response hook.
pub(crate) type ProcessResponseHook = Arc<dyn for<'a> ResponseHook<ProcessOutcome<'a>>>;

/// A record about to be sent, as a producer's
/// [`request_hook`](crate::TracedProducerBuilder::request_hook) sees it: right after its
/// `send {topic}` span started, before the record is handed to librdkafka.
///
/// The payload is here because the hook is the application's own code; this crate never records
/// it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct OutgoingRecord<'a> {
    /// The destination topic.
    pub topic: &'a str,
    /// The partition the record asks for; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key's bytes, if the record has a key.
    pub key: Option<&'a [u8]>,
    /// The payload's bytes; `None` for a tombstone.
    pub payload: Option<&'a [u8]>,
    /// The timestamp the record sets (milliseconds since the epoch), if any.
    pub timestamp: Option<i64>,
    /// The headers as they will be sent: the record's own, then the injected context
    /// (`traceparent`, ...).
    pub headers: HeadersView<'a>,
}

/// How a send ended, as a producer's
/// [`response_hook`](crate::TracedProducerBuilder::response_hook) sees it, once, just before the
/// `send {topic}` span ends.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum DeliveryOutcome<'a> {
    /// The broker acknowledged the record.
    Delivered {
        /// The partition the record was written to.
        partition: i32,
        /// The record's offset in that partition.
        offset: i64,
    },
    /// The record was not delivered: rejected when enqueued, or failed in delivery.
    Failed(&'a KafkaError),
}

/// What a consumer's [`request_hook`](crate::ConsumerTracingBuilder::request_hook) sees when a
/// `process` span starts: one message ([`ConsumerTracing::process`](crate::ConsumerTracing::process))
/// or a batch ([`ConsumerTracing::process_batch`](crate::ConsumerTracing::process_batch)).
///
/// The hook is called once per span, so for a batch once with all its messages;
/// [`messages`](Self::messages) walks either case.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ProcessRequest<'a> {
    /// The message of a single-message `process` span.
    Message(ConsumedMessage<'a>),
    /// The messages of a batch span.
    Batch(ConsumedBatch<'a>),
}

impl<'a> ProcessRequest<'a> {
    /// Every message the span processes: one, or each of the batch in order.
    pub fn messages(&self) -> impl Iterator<Item = ConsumedMessage<'a>> + use<'a> {
        let (single, batch) = match *self {
            Self::Message(message) => (Some(message), None),
            Self::Batch(batch) => (None, Some(batch)),
        };
        single.into_iter().chain(batch.into_iter().flat_map(|batch| batch.iter()))
    }
}

/// A consumed message as a consumer's request hook sees it, whatever its rdkafka type
/// (`BorrowedMessage`, `OwnedMessage`, or any other `Message`).
///
/// The payload is here because the hook is the application's own code; this crate never records
/// it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ConsumedMessage<'a> {
    /// The topic it was read from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The key's bytes, if any.
    pub key: Option<&'a [u8]>,
    /// The payload's bytes; `None` for a tombstone.
    pub payload: Option<&'a [u8]>,
    /// Its timestamp (create or log-append time), as the broker delivered it.
    pub timestamp: Timestamp,
    /// Its headers, the propagated context among them.
    pub headers: HeadersView<'a>,
}

impl<'a> ConsumedMessage<'a> {
    pub(crate) fn new<M: Message>(message: &'a M) -> Self {
        Self {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload(),
            timestamp: message.timestamp(),
            headers: HeadersView { source: Source::Message(message) },
        }
    }
}

/// The messages of a batch, as a consumer's request hook sees them (in
/// [`ProcessRequest::Batch`]); each is read only when asked for.
#[derive(Clone, Copy)]
pub struct ConsumedBatch<'a> {
    messages: &'a dyn MessageSlice,
}

impl<'a> ConsumedBatch<'a> {
    pub(crate) fn new(messages: &'a dyn MessageSlice) -> Self {
        Self { messages }
    }

    /// How many messages the batch holds.
    pub fn len(&self) -> usize {
        self.messages.count()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message at `index`, `None` past the end.
    pub fn get(&self, index: usize) -> Option<ConsumedMessage<'a>> {
        self.messages.message(index)
    }

    /// The messages, in order.
    pub fn iter(&self) -> impl Iterator<Item = ConsumedMessage<'a>> + use<'a> {
        let messages = self.messages;
        (0..messages.count()).filter_map(move |index| messages.message(index))
    }
}

impl fmt::Debug for ConsumedBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumedBatch").field("len", &self.len()).finish()
    }
}

/// How processing returned, as a consumer's
/// [`response_hook`](crate::ConsumerTracingBuilder::response_hook) sees it, once, just before the
/// `process` span ends.
///
/// Only a returned result is reported: processing that panics, or whose future is dropped before
/// it finishes, ends its span without calling the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessOutcome<'a> {
    /// Processing returned `Ok`.
    Ok,
    /// Processing returned `Err`.
    Err {
        /// The error's type name (`std::io::error::Error`), as recorded in `error.type`.
        error_type: &'a str,
    },
}

/// The headers of a record or message, as hooks see them. Reading them costs a call into
/// librdkafka per header, made only when the hook asks.
///
/// Header keys are strings; values are bytes, or null. A header whose *key* is not valid UTF-8
/// (only a non-conforming producer sends one) is skipped: [`get`](Self::get) gives `None` for it
/// and [`iter`](Self::iter) leaves it out. (rdkafka's own accessor panics on such a key; these
/// read librdkafka's bytes.)
#[derive(Clone, Copy)]
pub struct HeadersView<'a> {
    source: Source<'a>,
}

#[derive(Clone, Copy)]
enum Source<'a> {
    None,
    Record(&'a OwnedHeaders),
    Message(&'a dyn MessageHeaders),
}

impl<'a> HeadersView<'a> {
    pub(crate) fn of_record(headers: Option<&'a OwnedHeaders>) -> Self {
        Self { source: headers.map_or(Source::None, Source::Record) }
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        match self.source {
            Source::None => 0,
            Source::Record(headers) => headers.count(),
            Source::Message(message) => message.header_count(),
        }
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The header at `index`, `None` past the end or when its key is not UTF-8.
    pub fn get(&self, index: usize) -> Option<Header<'a, &'a [u8]>> {
        match self.source {
            Source::None => None,
            Source::Record(headers) => crate::headers::raw_header(headers, index)?.utf8(),
            Source::Message(message) => message.header(index),
        }
    }

    /// Every header, in order (a repeated key appears once per value).
    pub fn iter(&self) -> impl Iterator<Item = Header<'a, &'a [u8]>> + use<'a> {
        let view = *self;
        (0..view.len()).filter_map(move |index| view.get(index))
    }

    /// The value of the first header named `key` (keys compare exactly); `None` when there is no
    /// such header or its value is null.
    pub fn value(&self, key: &str) -> Option<&'a [u8]> {
        self.iter().find(|header| header.key == key)?.value
    }
}

impl fmt::Debug for HeadersView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the headers themselves: how many there are.
        f.debug_struct("HeadersView").field("len", &self.len()).finish()
    }
}

/// A message's headers, whatever the message's type: rdkafka's `Headers` has generic methods, so
/// it cannot be a trait object itself.
pub(crate) trait MessageHeaders {
    fn header_count(&self) -> usize;
    fn header(&self, index: usize) -> Option<Header<'_, &[u8]>>;
}

impl<M: Message> MessageHeaders for M {
    fn header_count(&self) -> usize {
        self.headers().map_or(0, Headers::count)
    }

    fn header(&self, index: usize) -> Option<Header<'_, &[u8]>> {
        crate::headers::raw_header(self.headers()?, index)?.utf8()
    }
}

/// A batch of messages, whatever their type.
pub(crate) trait MessageSlice {
    fn count(&self) -> usize;
    fn message(&self, index: usize) -> Option<ConsumedMessage<'_>>;
}

impl<M: Message> MessageSlice for &[M] {
    fn count(&self) -> usize {
        self.len()
    }

    fn message(&self, index: usize) -> Option<ConsumedMessage<'_>> {
        self.get(index).map(ConsumedMessage::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::OwnedMessage;

    fn message(headers: Option<OwnedHeaders>) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"p".to_vec()),
            Some(b"k".to_vec()),
            "orders".into(),
            Timestamp::CreateTime(5),
            2,
            9,
            headers,
        )
    }

    #[test]
    fn a_consumed_message_shows_its_fields_and_headers() {
        let headers = OwnedHeaders::new()
            .insert(Header { key: "x-tenant", value: Some("acme") })
            .insert(Header::<&[u8]> { key: "x-null", value: None })
            .insert(Header { key: "x-tenant", value: Some("other") });
        let message = message(Some(headers));
        let view = ConsumedMessage::new(&message);
        assert_eq!((view.topic, view.partition, view.offset), ("orders", 2, 9));
        assert_eq!(
            (view.key, view.payload, view.timestamp),
            (Some(&b"k"[..]), Some(&b"p"[..]), Timestamp::CreateTime(5))
        );
        assert_eq!(view.headers.len(), 3);
        assert_eq!(view.headers.value("x-tenant"), Some(&b"acme"[..]), "the first of a repeated header");
        assert_eq!(view.headers.value("x-null"), None);
        assert_eq!(view.headers.value("X-Tenant"), None, "keys compare exactly");
        assert!(view.headers.get(3).is_none());
        let keys: Vec<_> = view.headers.iter().map(|header| header.key).collect();
        assert_eq!(keys, ["x-tenant", "x-null", "x-tenant"]);
    }

    #[test]
    fn no_headers_is_an_empty_view() {
        let message = message(None);
        let view = ConsumedMessage::new(&message);
        assert!(view.headers.is_empty());
        assert_eq!(view.headers.iter().count(), 0);
        assert!(HeadersView::of_record(None).value("traceparent").is_none());
    }

    #[test]
    fn a_request_walks_one_message_or_every_message_of_a_batch() {
        let messages = [message(None), message(None)];
        let request = ProcessRequest::Message(ConsumedMessage::new(&messages[0]));
        assert_eq!(request.messages().count(), 1);
        let slice = &messages[..];
        let batch = ConsumedBatch::new(&slice);
        assert_eq!((batch.len(), batch.is_empty()), (2, false));
        assert!(batch.get(2).is_none());
        assert_eq!(ProcessRequest::Batch(batch).messages().map(|m| m.offset).collect::<Vec<_>>(), [9, 9]);
    }
}
