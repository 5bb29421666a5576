//! The traced `FutureProducer`: one PRODUCER span per record, its context written into the
//! record's headers.

use crate::headers::RecordInjector;
use crate::messaging::{self, TopicNames};
use crate::scope::scope;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::propagation::Propagation;
use otel_core::span_start::{SamplingHint, start_span};
use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::ToBytes;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::{AsyncRuntime, DefaultRuntime, Timeout};
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
    pub(crate) propagator: Propagation,
    client_id: Option<StringValue>,
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
    pub async fn send<K, P, D>(&self, mut record: FutureRecord<'_, K, P>, queue_timeout: D) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        D: Into<Timeout>,
    {
        let key = record.key.map(ToBytes::to_bytes);
        let span = self.shared.start(record.topic, record.partition, key, record.payload.is_some());
        self.shared.propagator.inject_into(&span.cx, &mut RecordInjector::new(&mut record.headers));
        let result = self.inner.send(record, queue_timeout).await;
        span.finish(result.as_ref().map(|delivery| (delivery.partition, delivery.offset)).map_err(|(error, _)| error));
        result
    }
}

impl<T> Shared<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Starts the `send {topic}` span of a record, a child of the current context.
    pub(crate) fn start(&self, topic: &str, partition: Option<i32>, key: Option<&[u8]>, has_payload: bool) -> SendSpan {
        let (name, destination) = self.names.get(topic);
        let builder = SpanBuilder::from_name(name).with_kind(SpanKind::Producer);
        let started = Context::map_current(|parent| {
            start_span(&self.tracer, builder, parent, &self.hint, || {
                self.attributes(destination, partition, key, has_payload)
            })
        });
        SendSpan { cx: started.cx, recording: started.recording, ended: false }
    }

    fn attributes(
        &self,
        destination: StringValue,
        partition: Option<i32>,
        key: Option<&[u8]>,
        has_payload: bool,
    ) -> Vec<KeyValue> {
        // Sized for everything a delivered record ends with (partition and offset come later).
        let mut attributes = Vec::with_capacity(9);
        messaging::operation(&mut attributes, "send");
        attributes.push(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination));
        if let Some(client_id) = &self.client_id {
            attributes.push(KeyValue::new(semconv::MESSAGING_CLIENT_ID, client_id.clone()));
        }
        if let Some(partition) = partition {
            attributes.push(messaging::partition(partition));
        }
        attributes.extend(messaging::key(key));
        attributes.extend(messaging::tombstone(has_payload));
        attributes
    }
}

/// A started send span; ends exactly once, when the delivery report arrives or on drop.
pub(crate) struct SendSpan {
    pub(crate) cx: Context,
    recording: bool,
    ended: bool,
}

impl SendSpan {
    /// Ends the span with the delivery report: the `(partition, offset)` the record was written
    /// at, or the error.
    pub(crate) fn finish(mut self, report: Result<(i32, i64), &KafkaError>) {
        self.ended = true;
        if !self.recording {
            return;
        }
        let span = self.cx.span();
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

impl Drop for SendSpan {
    fn drop(&mut self) {
        // The caller gave up before the delivery report: the span still ends, once.
        if !self.ended && self.recording {
            self.cx.span().end();
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
}

impl Default for TracedProducerBuilder {
    fn default() -> Self {
        Self {
            tracer: global::tracer_provider().tracer_with_scope(scope()),
            propagator: Propagation::Global,
            client_id: None,
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
        }
    }

    /// Uses `propagator` instead of the global one (read when each record is sent).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Propagation::new(propagator);
        self
    }

    /// Reads `messaging.client.id` from the producer's configuration (`client.id`, librdkafka's
    /// default `rdkafka` when unset).
    pub fn client_config(self, config: &ClientConfig) -> Self {
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
            hint: SamplingHint::new(false),
            names: TopicNames::new("send"),
        })
    }
}

/// The builder's former name, kept for existing code.
pub type TracedFutureProducerBuilder<T = BoxedTracer> = TracedProducerBuilder<T>;
