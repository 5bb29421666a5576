//! Kafka record headers as propagation carriers: reading a consumed message's context, and
//! writing the send span's context next to the user's own headers.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use otel_core::propagation::{ByteInjector, HeaderSource, Propagation};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

/// Any rdkafka [`Headers`] (a consumed message's `BorrowedHeaders`, an `OwnedHeaders`) as an
/// otel-core [`HeaderSource`], so that every propagator and the strict W3C rules apply to them.
///
/// Every value of a repeated header is reported, in order; a header with a null value is
/// present with an empty value (a propagator rejects it: a new trace). Keys compare exactly
/// (Kafka header keys are case-sensitive).
#[derive(Debug)]
pub struct KafkaHeaders<'a, H: ?Sized>(pub &'a H);

impl<H: Headers + ?Sized> HeaderSource for KafkaHeaders<'_, H> {
    fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s [u8]>
    where
        Self: 's,
    {
        let headers = self.0;
        (0..headers.count())
            .filter_map(move |index| headers.try_get(index))
            .filter(move |header| header.key == name)
            .map(|header| header.value.unwrap_or_default())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let headers = self.0;
        (0..headers.count()).filter_map(move |index| headers.try_get(index)).map(|header| header.key)
    }

    // One walk over the headers (each read is a call into librdkafka), not one per name.
    fn trace_headers(&self) -> Option<(&[u8], bool)> {
        let headers = self.0;
        otel_core::internal::trace_headers(
            (0..headers.count())
                .filter_map(|index| headers.try_get(index))
                .map(|header| (header.key, header.value.unwrap_or_default())),
            |key| key == otel_core::propagation::TRACEPARENT_HEADER,
            |key| key == otel_core::propagation::TRACESTATE_HEADER,
        )
    }
}

/// An [`Extractor`] over a message's headers (none at all is an empty carrier). Values that are
/// not valid UTF-8 are seen as present and invalid, so a propagator starts a new trace.
///
/// ```
/// use opentelemetry::propagation::TextMapPropagator;
/// use otel_core::propagation::StrictTraceContextPropagator;
/// use otel_kafka::MessageExtractor;
/// use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
///
/// let headers = OwnedHeaders::new().insert(Header {
///     key: "traceparent",
///     value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
/// });
/// let message = OwnedMessage::new(None, None, "orders".into(), Timestamp::NotAvailable, 0, 0, Some(headers));
/// let cx = StrictTraceContextPropagator::new().extract(&MessageExtractor::new(&message));
/// # use opentelemetry::trace::TraceContextExt;
/// assert!(cx.span().span_context().is_remote());
/// ```
#[derive(Debug)]
pub struct MessageExtractor<'a, H: ?Sized> {
    headers: Option<KafkaHeaders<'a, H>>,
}

impl<'a, H: Headers + ?Sized> MessageExtractor<'a, H> {
    /// The extractor of `message`'s headers.
    pub fn new<M: Message<Headers = H>>(message: &'a M) -> Self {
        Self { headers: message.headers().map(KafkaHeaders) }
    }
}

impl<H: Headers + ?Sized> Extractor for MessageExtractor<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.headers.as_ref().and_then(|headers| headers.values(key).next()).map(decode)
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.as_ref().map(|headers| headers.names().collect()).unwrap_or_default()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self.headers.as_ref()?.values(key).map(decode).collect();
        (!values.is_empty()).then_some(values)
    }
}

/// The context `message`'s headers carry, read with the global propagator, on top of the
/// current context. A message without headers, or with a malformed, repeated or undecodable
/// `traceparent`, gives the current context unchanged (with the W3C propagator: a new trace).
///
/// Use this with any consumer (`BaseConsumer`, `StreamConsumer`, a partition queue) and with
/// `OwnedMessage`s; [`crate::ConsumerTracing`] does it for you when it starts a process span.
pub fn extract_context<M: Message>(message: &M) -> Context {
    Context::map_current(|cx| extract_onto(&Propagation::Global, cx, message))
}

/// The context `message`'s headers carry, on top of `cx` (`cx` itself when it has no headers).
pub(crate) fn extract_onto<M: Message>(propagation: &Propagation, cx: &Context, message: &M) -> Context {
    match message.headers() {
        Some(headers) => propagation.extract_with_context(cx, &KafkaHeaders(headers)),
        None => cx.clone(),
    }
}

/// [`extract_context`] with a given propagator.
pub fn extract_context_with<M: Message>(message: &M, propagator: &dyn TextMapPropagator) -> Context {
    Context::map_current(|cx| propagator.extract_with_context(cx, &MessageExtractor::new(message)))
}

/// A value that is not UTF-8 stays present (a repeated `traceparent` stays invalid) and is
/// rejected by every propagator.
fn decode(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or("\u{fffd}")
}

/// Writes the propagated headers into a record's headers. Used through otel-core's
/// `Propagation::inject_span_into`, which keeps the user's: a record that already carries a
/// `traceparent` gets nothing, and no header the user set is overwritten.
pub(crate) struct RecordInjector<'h> {
    headers: &'h mut Option<OwnedHeaders>,
}

impl<'h> RecordInjector<'h> {
    pub(crate) fn new(headers: &'h mut Option<OwnedHeaders>) -> Self {
        Self { headers }
    }
}

impl HeaderSource for RecordInjector<'_> {
    fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s [u8]>
    where
        Self: 's,
    {
        let headers = self.headers.as_ref();
        let count = headers.map_or(0, |h| h.count());
        (0..count)
            .filter_map(move |index| headers.and_then(|h| h.try_get(index)))
            .filter(move |header| header.key == name)
            .map(|header| header.value.unwrap_or_default())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let headers = self.headers.as_ref();
        let count = headers.map_or(0, |h| h.count());
        (0..count).filter_map(move |index| headers.and_then(|h| h.try_get(index))).map(|header| header.key)
    }
}

impl Injector for RecordInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.set_bytes(key, value.as_bytes());
    }
}

/// librdkafka copies each header it is given: the strict propagator writes from the stack.
impl ByteInjector for RecordInjector<'_> {
    fn set_bytes(&mut self, key: &str, value: &[u8]) {
        let headers = self.headers.take().unwrap_or_else(|| OwnedHeaders::new_with_capacity(2));
        *self.headers = Some(headers.insert(Header { key, value: Some(value) }));
    }
}
