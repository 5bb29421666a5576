//! Kafka record headers as propagation carriers: reading a consumed message's context, and
//! writing the send span's context next to the user's own headers.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use otel_core::propagation::{ByteInjector, HeaderSource, Propagation};
use rdkafka::message::{BorrowedHeaders, Header, Headers, Message, OwnedHeaders};
use std::any::TypeId;
use std::marker::PhantomData;

/// One header as librdkafka holds it: the key's bytes (UTF-8 or not) and the value (`None` when null).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawHeader<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: Option<&'a [u8]>,
}

impl<'a> RawHeader<'a> {
    /// The header as rdkafka's `Header`, when its key is UTF-8.
    pub(crate) fn utf8(self) -> Option<Header<'a, &'a [u8]>> {
        Some(Header { key: std::str::from_utf8(self.key).ok()?, value: self.value })
    }
}

/// The header at `index`, `None` past the end; never a panic, whatever the key's bytes.
///
/// rdkafka 0.39's accessor (`Headers::try_get`, and `get`, `get_as` and `iter` on top of it)
/// unwraps the key's UTF-8 check: a consumed header whose key is not UTF-8 (librdkafka takes any
/// bytes, and so may a producer that is not ours) panics in the consumer. rdkafka's two header
/// types are read straight from librdkafka here instead; another `Headers` implementation through
/// its own `try_get`.
pub(crate) fn raw_header<H: Headers + ?Sized>(headers: &H, index: usize) -> Option<RawHeader<'_>> {
    match native(headers) {
        Some(native) => native_header(native, index),
        None => headers.try_get(index).map(|header| RawHeader { key: header.key.as_bytes(), value: header.value }),
    }
}

/// `headers` with `header` added at the end, by librdkafka's own API, which takes any bytes as
/// the key (rdkafka's `insert` takes a `&str`): a header read with [`raw_header`] is copied
/// whole, whatever its key.
#[allow(unsafe_code)]
pub(crate) fn append(headers: OwnedHeaders, header: RawHeader<'_>) -> OwnedHeaders {
    // rdkafka's own `insert` writes through the same address: the list `headers` owns.
    let list = std::ptr::from_ref(headers.as_borrowed()).cast_mut().cast::<rdkafka::bindings::rd_kafka_headers_t>();
    let (value, size) = header.value.map_or((std::ptr::null(), 0), |value| (value.as_ptr(), value.len()));
    // SAFETY: `list` is the writable list `headers` owns (only a consumed message's is read-only);
    // librdkafka copies the key's `key.len()` bytes and the value's `size` (none for null).
    // Its one error is for a read-only list, which this is not.
    unsafe {
        rdkafka::bindings::rd_kafka_header_add(
            list,
            header.key.as_ptr().cast(),
            header.key.len() as isize,
            value.cast(),
            size as isize,
        );
    }
    headers
}

/// `headers` as the librdkafka header list it is, when it is one of rdkafka's two header types.
#[allow(unsafe_code)]
fn native<H: ?Sized>(headers: &H) -> Option<&BorrowedHeaders> {
    let id = type_id::<H>();
    if id == TypeId::of::<BorrowedHeaders>() {
        // SAFETY: `H` is `BorrowedHeaders` (the same type id; `BorrowedHeaders` has no lifetime).
        Some(unsafe { &*std::ptr::from_ref(headers).cast::<BorrowedHeaders>() })
    } else if id == TypeId::of::<OwnedHeaders>() {
        // SAFETY: `H` is `OwnedHeaders`, as above.
        Some(unsafe { &*std::ptr::from_ref(headers).cast::<OwnedHeaders>() }.as_borrowed())
    } else {
        None
    }
}

/// The header at `index` of librdkafka's list, read with librdkafka's own accessor.
#[allow(unsafe_code)]
fn native_header(headers: &BorrowedHeaders, index: usize) -> Option<RawHeader<'_>> {
    use rdkafka::bindings::{rd_kafka_header_get_all, rd_kafka_headers_t};
    use rdkafka::types::RDKafkaRespErr;
    // A `&BorrowedHeaders` is the address of librdkafka's list (rdkafka's own cast).
    let list = std::ptr::from_ref(headers).cast::<rd_kafka_headers_t>();
    let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
    // SAFETY: `list` is a live header list for the borrow of `headers`; the out-pointers are ours.
    let err = unsafe { rd_kafka_header_get_all(list, index, &mut name, &mut value, &mut size) };
    if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
        return None;
    }
    // SAFETY: librdkafka's key is NUL-terminated and its value `size` bytes long (or null); both
    // live as long as the list, which `headers` borrows.
    let key = unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes();
    let value = (!value.is_null()).then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) });
    Some(RawHeader { key, value })
}

/// The `TypeId` of `T` with its lifetimes erased: `TypeId::of` wants `T: 'static`, which the
/// headers of a generic `Message` are not known to be (rdkafka's are). Compared only with types
/// that have no lifetime, so equal ids mean the same type. (The technique of the `typeid` crate.)
#[allow(unsafe_code)]
fn type_id<T: ?Sized>() -> TypeId {
    trait NonStaticAny {
        fn type_id(&self) -> TypeId
        where
            Self: 'static;
    }
    impl<T: ?Sized> NonStaticAny for PhantomData<T> {
        fn type_id(&self) -> TypeId
        where
            Self: 'static,
        {
            TypeId::of::<T>()
        }
    }
    let phantom = PhantomData::<T>;
    let object: &dyn NonStaticAny = &phantom;
    // SAFETY: only the trait object's lifetime bound changes; `type_id` reads no data of `T`.
    let object = unsafe { std::mem::transmute::<&dyn NonStaticAny, &(dyn NonStaticAny + 'static)>(object) };
    object.type_id()
}

/// Any rdkafka [`Headers`] (a consumed message's `BorrowedHeaders`, an `OwnedHeaders`) as an
/// otel-core [`HeaderSource`], so that every propagator and the strict W3C rules apply to them.
///
/// Every value of a repeated header is reported, in order; a header with a null value is
/// present with an empty value (a propagator rejects it: a new trace). Keys compare exactly
/// (Kafka header keys are case-sensitive). A key that is not UTF-8 matches no name (and is not
/// listed by `names`); reading it never panics, though rdkafka's own accessor does.
#[derive(Debug)]
pub struct KafkaHeaders<'a, H: ?Sized>(pub &'a H);

impl<H: Headers + ?Sized> HeaderSource for KafkaHeaders<'_, H> {
    fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s [u8]>
    where
        Self: 's,
    {
        let headers = self.0;
        (0..headers.count())
            .filter_map(move |index| raw_header(headers, index))
            .filter(move |header| header.key == name.as_bytes())
            .map(|header| header.value.unwrap_or_default())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let headers = self.0;
        (0..headers.count())
            .filter_map(move |index| raw_header(headers, index))
            .filter_map(|header| std::str::from_utf8(header.key).ok())
    }

    // One walk over the headers (each read is a call into librdkafka), not one per name.
    fn trace_headers(&self) -> Option<(&[u8], bool)> {
        let headers = self.0;
        otel_core::internal::trace_headers(
            (0..headers.count())
                .filter_map(|index| raw_header(headers, index))
                .map(|header| (header.key, header.value.unwrap_or_default())),
            |key: &[u8]| key == otel_core::propagation::TRACEPARENT_HEADER.as_bytes(),
            |key: &[u8]| key == otel_core::propagation::TRACESTATE_HEADER.as_bytes(),
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
            .filter_map(move |index| headers.and_then(|h| raw_header(h, index)))
            .filter(move |header| header.key == name.as_bytes())
            .map(|header| header.value.unwrap_or_default())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let headers = self.headers.as_ref();
        let count = headers.map_or(0, |h| h.count());
        (0..count)
            .filter_map(move |index| headers.and_then(|h| raw_header(h, index)))
            .filter_map(|header| std::str::from_utf8(header.key).ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::ConsumedMessage;
    use opentelemetry::trace::TraceContextExt;
    use otel_core::propagation::StrictTraceContextPropagator;
    use rdkafka::message::{OwnedMessage, Timestamp};

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn add_raw(headers: OwnedHeaders, key: &[u8], value: &[u8]) -> OwnedHeaders {
        append(headers, RawHeader { key, value: Some(value) })
    }

    fn message_with(headers: OwnedHeaders) -> OwnedMessage {
        OwnedMessage::new(None, None, "orders".into(), Timestamp::NotAvailable, 0, 0, Some(headers))
    }

    /// The `kafka_headers` fuzz target's first crash (issue 27): a header key `0x94` made
    /// rdkafka's `try_get` panic in every read of the message's headers.
    #[test]
    fn a_header_key_that_is_not_utf8_is_skipped_not_a_panic() {
        let headers = add_raw(OwnedHeaders::new(), b"\x94", b"");
        let source = KafkaHeaders(&headers);
        assert_eq!(source.names().count(), 0);
        assert_eq!(source.values("traceparent").count(), 0);
        assert_eq!(source.trace_headers(), None);
        let strict = Propagation::new(StrictTraceContextPropagator::new());
        assert!(!strict.extract_with_context(&Context::new(), &source).has_active_span());
        let message = message_with(headers.clone());
        let cx = StrictTraceContextPropagator::new().extract(&MessageExtractor::new(&message));
        assert!(!cx.has_active_span());
        let consumed = ConsumedMessage::new(&message);
        assert_eq!((consumed.headers.len(), consumed.headers.iter().count()), (1, 0));
        assert!(consumed.headers.get(0).is_none());

        // Beside it, the other headers read as usual, from a borrowed list too.
        let headers = add_raw(add_raw(OwnedHeaders::new(), b"\xff\xfe", b"x"), b"traceparent", TRACEPARENT.as_bytes());
        for source in [KafkaHeaders(headers.as_borrowed()).trace_headers(), KafkaHeaders(&headers).trace_headers()] {
            assert_eq!(source, Some((TRACEPARENT.as_bytes(), false)));
        }
        assert_eq!(KafkaHeaders(&headers).names().collect::<Vec<_>>(), ["traceparent"]);
        let cx = strict.extract_with_context(&Context::new(), &KafkaHeaders(&headers));
        assert!(cx.span().span_context().is_remote());
        let message = message_with(headers);
        let consumed = ConsumedMessage::new(&message);
        assert_eq!(consumed.headers.value("traceparent"), Some(TRACEPARENT.as_bytes()));
    }

    /// The `kafka_headers` fuzz target's second finding (issue 27): a later-version `traceparent`
    /// followed by bytes that are not UTF-8 gave a context through `KafkaHeaders` and none
    /// through `MessageExtractor`. Both now reject it (otel-core's parser takes ASCII only).
    #[test]
    fn a_traceparent_with_bytes_that_are_not_utf8_is_rejected_both_ways() {
        let value = b"99-22222222222222222222222222222222-2222222222222222-22-\xff";
        let headers = add_raw(OwnedHeaders::new(), b"traceparent", value);
        let strict = StrictTraceContextPropagator::new();
        let by_source = Propagation::new(strict).extract_with_context(&Context::new(), &KafkaHeaders(&headers));
        let message = message_with(headers);
        let by_extractor = strict.extract_with_context(&Context::new(), &MessageExtractor::new(&message));
        assert!(!by_source.span().span_context().is_valid());
        assert!(!by_extractor.span().span_context().is_valid());
    }

    /// rdkafka's own header types are recognized (read from librdkafka); another `Headers`
    /// implementation is read through its `try_get`.
    #[test]
    fn rdkafka_header_types_are_read_from_librdkafka() {
        struct Mine;
        impl Headers for Mine {
            fn count(&self) -> usize {
                1
            }
            fn try_get(&self, index: usize) -> Option<Header<'_, &[u8]>> {
                (index == 0).then_some(Header { key: "k", value: Some(b"v") })
            }
        }
        let owned = OwnedHeaders::new();
        assert!(native(&owned).is_some());
        assert!(native(owned.as_borrowed()).is_some());
        assert!(native(&Mine).is_none());
        let header = raw_header(&Mine, 0).unwrap();
        assert_eq!((header.key, header.value), (&b"k"[..], Some(&b"v"[..])));
        assert!(raw_header(&Mine, 1).is_none());
    }
}
