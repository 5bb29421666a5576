//! OpenTelemetry for rdkafka: PRODUCER spans whose context travels in the record headers, and
//! CONSUMER spans that continue it.
//!
//! - [`TracedFutureProducer`] wraps a `FutureProducer`: every `send` is a `send {topic}`
//!   PRODUCER span, and its `traceparent`/`tracestate`/`baggage` go into the record's headers
//!   next to the user's own (a context the user put there is kept).
//! - [`TracedThreadedProducer`] and [`TracedBaseProducer`] do the same for the callback-based
//!   producers: the span ends in the delivery callback of [`TracedProducerContext`], which
//!   carries it in the message's opaque next to the user's own.
//! - [`TracedConsumer`] wraps a `StreamConsumer`: `message.process(async |m| ..)` runs the user's
//!   code in a `process {topic}` CONSUMER span, a child of the producer's span (or linking to
//!   it), current during every poll of the user's future. [`ConsumerTracing`] does the same for
//!   messages from any consumer, and for batches.
//! - [`extract_context`] and [`MessageExtractor`] read a message's context by hand.
//! - `request_hook` / `response_hook` on both builders add the application's own attributes to
//!   recording spans, from the record ([`OutgoingRecord`]) or message ([`ProcessRequest`]) and the
//!   outcome ([`DeliveryOutcome`], [`ProcessOutcome`]).
//!
//! - With a meter provider (the global one, or `meter_provider` on either builder), the
//!   conventions' messaging metrics: `messaging.client.sent.messages`,
//!   `messaging.client.operation.duration`, `messaging.process.duration` and
//!   `messaging.client.consumed.messages`, for every message, sampled or not.
//!
//! Attributes follow the messaging semantic conventions (`messaging.system` = `kafka`,
//! operation name and type, destination, partition, offset, key when UTF-8, tombstone, client id,
//! consumer group, `error.type`). Payloads are never recorded.

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod base_producer;
mod consumer;
mod headers;
mod hooks;
mod messaging;
mod metrics;
mod producer;
mod send_future;

pub use base_producer::{DeliveryState, TracedBaseProducer, TracedProducerContext, TracedThreadedProducer};
pub use consumer::{ConsumerTracing, ConsumerTracingBuilder, ProcessParent, TracedConsumer, TracedMessage};
pub use headers::{KafkaHeaders, MessageExtractor, extract_context, extract_context_with};
pub use hooks::{
    ConsumedBatch, ConsumedMessage, DeliveryOutcome, HeadersView, OutgoingRecord, ProcessOutcome, ProcessRequest,
};
pub use producer::{TracedFutureProducer, TracedFutureProducerBuilder, TracedProducerBuilder};
pub use send_future::SendFuture;

/// Entry points of the fuzz targets (`fuzz/`), compiled only in cargo-fuzz's builds
/// (`--cfg fuzzing`): the public API of a normal build does not have them.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// `message` as a consumer's request hook sees it (its `headers` among the rest).
    pub fn consumed<M: rdkafka::Message>(message: &M) -> crate::ConsumedMessage<'_> {
        crate::ConsumedMessage::new(message)
    }

    /// The headers a rejected record goes back to the user with: `sent` without what was written
    /// after its first `user_count` headers.
    pub fn rejected_headers(sent: rdkafka::message::OwnedHeaders, user_count: usize) -> rdkafka::message::OwnedHeaders {
        crate::base_producer::without_injected(Some(sent), Some(user_count)).unwrap_or_default()
    }

    /// `headers` with a header added by librdkafka's own API, which takes any bytes as the key
    /// (as the wire does; rdkafka's `insert` takes a `&str`), and a null value as `None`.
    pub fn append_raw(
        headers: rdkafka::message::OwnedHeaders,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> rdkafka::message::OwnedHeaders {
        crate::headers::append(headers, crate::headers::RawHeader { key, value })
    }

    /// Every header as librdkafka holds it: key bytes, and value (`None` when null).
    pub fn raw_headers<H: rdkafka::message::Headers>(headers: &H) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        (0..headers.count())
            .filter_map(|index| crate::headers::raw_header(headers, index))
            .map(|header| (header.key.to_vec(), header.value.map(<[u8]>::to_vec)))
            .collect()
    }
}

// The README's examples are compiled as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;

/// The instrumentation scope of every span and metric of this crate.
fn scope() -> opentelemetry::InstrumentationScope {
    otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}
