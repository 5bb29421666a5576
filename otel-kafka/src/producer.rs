//! The traced `FutureProducer`: one PRODUCER span per record, its context written into the
//! record's headers.

use crate::headers::RecordInjector;
use crate::messaging::{self, TopicNames};
use crate::scope;
use crate::send_future::SendFuture;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanContext, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::internal::span_start::{NewSpan, SamplingHint, start_bare_span};
use otel_core::propagation::Propagation;
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{OwnedHeaders, ToBytes};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::{AsyncRuntime, DefaultRuntime, Timeout};
use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// librdkafka's `client.id` when none is configured.
pub(crate) const DEFAULT_CLIENT_ID: &str = "rdkafka";

/// A `FutureProducer` whose every [`send`](Self::send) is a `send {topic}` PRODUCER span, with
/// the span's context (`traceparent`, `tracestate`, `baggage`) written into the record's headers.
///
/// `send` has the signature of [`FutureProducer::send`]; every other producer method is reached
/// through `Deref` (`flush`, `in_flight_count`, transactions). Cloning is as cheap as cloning
/// the inner producer. The span is a child of `Context::current()` when `send` is called.
///
/// ```no_run
/// # async fn run() -> rdkafka::error::KafkaResult<()> {
/// use rdkafka::ClientConfig;
/// use rdkafka::producer::FutureRecord;
/// use otel_kafka::TracedFutureProducer;
/// use std::time::Duration;
///
/// let producer = TracedFutureProducer::from_config(ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9092"))?;
/// let delivery = producer
///     .send(FutureRecord::to("orders").key("order-7").payload("{}"), Duration::from_secs(5))
///     .await; // span "send orders", traceparent in the record's headers
/// # Ok(()) }
/// ```
pub struct TracedFutureProducer<C = DefaultClientContext, R = DefaultRuntime, T = BoxedTracer>
where
    C: ClientContext + 'static,
{
    inner: FutureProducer<C, R>,
    shared: Arc<Shared<T>>,
}

impl<C: ClientContext + 'static, R, T> Clone for TracedFutureProducer<C, R, T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<C: ClientContext + 'static, R, T> fmt::Debug for TracedFutureProducer<C, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedFutureProducer")
            .field("client_id", &self.shared.client_id)
            .field("propagator", &self.shared.propagator)
            .finish_non_exhaustive()
    }
}

impl<C: ClientContext + 'static, R, T> Deref for TracedFutureProducer<C, R, T> {
    type Target = FutureProducer<C, R>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

/// What every traced producer keeps: how to start a send span and inject its context.
pub(crate) struct Shared<T> {
    tracer: T,
    propagator: Propagation,
    client_id: Option<StringValue>,
    server: Option<messaging::Server>,
    hint: SamplingHint,
    names: TopicNames,
}

impl TracedFutureProducer {
    /// Creates a `FutureProducer` from `config` and wraps it with the global tracer provider and
    /// propagator; `messaging.client.id` comes from the configuration.
    pub fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        let inner = FutureProducer::from_config_and_context(config, DefaultClientContext)?;
        Ok(TracedProducerBuilder::default().client_config(config).build(inner))
    }

    /// Wraps `inner` with the global tracer provider and propagator (no `messaging.client.id`:
    /// use [`TracedFutureProducer::builder`] and [`TracedProducerBuilder::client_config`]).
    pub fn new<C: ClientContext + 'static, R>(inner: FutureProducer<C, R>) -> TracedFutureProducer<C, R> {
        TracedProducerBuilder::default().build(inner)
    }

    /// A builder for the settings; [`TracedProducerBuilder::build`] wraps the producer.
    pub fn builder() -> TracedProducerBuilder {
        TracedProducerBuilder::default()
    }
}

impl<C: ClientContext + 'static, R, T> TracedFutureProducer<C, R, T> {
    /// The wrapped producer.
    pub fn inner(&self) -> &FutureProducer<C, R> {
        &self.inner
    }

    /// Unwraps the producer.
    pub fn into_inner(self) -> FutureProducer<C, R> {
        self.inner
    }
}

impl<C, R, T> TracedFutureProducer<C, R, T>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// [`FutureProducer::send`], in a `send {topic}` PRODUCER span whose context is written into
    /// the record's headers (a header the record already has is kept, never overwritten).
    ///
    /// The span ends when the delivery report arrives, with the partition and offset, or with
    /// `error.type` (the librdkafka error code: `MessageTimedOut`, `UnknownTopicOrPartition`,
    /// `QueueFull`, ...) and an Error status. The result is returned unchanged. A future dropped
    /// before the report still ends its span.
    ///
    /// Enqueuing behaves as in `FutureProducer::send`: while librdkafka's queue is full, the
    /// record is offered again every 100 ms until `queue_timeout` has passed, then comes back with
    /// `QueueFull`. One difference: a record that librdkafka destroys without a delivery report
    /// (its producer gone) gives `KafkaError::Canceled`, where `FutureProducer::send` panics.
    pub fn send<'a, K, P, D>(
        &'a self,
        record: FutureRecord<'a, K, P>,
        queue_timeout: D,
    ) -> SendFuture<'a, C, R, T, K, P>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        D: Into<Timeout>,
    {
        SendFuture::new(self, record, queue_timeout.into())
    }

    pub(crate) fn shared(&self) -> &Shared<T> {
        &self.shared
    }
}

impl<T> Shared<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Starts the `send {topic}` span of a record, a child of `parent`.
    ///
    /// The span is kept as it is, not put in a context: nothing runs inside it, and a context
    /// would cost two allocations (the span boxed, then shared) and a lock per call on it.
    #[inline]
    pub(crate) fn start(
        &self,
        parent: &Context,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        has_payload: bool,
    ) -> SendSpan<T::Span> {
        let (name, destination) = self.names.get(topic);
        let (span, recording) = start_bare_span(
            &self.tracer,
            NewSpan::new(name, SpanKind::Producer),
            parent,
            &self.hint,
            None::<fn() -> Cow<'static, str>>,
            || self.attributes(destination, partition, key, has_payload),
        );
        SendSpan { span: Some(span), recording }
    }

    /// Writes the context of `span_context`, the span of a record started under `parent`, into
    /// the record's headers.
    pub(crate) fn inject(&self, parent: &Context, span_context: &SpanContext, headers: &mut Option<OwnedHeaders>) {
        self.propagator.inject_span_into(parent, span_context, &mut RecordInjector::new(headers));
    }

    fn attributes(
        &self,
        destination: StringValue,
        partition: Option<i32>,
        key: Option<&[u8]>,
        has_payload: bool,
    ) -> Vec<KeyValue> {
        let key = messaging::key(key);
        let tombstone = messaging::tombstone(has_payload);
        // Sized for everything a delivered record ends with: the partition and offset come later.
        let optional = [self.client_id.is_some(), partition.is_some(), key.is_some(), tombstone.is_some()];
        let server = if self.server.is_some() { 2 } else { 0 };
        let mut attributes = Vec::with_capacity(4 + optional.iter().filter(|&&some| some).count() + server + 2);
        messaging::operation(&mut attributes, "send");
        attributes.push(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination));
        if let Some(client_id) = &self.client_id {
            attributes.push(KeyValue::new(semconv::MESSAGING_CLIENT_ID, client_id.clone()));
        }
        if let Some(server) = &self.server {
            server.record(&mut attributes);
        }
        if let Some(partition) = partition {
            attributes.push(messaging::partition(partition));
        }
        attributes.extend(key);
        attributes.extend(tombstone);
        attributes
    }
}

/// What ending a send span takes: any span, or one boxed ([`ErasedSpan`]).
pub(crate) trait EndSpan: Send + Sync {
    fn set_attribute(&mut self, attribute: KeyValue);
    fn set_status(&mut self, status: Status);
    fn end(&mut self);
}

impl<S: Span + Send + Sync> EndSpan for S {
    fn set_attribute(&mut self, attribute: KeyValue) {
        Span::set_attribute(self, attribute);
    }

    fn set_status(&mut self, status: Status) {
        Span::set_status(self, status);
    }

    fn end(&mut self) {
        Span::end(self);
    }
}

/// A span of any type, boxed: the delivery opaque of the callback producers cannot name the
/// tracer's span type.
pub(crate) struct ErasedSpan(Box<dyn EndSpan>);

impl EndSpan for ErasedSpan {
    fn set_attribute(&mut self, attribute: KeyValue) {
        self.0.set_attribute(attribute);
    }

    fn set_status(&mut self, status: Status) {
        self.0.set_status(status);
    }

    fn end(&mut self) {
        self.0.end();
    }
}

/// A started send span; ends exactly once, when the delivery report arrives or on drop.
///
/// Kept in the `send` future and ended in place: the SDK's span is large (about 300 bytes), and
/// every move of it costs more than most of the work done on it.
pub(crate) struct SendSpan<S: EndSpan> {
    /// `None` before the span starts and once moved out by [`SendSpan::erase`].
    span: Option<S>,
    recording: bool,
}

// The span is never pinned: it is ended in place through `&mut`. (This makes the `send` future
// `Unpin` too: its timer is boxed and the rest holds references and owned data.)
impl<S: EndSpan> Unpin for SendSpan<S> {}

impl<S: EndSpan> SendSpan<S> {
    /// No span yet: nothing to end.
    pub(crate) const fn not_started() -> Self {
        Self { span: None, recording: false }
    }
}

impl<S: Span + Send + Sync + 'static> SendSpan<S> {
    /// The span's context.
    pub(crate) fn span_context(&self) -> &SpanContext {
        static NONE: SpanContext = SpanContext::NONE;
        self.span.as_ref().map_or(&NONE, Span::span_context)
    }

    /// The same span, boxed when it records (one allocation), nothing otherwise.
    pub(crate) fn erase(mut self) -> SendSpan<ErasedSpan> {
        let recording = std::mem::take(&mut self.recording);
        let span = self.span.take().filter(|_| recording);
        SendSpan { span: span.map(|span| ErasedSpan(Box::new(span))), recording }
    }
}

impl<S: EndSpan> SendSpan<S> {
    /// Ends the span with the delivery report: the `(partition, offset)` the record was written
    /// at, or the error.
    pub(crate) fn finish(&mut self, report: Result<(i32, i64), &KafkaError>) {
        if !std::mem::take(&mut self.recording) {
            return;
        }
        let Some(span) = &mut self.span else { return };
        match report {
            Ok((partition, offset)) => {
                span.set_attribute(messaging::partition(partition));
                span.set_attribute(KeyValue::new(semconv::MESSAGING_KAFKA_OFFSET, offset));
            }
            Err(error) => {
                let (error_type, status) = messaging::kafka_failure(error);
                span.set_attribute(error_type);
                span.set_status(status);
            }
        }
        span.end();
    }
}

impl<S: EndSpan> Drop for SendSpan<S> {
    fn drop(&mut self) {
        // The caller gave up before the delivery report: the span still ends, once.
        if self.recording
            && let Some(span) = &mut self.span
        {
            span.end();
        }
    }
}

/// Settings of a [`TracedFutureProducer`], [`TracedThreadedProducer`](crate::TracedThreadedProducer)
/// or [`TracedBaseProducer`](crate::TracedBaseProducer): `build`, `build_threaded` or `build_base`
/// wraps the producer.
///
/// Defaults: the global tracer provider and propagator; no `messaging.client.id` unless a
/// configuration or id is given.
pub struct TracedProducerBuilder<T = BoxedTracer> {
    tracer: T,
    propagator: Propagation,
    client_id: Option<StringValue>,
    server: Option<messaging::Server>,
}

impl Default for TracedProducerBuilder {
    fn default() -> Self {
        Self {
            tracer: global::tracer_provider().tracer_with_scope(scope()),
            propagator: Propagation::Global,
            client_id: None,
            server: None,
        }
    }
}

impl<T> TracedProducerBuilder<T> {
    /// Uses `provider` instead of the global one.
    pub fn tracer_provider<P: TracerProvider>(self, provider: &P) -> TracedProducerBuilder<P::Tracer> {
        TracedProducerBuilder {
            tracer: provider.tracer_with_scope(scope()),
            propagator: self.propagator,
            client_id: self.client_id,
            server: self.server,
        }
    }

    /// Uses `propagator` instead of the global one (read when each record is sent).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Propagation::new(propagator);
        self
    }

    /// Reads `messaging.client.id` (`client.id`, librdkafka's default `rdkafka` when unset) and
    /// `server.address` / `server.port` (the first of `bootstrap.servers`) from the producer's
    /// configuration.
    pub fn client_config(mut self, config: &ClientConfig) -> Self {
        self.server = messaging::Server::from_config(config);
        self.client_id(config.get("client.id").unwrap_or(DEFAULT_CLIENT_ID))
    }

    /// Sets `messaging.client.id`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(StringValue::from(Arc::<str>::from(client_id.into())));
        self
    }

    /// Wraps `inner`.
    pub fn build<C: ClientContext + 'static, R>(self, inner: FutureProducer<C, R>) -> TracedFutureProducer<C, R, T> {
        TracedFutureProducer { inner, shared: self.shared() }
    }

    pub(crate) fn shared(self) -> Arc<Shared<T>> {
        Arc::new(Shared {
            tracer: self.tracer,
            propagator: self.propagator,
            client_id: self.client_id,
            server: self.server,
            hint: SamplingHint::new(false),
            names: TopicNames::new("send"),
        })
    }
}

/// The builder's former name, kept for existing code.
pub type TracedFutureProducerBuilder<T = BoxedTracer> = TracedProducerBuilder<T>;

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use otel_core::propagation::StrictTraceContextPropagator;
    use rdkafka::message::{Header, Headers, OwnedMessage, Timestamp};

    /// A send can be spawned on a multi-threaded runtime, as `FutureProducer::send`'s can.
    #[test]
    fn the_send_future_is_send() {
        fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
        let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9").create().unwrap();
        let provider = SdkTracerProvider::builder().build();
        let traced = Arc::new(TracedProducerBuilder::default().tracer_provider(&provider).build(producer));
        spawnable(async move {
            let record = FutureRecord::<str, str>::to("orders").payload("x");
            let _ = traced.send(record, std::time::Duration::ZERO).await;
        });
    }

    /// The traceparent a record sent under `parent` gets, with `sampler`.
    fn injected(sampler: Sampler, parent: &str) -> String {
        let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
        let strict = StrictTraceContextPropagator::new();
        let shared = TracedProducerBuilder::default().tracer_provider(&provider).propagator(strict).shared();
        let headers = OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(parent) });
        let incoming = OwnedMessage::new(None, None, "in".into(), Timestamp::NotAvailable, 0, 0, Some(headers));
        let parent = crate::extract_context_with(&incoming, &strict);
        let mut headers = None;
        let span = shared.start(&parent, "orders", None, None, true);
        shared.inject(&parent, span.span_context(), &mut headers);
        let headers = headers.expect("a traceparent");
        let header = headers.get_as::<str>(0).expect("UTF-8");
        assert_eq!(header.key, "traceparent");
        header.value.expect("a value").to_owned()
    }

    #[test]
    fn the_random_flag_of_the_incoming_trace_travels_on_sampled_or_not() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03";
        assert!(injected(Sampler::AlwaysOn, parent).ends_with("-03"));
        // The SDK gives a dropped span empty flags: the random bit comes from the context.
        let unsampled = injected(Sampler::AlwaysOff, parent);
        assert!(unsampled.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
        assert!(unsampled.ends_with("-02"), "{unsampled}");
    }
}
