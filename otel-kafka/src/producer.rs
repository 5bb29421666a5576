//! The traced `FutureProducer`: one PRODUCER span per record, its context written into the
//! record's headers.

use crate::headers::RecordInjector;
use crate::hooks::{DeliveryOutcome, OutgoingRecord, SendRequestHook, SendResponseHook};
use crate::messaging::{self, TopicNames};
use crate::metrics::{ProducerMetrics, SendMetric};
use crate::scope;
use crate::send_future::SendFuture;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanContext, SpanKind, SpanRef, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::internal::span_start::{NewSpan, SamplingHint, start_bare_span};
use otel_core::metrics::{Instruments, MeterSource};
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
use std::time::Instant;

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
pub struct TracedFutureProducer<C = DefaultClientContext, R = DefaultRuntime, T = GlobalTracer>
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
    request_hook: Option<SendRequestHook>,
    response_hook: Option<SendResponseHook>,
    /// Off, or none installed: then no metric work per record.
    metrics: Instruments<Arc<ProducerMetrics>>,
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
        SendSpan { span: Held::Bare(span), recording }
    }

    /// When a hook is set and `span` records: puts the span in a context (hooks take a `SpanRef`,
    /// which only a context gives) and calls the request hook with the record, headers injected.
    /// Without hooks, only the `Option` checks.
    #[inline]
    pub(crate) fn run_request_hook<'r>(
        &self,
        span: &mut SendSpan<T::Span>,
        record: impl FnOnce() -> OutgoingRecord<'r>,
    ) {
        if self.request_hook.is_none() && self.response_hook.is_none() {
            return;
        }
        let Some(cx) = span.put_in_context(self.response_hook.clone()) else { return };
        if let Some(hook) = &self.request_hook {
            hook.on_request(&cx.span(), &record());
        }
    }

    /// Writes the context of `span_context`, the span of a record started under `parent`, into
    /// the record's headers.
    pub(crate) fn inject(&self, parent: &Context, span_context: &SpanContext, headers: &mut Option<OwnedHeaders>) {
        self.propagator.inject_span_into(parent, span_context, &mut RecordInjector::new(headers));
    }

    /// When a send starts, if metrics are on (sampled or not): now. The `send` future keeps only
    /// this, and finds the rest when the outcome is known.
    #[inline]
    pub(crate) fn start_timing(&self) -> Option<Instant> {
        self.metrics.active().then(Instant::now)
    }

    /// Records the send to `topic` started at `start`, now that its outcome is known: see
    /// [`ProducerMetrics::send_finished`].
    pub(crate) fn record_send(
        &self,
        start: Instant,
        topic: &str,
        partition: Option<i32>,
        error: Option<&KafkaError>,
        sent: bool,
    ) {
        self.metrics.with(|metrics| metrics.send_finished(start, topic, partition, error, sent));
    }

    /// Records a send to `topic` given up while librdkafka had the record: see
    /// [`ProducerMetrics::send_abandoned`].
    pub(crate) fn record_abandoned(&self, topic: &str) {
        self.metrics.with(|metrics| metrics.send_abandoned(topic));
    }

    /// Starts timing the send of a record whose outcome arrives in a callback, when metrics are
    /// on: the metric travels with the record, so it holds the instruments.
    #[inline]
    pub(crate) fn start_owned_metric(&self) -> Option<SendMetric> {
        self.metrics.with(|metrics| SendMetric::start(Arc::clone(metrics)))
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
    span: Held<S>,
    recording: bool,
}

/// Where a send span is.
enum Held<S> {
    /// Before the span starts, and once moved out by [`SendSpan::erase`].
    Absent,
    /// The span itself, recording or not.
    Bare(S),
    /// A recording span in a context, because hooks are set; with the response hook to call.
    InContext { cx: Context, response_hook: Option<SendResponseHook> },
}

// The span is never pinned: it is ended in place through `&mut`. (This makes the `send` future
// `Unpin` too: its timer is boxed and the rest holds references and owned data.)
impl<S: EndSpan> Unpin for SendSpan<S> {}

impl<S: EndSpan> SendSpan<S> {
    /// No span yet: nothing to end.
    pub(crate) const fn not_started() -> Self {
        Self { span: Held::Absent, recording: false }
    }
}

impl<S: Span + Send + Sync + 'static> SendSpan<S> {
    /// The span's context. Read before the hooks run (they put the span in a context).
    pub(crate) fn span_context(&self) -> &SpanContext {
        static NONE: SpanContext = SpanContext::NONE;
        match &self.span {
            Held::Bare(span) => span.span_context(),
            Held::Absent | Held::InContext { .. } => &NONE,
        }
    }

    /// Puts a recording span in a context for the hooks (two allocations, only with hooks), kept
    /// with `response_hook` for the end; the context, or `None` when the span does not record.
    fn put_in_context(&mut self, response_hook: Option<SendResponseHook>) -> Option<&Context> {
        if !self.recording {
            return None;
        }
        if let Held::Bare(span) = std::mem::replace(&mut self.span, Held::Absent) {
            self.span = Held::InContext { cx: Context::new().with_span(span), response_hook };
        }
        match &self.span {
            Held::InContext { cx, .. } => Some(cx),
            Held::Absent | Held::Bare(_) => None,
        }
    }

    /// The same span, boxed when it records bare (one allocation); a span in a context is moved
    /// as it is; nothing when it does not record.
    pub(crate) fn erase(mut self) -> SendSpan<ErasedSpan> {
        let recording = std::mem::take(&mut self.recording);
        let span = match std::mem::replace(&mut self.span, Held::Absent) {
            Held::Bare(span) if recording => Held::Bare(ErasedSpan(Box::new(span))),
            Held::InContext { cx, response_hook } => Held::InContext { cx, response_hook },
            Held::Absent | Held::Bare(_) => Held::Absent,
        };
        SendSpan { span, recording }
    }
}

impl<S: EndSpan> SendSpan<S> {
    /// Ends the span with the delivery report: the `(partition, offset)` the record was written
    /// at, or the error. The response hook, if any, runs first.
    pub(crate) fn finish(&mut self, report: Result<(i32, i64), &KafkaError>) {
        if !std::mem::take(&mut self.recording) {
            return;
        }
        match &mut self.span {
            Held::Bare(span) => record_report(span, report),
            Held::InContext { cx, response_hook } => {
                let span = cx.span();
                if let Some(hook) = response_hook {
                    let outcome = match report {
                        Ok((partition, offset)) => DeliveryOutcome::Delivered { partition, offset },
                        Err(error) => DeliveryOutcome::Failed(error),
                    };
                    hook.on_response(&span, &outcome);
                }
                record_report(&mut SpanInContext(span), report);
            }
            Held::Absent => {}
        }
    }
}

/// Records a delivery report on `span` (the partition and offset, or `error.type` and an Error
/// status) and ends it.
fn record_report(span: &mut impl EndSpan, report: Result<(i32, i64), &KafkaError>) {
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

/// A span held in a context, ended through the context's `SpanRef`.
struct SpanInContext<'a>(SpanRef<'a>);

impl EndSpan for SpanInContext<'_> {
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

impl<S: EndSpan> Drop for SendSpan<S> {
    fn drop(&mut self) {
        // The caller gave up before the delivery report: the span still ends, once (without the
        // response hook: there is no outcome to give it).
        if !self.recording {
            return;
        }
        match &mut self.span {
            Held::Bare(span) => span.end(),
            Held::InContext { cx, .. } => cx.span().end(),
            Held::Absent => {}
        }
    }
}

/// Settings of a [`TracedFutureProducer`], [`TracedThreadedProducer`](crate::TracedThreadedProducer)
/// or [`TracedBaseProducer`](crate::TracedBaseProducer): `build`, `build_threaded` or `build_base`
/// wraps the producer.
///
/// Defaults: the global tracer provider and propagator; no `messaging.client.id` unless a
/// configuration or id is given; no hooks; metrics with the global meter provider (when one is
/// installed).
pub struct TracedProducerBuilder<T = GlobalTracer> {
    tracer: T,
    propagator: Propagation,
    client_id: Option<StringValue>,
    server: Option<messaging::Server>,
    request_hook: Option<SendRequestHook>,
    response_hook: Option<SendResponseHook>,
    meter: MeterSource,
}

impl Default for TracedProducerBuilder {
    fn default() -> Self {
        Self {
            tracer: GlobalTracer::new(scope()),
            propagator: Propagation::Global,
            client_id: None,
            server: None,
            request_hook: None,
            response_hook: None,
            meter: MeterSource::Global,
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
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            meter: self.meter,
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

    /// Calls `hook` with each record's `send {topic}` span and the record ([`OutgoingRecord`]:
    /// topic, partition, key, payload, headers with the injected context) when the span starts,
    /// before the record is handed to librdkafka; for example to add an attribute from a header.
    ///
    /// Only for spans that record: an unsampled send never calls it. A closure
    /// `|span: &SpanRef<'_>, record: &OutgoingRecord<'_>| ..` is a hook.
    pub fn request_hook(mut self, hook: impl for<'a> RequestHook<OutgoingRecord<'a>>) -> Self {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with each record's `send {topic}` span and its outcome ([`DeliveryOutcome`]:
    /// the partition and offset, or the error) once, just before the span ends: when the delivery
    /// report arrives (for `ThreadedProducer` and `BaseProducer`, in the delivery callback, before
    /// the user's context's `delivery`), or when the record is rejected at once.
    ///
    /// Only for spans that record; not for a `send` future dropped before its report. A closure
    /// `|span: &SpanRef<'_>, outcome: &DeliveryOutcome<'_>| ..` is a hook.
    pub fn response_hook(mut self, hook: impl for<'a> ResponseHook<DeliveryOutcome<'a>>) -> Self {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Records `messaging.client.sent.messages` and `messaging.client.operation.duration` (for
    /// every record, sampled or not) with the global meter provider (`true`, the default; nothing
    /// is recorded while no meter provider is installed), or not at
    /// all (`false`: no metric work per record).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.meter = MeterSource::enabled(enabled);
        self
    }

    /// Records the metrics with `provider`'s meter (and turns them on).
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.meter = MeterSource::provider(provider, scope());
        self
    }

    /// Wraps `inner`.
    pub fn build<C: ClientContext + 'static, R>(self, inner: FutureProducer<C, R>) -> TracedFutureProducer<C, R, T> {
        TracedFutureProducer { inner, shared: self.shared() }
    }

    pub(crate) fn shared(self) -> Arc<Shared<T>> {
        let server = self.server.clone();
        let metrics =
            self.meter.instruments(scope(), move |meter| Arc::new(ProducerMetrics::new(meter, server.clone())));
        Arc::new(Shared {
            tracer: self.tracer,
            propagator: self.propagator,
            client_id: self.client_id,
            server: self.server,
            hint: SamplingHint::new(false),
            names: TopicNames::new("send"),
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            metrics,
        })
    }
}

/// The builder's former name, kept for existing code.
pub type TracedFutureProducerBuilder<T = GlobalTracer> = TracedProducerBuilder<T>;

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use otel_core::propagation::StrictTraceContextPropagator;
    use otel_core::testing::SpanRecorder;
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

    /// Sends (without a broker) a record with an `x-tenant` header through the span's steps,
    /// with hooks that record what they saw; `report` ends it (`None`: dropped before a report).
    fn send_with_hooks(
        recorder: &SpanRecorder,
        erase: bool,
        report: Option<Result<(i32, i64), &KafkaError>>,
    ) -> Vec<String> {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (requests, responses) = (Arc::clone(&seen), Arc::clone(&seen));
        let shared = TracedProducerBuilder::default()
            .request_hook(move |span: &SpanRef<'_>, record: &OutgoingRecord<'_>| {
                let header = |key| record.headers.value(key).map(|v| String::from_utf8_lossy(v).into_owned());
                let (tenant, traceparent) = (header("x-tenant"), header("traceparent").is_some());
                requests
                    .lock()
                    .unwrap()
                    .push(format!("request {} {:?} {tenant:?} {traceparent}", record.topic, record.key));
                span.set_attribute(KeyValue::new("app.tenant", tenant.unwrap_or_default()));
            })
            .response_hook(move |span: &SpanRef<'_>, outcome: &DeliveryOutcome<'_>| {
                responses.lock().unwrap().push(format!("response {outcome:?}"));
                span.set_attribute(KeyValue::new(
                    "app.delivered",
                    matches!(outcome, DeliveryOutcome::Delivered { .. }),
                ));
            })
            // After the hooks: a new provider keeps them.
            .tracer_provider(recorder.provider())
            .propagator(StrictTraceContextPropagator::new())
            .shared();
        let mut headers = Some(OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") }));
        let parent = Context::new();
        let mut span = shared.start(&parent, "orders", None, Some(b"k"), true);
        shared.inject(&parent, span.span_context(), &mut headers);
        shared.run_request_hook(&mut span, || OutgoingRecord {
            topic: "orders",
            partition: None,
            key: Some(b"k"),
            payload: Some(b"{}"),
            timestamp: None,
            headers: crate::HeadersView::of_record(headers.as_ref()),
        });
        // As the `send` future ends it, or as the delivery callback does.
        fn end<S: EndSpan>(mut span: SendSpan<S>, report: Option<Result<(i32, i64), &KafkaError>>) {
            if let Some(report) = report {
                span.finish(report);
            }
        }
        if erase {
            end(span.erase(), report)
        } else {
            end(span, report)
        }
        seen.lock().unwrap().clone()
    }

    #[test]
    fn hooks_see_the_record_with_its_context_and_the_delivery_outcome() {
        for erase in [false, true] {
            let recorder = SpanRecorder::new();
            let seen = send_with_hooks(&recorder, erase, Some(Ok((3, 7))));
            assert_eq!(
                seen,
                ["request orders Some([107]) Some(\"acme\") true", "response Delivered { partition: 3, offset: 7 }"]
            );
            recorder
                .spans()
                .one("send orders")
                .assert_attr("app.tenant", "acme")
                .assert_attr("app.delivered", true)
                .assert_attr("messaging.kafka.offset", 7)
                .assert_attr("messaging.destination.partition.id", "3");

            let recorder = SpanRecorder::new();
            let error = KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull);
            let seen = send_with_hooks(&recorder, erase, Some(Err(&error)));
            assert!(seen[1].starts_with("response Failed(") && seen[1].contains("QueueFull"), "{seen:?}");
            recorder
                .spans()
                .one("send orders")
                .assert_attr("app.delivered", false)
                .assert_attr("error.type", "QueueFull");
        }
    }

    #[test]
    fn hooks_are_not_called_for_spans_that_do_not_record_nor_without_a_report() {
        let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
        assert!(send_with_hooks(&recorder, true, Some(Ok((0, 1)))).is_empty());
        assert!(send_with_hooks(&recorder, false, Some(Ok((0, 1)))).is_empty());
        let recorder = SpanRecorder::new();
        let seen = send_with_hooks(&recorder, true, None);
        assert_eq!(seen.len(), 1, "the request hook only: {seen:?}");
        recorder.spans().one("send orders").assert_attr("app.tenant", "acme").assert_no_attr("app.delivered");
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
