//! The traced `ThreadedProducer` and `BaseProducer`: their delivery reports arrive in a
//! callback, not a future, so the send span travels to it in the message's opaque, next to the
//! user's own opaque, and [`TracedProducerContext`] ends it there.

use crate::hooks::{HeadersView, OutgoingRecord};
use crate::metrics::SendMetric;
use crate::producer::{ErasedSpan, SendSpan, Shared, TracedProducerBuilder};
use opentelemetry::Context;
use opentelemetry::trace::Tracer;
use otel_core::global::GlobalTracer;
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Headers, Message, OwnedHeaders, ToBytes};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, DeliveryResult, NoCustomPartitioner, Partitioner,
    ProducerContext, ThreadedProducer,
};
use rdkafka::statistics::Statistics;
use rdkafka::util::IntoOpaque;
use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A [`ProducerContext`] that ends each record's `send {topic}` span when its delivery report
/// arrives, then calls the user's context `C` with the user's own opaque. Every other callback
/// (logs, statistics, errors, OAuth tokens, the custom partitioner) goes to `C` unchanged.
///
/// Its `DeliveryOpaque` is a [`DeliveryState`] wrapping `C`'s; [`TracedThreadedProducer::send`]
/// and [`TracedBaseProducer::send`] build it, so records are written with `C`'s opaque type.
#[derive(Clone, Debug, Default)]
pub struct TracedProducerContext<C = DefaultProducerContext> {
    inner: C,
}

impl<C> TracedProducerContext<C> {
    /// Wraps the user's context.
    pub fn new(inner: C) -> Self {
        Self { inner }
    }

    /// The user's context.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: ClientContext> ClientContext for TracedProducerContext<C> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = C::ENABLE_REFRESH_OAUTH_TOKEN;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.inner.log(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.inner.stats(statistics);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.inner.stats_raw(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.error(error, reason);
    }

    fn generate_oauth_token(&self, oauthbearer_config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        self.inner.generate_oauth_token(oauthbearer_config)
    }
}

impl<C, Part> ProducerContext<Part> for TracedProducerContext<C>
where
    C: ProducerContext<Part>,
    Part: Partitioner,
{
    type DeliveryOpaque = Box<DeliveryState<C::DeliveryOpaque>>;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, delivery_opaque: Self::DeliveryOpaque) {
        let DeliveryState { mut span, opaque, metric } = *delivery_opaque;
        // Ended (and recorded) before the user's callback runs: its time is not the send's, and a
        // panic in it cannot keep the span open.
        if let Some(metric) = metric {
            match delivery_result {
                Ok(message) => metric.delivered(message.topic(), message.partition(), None),
                Err((error, message)) => metric.delivered(message.topic(), message.partition(), Some(error)),
            }
        }
        span.finish(delivery_result.as_ref().map(|message| (message.partition(), message.offset())).map_err(|e| &e.0));
        self.inner.delivery(delivery_result, opaque);
    }

    fn get_custom_partitioner(&self) -> Option<&Part> {
        self.inner.get_custom_partitioner()
    }
}

/// A record's send span and the user's own delivery opaque, carried through librdkafka to
/// [`TracedProducerContext::delivery`]. The span ends there, or when this is dropped.
pub struct DeliveryState<D> {
    span: SendSpan<ErasedSpan>,
    opaque: D,
    /// The record's send metrics, when metrics are on.
    metric: Option<SendMetric>,
}

impl<D: fmt::Debug> fmt::Debug for DeliveryState<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryState").field("opaque", &self.opaque).finish_non_exhaustive()
    }
}

/// The record as the inner producer takes it: the user's opaque wrapped with the span.
type TracedRecord<'a, K, P, D> = BaseRecord<'a, K, P, Box<DeliveryState<D>>>;

/// A rejected record and why, as rdkafka's `send` returns it.
type SendError<'a, K, P, D> = (KafkaError, BaseRecord<'a, K, P, D>);

/// Starts the span, writes its context into the headers and wraps the opaque; when the producer
/// rejects the record at once (`QueueFull`, ...) ends the span with the error and gives the
/// caller's record back as it was: its own headers and opaque.
#[allow(clippy::result_large_err)] // rdkafka's signature
fn send_traced<'a, K, P, D, T>(
    shared: &Shared<T>,
    mut record: BaseRecord<'a, K, P, D>,
    send: impl FnOnce(TracedRecord<'a, K, P, D>) -> Result<(), SendError<'a, K, P, Box<DeliveryState<D>>>>,
) -> Result<(), SendError<'a, K, P, D>>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    D: IntoOpaque,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let key = record.key.map(ToBytes::to_bytes);
    let user_headers = record.headers.as_ref().map(Headers::count);
    let parent = Context::current();
    let mut span = shared.start(&parent, record.topic, record.partition, key, record.payload.is_some());
    shared.inject(&parent, span.span_context(), &mut record.headers);
    // Counted as sent unless the record comes back rejected; after the span, which tells the
    // global meter to look after an installation.
    let metric = shared.start_owned_metric();
    shared.run_request_hook(&mut span, || OutgoingRecord {
        topic: record.topic,
        partition: record.partition,
        key,
        payload: record.payload.map(ToBytes::to_bytes),
        timestamp: record.timestamp,
        headers: HeadersView::of_record(record.headers.as_ref()),
    });
    // Boxed to travel in the opaque, whose type cannot name the tracer's span type.
    let span = span.erase();
    let traced = BaseRecord {
        topic: record.topic,
        partition: record.partition,
        payload: record.payload,
        key: record.key,
        timestamp: record.timestamp,
        headers: record.headers,
        delivery_opaque: Box::new(DeliveryState { span, opaque: record.delivery_opaque, metric }),
    };
    send(traced).map_err(|(error, record)| {
        let DeliveryState { mut span, opaque, metric } = *record.delivery_opaque;
        if let Some(metric) = metric {
            metric.rejected(record.topic, record.partition, &error);
        }
        span.finish(Err(&error));
        let user_record = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: without_injected(record.headers, user_headers),
            delivery_opaque: opaque,
        };
        (error, user_record)
    })
}

/// The user's headers without the ones injected after them (`user_count` of them, `None`
/// when the record had none).
pub(crate) fn without_injected(headers: Option<OwnedHeaders>, user_count: Option<usize>) -> Option<OwnedHeaders> {
    let (headers, count) = (headers?, user_count?);
    if headers.count() == count {
        return Some(headers);
    }
    // Read and copied as librdkafka holds them: forwarded headers may have keys that are not
    // UTF-8, on which rdkafka's `try_get` panics.
    let user = (0..count).filter_map(|index| crate::headers::raw_header(&headers, index));
    Some(user.fold(OwnedHeaders::new_with_capacity(count), crate::headers::append))
}

/// A [`ThreadedProducer`] whose every [`send`](Self::send) is a `send {topic}` PRODUCER span,
/// with the span's context written into the record's headers, ended by the delivery callback.
///
/// The producer is created with a [`TracedProducerContext`] around the user's context `C`
/// ([`from_config_and_context`](Self::from_config_and_context), or
/// [`TracedProducerBuilder::build_threaded`]); `C`'s `delivery` is still called, with the
/// user's opaque. Every other producer method is reached through `Deref` (`flush`, `poll`,
/// transactions).
///
/// ```no_run
/// # fn run() -> rdkafka::error::KafkaResult<()> {
/// use otel_kafka::TracedThreadedProducer;
/// use rdkafka::ClientConfig;
/// use rdkafka::producer::{BaseRecord, Producer};
/// use std::time::Duration;
///
/// let producer = TracedThreadedProducer::from_config(ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9092"))?;
/// producer
///     .send(BaseRecord::to("orders").key("order-7").payload("{}"))
///     .map_err(|(error, _record)| error)?; // span "send orders", ended by the delivery report
/// producer.flush(Duration::from_secs(5))?;
/// # Ok(()) }
/// ```
pub struct TracedThreadedProducer<C = DefaultProducerContext, Part = NoCustomPartitioner, T = GlobalTracer>
where
    C: ProducerContext<Part> + 'static,
    Part: Partitioner,
{
    inner: ThreadedProducer<TracedProducerContext<C>, Part>,
    shared: Arc<Shared<T>>,
}

impl TracedThreadedProducer {
    /// Creates a `ThreadedProducer` from `config` and wraps it with the global tracer provider
    /// and propagator; `messaging.client.id` comes from the configuration.
    pub fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Self::from_config_and_context(config, DefaultProducerContext)
    }

    /// A builder for the settings; [`TracedProducerBuilder::build_threaded`] wraps the producer.
    pub fn builder() -> TracedProducerBuilder {
        TracedProducerBuilder::default()
    }
}

impl<C: ProducerContext + 'static> TracedThreadedProducer<C> {
    /// [`from_config`](TracedThreadedProducer::from_config) with the user's context, whose
    /// callbacks (`delivery` included) are all still called.
    pub fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        let inner = ThreadedProducer::from_config_and_context(config, TracedProducerContext::new(context))?;
        Ok(TracedProducerBuilder::default().client_config(config).build_threaded(inner))
    }
}

impl<C, Part, T> TracedThreadedProducer<C, Part, T>
where
    C: ProducerContext<Part> + 'static,
    Part: Partitioner,
{
    /// The wrapped producer.
    pub fn inner(&self) -> &ThreadedProducer<TracedProducerContext<C>, Part> {
        &self.inner
    }

    /// Unwraps the producer.
    pub fn into_inner(self) -> ThreadedProducer<TracedProducerContext<C>, Part> {
        self.inner
    }
}

impl<C, Part, T> TracedThreadedProducer<C, Part, T>
where
    C: ProducerContext<Part> + 'static,
    Part: Partitioner,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// [`ThreadedProducer::send`] in a `send {topic}` PRODUCER span whose context is written
    /// into the record's headers (a header the record already has is kept, never overwritten).
    ///
    /// The span ends when the delivery report arrives, with the partition and offset, or with
    /// `error.type` (the librdkafka error code) and an Error status. A record the producer
    /// rejects at once (`QueueFull`, ...) ends the span with that error and comes back as the
    /// caller gave it: its own headers (without the injected context) and its own opaque.
    #[allow(clippy::result_large_err)] // rdkafka's signature
    pub fn send<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), SendError<'a, K, P, C::DeliveryOpaque>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        send_traced(&self.shared, record, |record| self.inner.send(record))
    }
}

impl<C: ProducerContext + 'static, T> Clone for TracedThreadedProducer<C, NoCustomPartitioner, T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<C, Part, T> Deref for TracedThreadedProducer<C, Part, T>
where
    C: ProducerContext<Part> + 'static,
    Part: Partitioner,
{
    type Target = ThreadedProducer<TracedProducerContext<C>, Part>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<C, Part, T> fmt::Debug for TracedThreadedProducer<C, Part, T>
where
    C: ProducerContext<Part> + 'static,
    Part: Partitioner,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedThreadedProducer").finish_non_exhaustive()
    }
}

/// A [`BaseProducer`] whose every [`send`](Self::send) is a `send {topic}` PRODUCER span, as
/// [`TracedThreadedProducer`]; the spans end when the caller's `poll` (through `Deref`) or
/// `flush` serves the delivery reports.
pub struct TracedBaseProducer<C = DefaultProducerContext, Part = NoCustomPartitioner, T = GlobalTracer>
where
    C: ProducerContext<Part>,
    Part: Partitioner,
{
    inner: BaseProducer<TracedProducerContext<C>, Part>,
    shared: Arc<Shared<T>>,
}

impl TracedBaseProducer {
    /// Creates a `BaseProducer` from `config` and wraps it with the global tracer provider and
    /// propagator; `messaging.client.id` comes from the configuration.
    pub fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Self::from_config_and_context(config, DefaultProducerContext)
    }

    /// A builder for the settings; [`TracedProducerBuilder::build_base`] wraps the producer.
    pub fn builder() -> TracedProducerBuilder {
        TracedProducerBuilder::default()
    }
}

impl<C: ProducerContext> TracedBaseProducer<C> {
    /// [`from_config`](TracedBaseProducer::from_config) with the user's context, whose
    /// callbacks (`delivery` included) are all still called.
    pub fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        let inner = BaseProducer::from_config_and_context(config, TracedProducerContext::new(context))?;
        Ok(TracedProducerBuilder::default().client_config(config).build_base(inner))
    }
}

impl<C, Part, T> TracedBaseProducer<C, Part, T>
where
    C: ProducerContext<Part>,
    Part: Partitioner,
{
    /// The wrapped producer.
    pub fn inner(&self) -> &BaseProducer<TracedProducerContext<C>, Part> {
        &self.inner
    }

    /// Unwraps the producer.
    pub fn into_inner(self) -> BaseProducer<TracedProducerContext<C>, Part> {
        self.inner
    }
}

impl<C, Part, T> TracedBaseProducer<C, Part, T>
where
    C: ProducerContext<Part>,
    Part: Partitioner,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// [`BaseProducer::send`] in a `send {topic}` PRODUCER span: see
    /// [`TracedThreadedProducer::send`].
    #[allow(clippy::result_large_err)] // rdkafka's signature
    pub fn send<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), SendError<'a, K, P, C::DeliveryOpaque>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        send_traced(&self.shared, record, |record| self.inner.send(record))
    }
}

impl<C, Part, T> Deref for TracedBaseProducer<C, Part, T>
where
    C: ProducerContext<Part>,
    Part: Partitioner,
{
    type Target = BaseProducer<TracedProducerContext<C>, Part>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<C, Part, T> fmt::Debug for TracedBaseProducer<C, Part, T>
where
    C: ProducerContext<Part>,
    Part: Partitioner,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedBaseProducer").finish_non_exhaustive()
    }
}

impl<T> TracedProducerBuilder<T> {
    /// Wraps a `ThreadedProducer` created with a [`TracedProducerContext`].
    pub fn build_threaded<C, Part>(
        self,
        inner: ThreadedProducer<TracedProducerContext<C>, Part>,
    ) -> TracedThreadedProducer<C, Part, T>
    where
        C: ProducerContext<Part> + 'static,
        Part: Partitioner,
    {
        TracedThreadedProducer { inner, shared: self.shared() }
    }

    /// Wraps a `BaseProducer` created with a [`TracedProducerContext`].
    pub fn build_base<C, Part>(
        self,
        inner: BaseProducer<TracedProducerContext<C>, Part>,
    ) -> TracedBaseProducer<C, Part, T>
    where
        C: ProducerContext<Part>,
        Part: Partitioner,
    {
        TracedBaseProducer { inner, shared: self.shared() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{RawHeader, append, raw_header};

    fn raw(headers: &OwnedHeaders) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        (0..headers.count())
            .filter_map(|index| raw_header(headers, index))
            .map(|header| (header.key.to_vec(), header.value.map(<[u8]>::to_vec)))
            .collect()
    }

    /// A rejected record goes back to the user with the headers they gave, as librdkafka holds
    /// them: forwarded headers whose keys are not UTF-8 (on which rdkafka's `try_get` panics) and
    /// null values included; the context written after them is gone.
    #[test]
    fn a_rejected_record_gets_its_own_headers_back_whatever_their_keys() {
        let user = [
            RawHeader { key: b"\x94\xff", value: Some(b"forwarded") },
            RawHeader { key: b"tenant", value: None },
            RawHeader { key: b"traceparent", value: Some(b"upstream") },
        ];
        let headers = user.into_iter().fold(OwnedHeaders::new(), append);
        let sent = headers.clone().insert(rdkafka::message::Header { key: "traceparent", value: Some("ours") });
        assert_eq!(sent.count(), 4);

        let back = without_injected(Some(sent), Some(3)).unwrap();
        assert_eq!(raw(&back), raw(&headers));
        assert_eq!(raw(&back)[0], (b"\x94\xff".to_vec(), Some(b"forwarded".to_vec())));
        assert_eq!(raw(&back)[1], (b"tenant".to_vec(), None));

        assert_eq!(raw(&without_injected(Some(headers.clone()), Some(3)).unwrap()), raw(&headers));
        assert!(without_injected(None, None).is_none());
    }
}
