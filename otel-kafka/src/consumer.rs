//! Processing consumed messages in CONSUMER spans that continue (or link) the producer's trace,
//! and the traced `StreamConsumer` whose messages carry what they need for it.

use crate::hooks::{
    ConsumedBatch, ConsumedMessage, ProcessOutcome, ProcessRequest, ProcessRequestHook, ProcessResponseHook,
};
use crate::messaging::{self, TopicNames};
use crate::metrics::{ConsumerMetrics, ProcessMetric};
use crate::producer::DEFAULT_CLIENT_ID;
use crate::scope;
use futures_util::{Stream, StreamExt};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{FutureExt, Link, Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::internal::span_start::{NewSpan, SamplingHint, start_span};
use otel_core::metrics::{Instruments, MeterSource};
use otel_core::propagation::Propagation;
use otel_core::semconv::http::ERROR_TYPE_PANIC;
use rdkafka::ClientConfig;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{ConsumerContext, DefaultConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::util::{AsyncRuntime, DefaultRuntime};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a process span hangs from. Either way it links to the producer's span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessParent {
    /// The span is a child of the producer's send span: the trace continues through the queue
    /// (a message without a context: a child of the current context, usually a new trace).
    #[default]
    Producer,
    /// The span is a child of the current context (a new trace when there is none) and links to
    /// the producer's span, as the semantic conventions prefer when an ambient span exists.
    Link,
}

/// The settings and tracer that turn message processing into `process {topic}` CONSUMER spans.
///
/// Use it with any consumer (`BaseConsumer`, a partition queue, messages from a channel), or
/// let a [`TracedConsumer`] carry it. Cloning is cheap (one `Arc`).
///
/// ```no_run
/// # async fn run(consumer: rdkafka::consumer::BaseConsumer) {
/// use otel_kafka::ConsumerTracing;
///
/// let tracing = ConsumerTracing::builder().consumer_group("billing").build();
/// if let Some(Ok(message)) = consumer.poll(std::time::Duration::from_secs(1)) {
///     let _ = tracing.process(&message, async |message| handle(message).await).await;
/// }
/// # async fn handle(_: &rdkafka::message::BorrowedMessage<'_>) -> Result<(), std::io::Error> { Ok(()) }
/// # }
/// ```
pub struct ConsumerTracing<T = GlobalTracer> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for ConsumerTracing<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> fmt::Debug for ConsumerTracing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerTracing")
            .field("consumer_group", &self.shared.group)
            .field("client_id", &self.shared.client_id)
            .field("parent", &self.shared.parent)
            .field("queue_time", &self.shared.queue_time)
            .field("propagator", &self.shared.propagator)
            .finish_non_exhaustive()
    }
}

struct Shared<T> {
    tracer: T,
    propagator: Propagation,
    group: Option<StringValue>,
    client_id: Option<StringValue>,
    server: Option<messaging::Server>,
    parent: ProcessParent,
    queue_time: bool,
    /// Whether `TracedConsumer::recv` records a `poll {topic}` receive span.
    receive: bool,
    hint: SamplingHint,
    names: TopicNames,
    receive_names: TopicNames,
    request_hook: Option<ProcessRequestHook>,
    response_hook: Option<ProcessResponseHook>,
    /// Off, or none installed: then no metric work per message.
    metrics: Instruments<ConsumerMetrics>,
}

impl ConsumerTracing {
    /// A builder for the settings.
    pub fn builder() -> ConsumerTracingBuilder {
        ConsumerTracingBuilder::default()
    }
}

impl<T> ConsumerTracing<T> {
    /// The context `message`'s headers carry (read with the configured propagator), on top of the
    /// current context.
    pub fn extract<M: Message>(&self, message: &M) -> Context {
        Context::map_current(|cx| crate::headers::extract_onto(&self.shared.propagator, cx, message))
    }

    /// Wraps a `StreamConsumer` so that its messages come with this tracing.
    pub fn wrap<C: ConsumerContext + 'static, R>(self, consumer: StreamConsumer<C, R>) -> TracedConsumer<C, R, T> {
        TracedConsumer { inner: consumer, tracing: self }
    }
}

impl<T> ConsumerTracing<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Runs `process` on `message` in a `process {topic}` CONSUMER span, attached as the current
    /// context on every poll of its future (spans started inside, database calls for example,
    /// nest under it).
    ///
    /// The span carries `messaging.consumer.group.name`, the partition, offset and key, and the
    /// queue time; an `Err` records `error.type` (the error's type name) and an Error status; the
    /// result is returned unchanged. A panic records `error.type` = `panic`; a future dropped
    /// before the end still ends the span.
    ///
    /// Hooks, when set and the span records: the request hook runs before `process` with
    /// [`ProcessRequest::Message`], the response hook after it returns.
    ///
    /// `process` is any closure returning a future (an `async` closure, or `|m| async move { .. }`),
    /// given `message` for as long as `message` lives: not a closure over every lifetime, which the
    /// compiler cannot prove `Send` inside `tokio::spawn`.
    pub async fn process<'m, M, F, Fut, O, E>(&self, message: &'m M, process: F) -> Result<O, E>
    where
        M: Message,
        F: FnOnce(&'m M) -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        let span = self.start(message);
        if span.recording
            && let Some(hook) = &self.shared.request_hook
        {
            hook.on_request(&span.cx.span(), &ProcessRequest::Message(ConsumedMessage::new(message)));
        }
        let result = process(message).with_context(span.cx.clone()).await;
        span.finish(result.as_ref().err().map(|_| std::any::type_name::<E>()), self.shared.response_hook.as_deref());
        result
    }

    /// Runs `process` on a batch of messages in one `process {topic}` CONSUMER span (`process`
    /// when they come from several topics) that links to every message's context, with
    /// `messaging.batch.message_count`. The span is a child of the current context.
    ///
    /// Hooks, when set and the span records: the request hook runs once, with
    /// [`ProcessRequest::Batch`] (every message of the batch), the response hook once after
    /// `process` returns.
    pub async fn process_batch<'m, M, F, Fut, O, E>(&self, messages: &'m [M], process: F) -> Result<O, E>
    where
        M: Message,
        F: FnOnce(&'m [M]) -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        let span = self.start_batch(messages);
        if span.recording
            && let Some(hook) = &self.shared.request_hook
        {
            hook.on_request(&span.cx.span(), &ProcessRequest::Batch(ConsumedBatch::new(&messages)));
        }
        let result = process(messages).with_context(span.cx.clone()).await;
        span.finish(result.as_ref().err().map(|_| std::any::type_name::<E>()), self.shared.response_hook.as_deref());
        result
    }

    fn start<M: Message>(&self, message: &M) -> ProcessSpan<'_> {
        let shared = &*self.shared;
        // Read once: a `BorrowedMessage` checks the topic's UTF-8 on every call.
        let topic = message.topic();
        let (name, destination) = shared.names.get(topic);
        let span = NewSpan::new(name, SpanKind::Consumer);
        // The span links to the message's creation context in either mode, also when that context
        // is its parent (the messaging conventions: SHOULD), so a backend finds the producer the
        // same way for a single message and for a batch.
        let with_link = |span: NewSpan, link: Option<Link>| match link {
            Some(link) => span.with_links(vec![link]),
            None => span,
        };
        let started = Context::map_current(|current| match shared.parent {
            ProcessParent::Producer => {
                let parent = crate::headers::extract_onto(&shared.propagator, current, message);
                let span = with_link(span, creation_link(&parent));
                start_span(&shared.tracer, span, &parent, &shared.hint, || shared.attributes(message, destination))
            }
            ProcessParent::Link => {
                let span = with_link(span, shared.creation_link(message));
                start_span(&shared.tracer, span, current, &shared.hint, || shared.attributes(message, destination))
            }
        });
        // Sampled or not: the message is delivered to the application, and its processing timed
        // (from after the span: the first span after an installation tells the global meter to
        // look).
        let metric = shared.metrics.with(|metrics| metrics.start_message(topic, message.partition()));
        ProcessSpan { cx: started.cx, recording: started.recording, ended: false, metric, metrics: &shared.metrics }
    }

    fn start_batch<M: Message>(&self, messages: &[M]) -> ProcessSpan<'_> {
        let shared = &*self.shared;
        let topic = messages.first().map(Message::topic).filter(|t| messages.iter().all(|m| m.topic() == *t));
        let name = match topic {
            Some(topic) => format!("process {topic}"),
            None => "process".to_owned(),
        };
        let links = messages.iter().filter_map(|message| shared.creation_link(message)).collect();
        let span = NewSpan::new(name, SpanKind::Consumer).with_links(links);
        let attributes = || {
            let mut attributes = Vec::with_capacity(9);
            messaging::operation(&mut attributes, "process");
            if let Some(topic) = topic {
                attributes.push(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, topic.to_owned()));
            }
            attributes.push(KeyValue::new(semconv::MESSAGING_BATCH_MESSAGE_COUNT, messages.len() as i64));
            shared.client(&mut attributes);
            attributes
        };
        let started =
            Context::map_current(|current| start_span(&shared.tracer, span, current, &shared.hint, attributes));
        let metric = shared.metrics.with(|metrics| shared.start_batch_metric(metrics, messages, topic));
        ProcessSpan { cx: started.cx, recording: started.recording, ended: false, metric, metrics: &shared.metrics }
    }
}

impl<T> Shared<T> {
    /// Counts a batch's messages as consumed (one point per run of messages of the same topic and
    /// partition) and starts timing its processing: with the topic when it has only one, and the
    /// partition when it has only one of that topic.
    fn start_batch_metric<M: Message>(
        &self,
        metrics: &ConsumerMetrics,
        messages: &[M],
        topic: Option<&str>,
    ) -> ProcessMetric {
        let mut rest = messages;
        while let Some(first) = rest.first() {
            let same = |m: &M| m.partition() == first.partition() && m.topic() == first.topic();
            let run = rest.iter().take_while(|m| same(m)).count();
            metrics.consumed(run as u64, first.topic(), first.partition());
            rest = &rest[run..];
        }
        let partition = topic.and_then(|_| {
            let first = messages.first()?.partition();
            messages.iter().all(|m| m.partition() == first).then_some(first)
        });
        metrics.start_process(topic, partition)
    }

    fn attributes(&self, message: &impl Message, destination: StringValue) -> Vec<KeyValue> {
        let key = messaging::key(message.key());
        let tombstone = messaging::tombstone(message.payload().is_some());
        let queue_time = self.queue_time.then(|| queue_time(message)).flatten();
        let optional =
            [key.is_some(), tombstone.is_some(), self.group.is_some(), self.client_id.is_some(), queue_time.is_some()];
        // Exactly what the span ends with, `error.type` included should processing fail.
        let server = if self.server.is_some() { 2 } else { 0 };
        let mut attributes = Vec::with_capacity(6 + optional.iter().filter(|&&some| some).count() + server + 1);
        messaging::operation(&mut attributes, "process");
        attributes.push(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination));
        attributes.push(messaging::partition(message.partition()));
        attributes.push(KeyValue::new(semconv::MESSAGING_KAFKA_OFFSET, message.offset()));
        attributes.extend(key);
        attributes.extend(tombstone);
        self.client(&mut attributes);
        attributes.extend(queue_time.map(|queue_time| KeyValue::new(messaging::QUEUE_TIME, queue_time)));
        attributes
    }

    /// A link to the context `message`'s headers carry (its creation context), if any.
    fn creation_link(&self, message: &impl Message) -> Option<Link> {
        creation_link(&crate::headers::extract_onto(&self.propagator, &Context::new(), message))
    }

    /// `messaging.consumer.group.name`, `messaging.client.id` and `server.address` /
    /// `server.port`, when known.
    fn client(&self, attributes: &mut Vec<KeyValue>) {
        if let Some(group) = &self.group {
            attributes.push(KeyValue::new(semconv::MESSAGING_CONSUMER_GROUP_NAME, group.clone()));
        }
        if let Some(client_id) = &self.client_id {
            attributes.push(KeyValue::new(semconv::MESSAGING_CLIENT_ID, client_id.clone()));
        }
        if let Some(server) = &self.server {
            server.record(attributes);
        }
    }
}

impl<T: Tracer> Shared<T> {
    /// A `poll {topic}` span from `started` to now for what `recv` returned: the message's
    /// attributes and a link to its creation context, or the error.
    fn record_receive(&self, started: SystemTime, received: &KafkaResult<BorrowedMessage<'_>>) {
        // A clock set back during the wait gives zero.
        let elapsed = started.elapsed().unwrap_or_default();
        let mut builder = self.tracer.span_builder("poll").with_kind(SpanKind::Client).with_start_time(started);
        let mut attributes = Vec::with_capacity(12);
        let mut failure = None;
        messaging::operation_named(&mut attributes, "poll", "receive");
        let outcome = match received {
            Ok(message) => {
                let topic = message.topic();
                let (name, destination) = self.receive_names.get(topic);
                builder.name = name;
                attributes.push(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination));
                attributes.push(messaging::partition(message.partition()));
                attributes.push(KeyValue::new(semconv::MESSAGING_KAFKA_OFFSET, message.offset()));
                if let Some(link) = self.creation_link(message) {
                    builder = builder.with_links(vec![link]);
                }
                Ok((topic, message.partition()))
            }
            Err(error) => {
                let (error_type, status) = messaging::kafka_failure(error);
                attributes.push(error_type);
                failure = Some(status);
                Err(error)
            }
        };
        self.client(&mut attributes);
        let mut span = builder.with_attributes(attributes).start_with_context(&self.tracer, &Context::current());
        // After the span: the first span after an installation tells the global meter to look.
        self.metrics.with(|metrics| metrics.received(elapsed, outcome));
        if let Some(status) = failure {
            span.set_status(status);
        }
        span.end();
    }
}

/// A link to the span context `cx` holds when it came from a message's headers (remote), never
/// to an ambient local span.
fn creation_link(cx: &Context) -> Option<Link> {
    let span = cx.span();
    let context = span.span_context();
    (context.is_valid() && context.is_remote()).then(|| Link::with_context(context.clone()))
}

/// Seconds from the message's timestamp (create or log-append time, in milliseconds) to now;
/// never negative (the producer's clock may be ahead).
fn queue_time(message: &impl Message) -> Option<f64> {
    let timestamp = message.timestamp().to_millis()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis();
    let ms = i64::try_from(now).ok()?.saturating_sub(timestamp).max(0);
    Some(ms as f64 / 1000.0)
}

/// A started process span; ends exactly once, when processing returns or on drop. Its metric
/// (when metrics are on) is recorded then too, whether or not the span records.
struct ProcessSpan<'s> {
    cx: Context,
    recording: bool,
    ended: bool,
    metric: Option<ProcessMetric>,
    metrics: &'s Instruments<ConsumerMetrics>,
}

impl ProcessSpan<'_> {
    /// Ends the span as processing returned (an error's type name for an `Err`), after calling
    /// the response hook, if any.
    fn finish(
        mut self,
        error_type: Option<&'static str>,
        response_hook: Option<&dyn for<'a> ResponseHook<ProcessOutcome<'a>>>,
    ) {
        self.ended = true;
        if let Some(metric) = self.metric.take() {
            self.metrics.with(|metrics| metric.finish(metrics, error_type));
        }
        if !self.recording {
            return;
        }
        let span = self.cx.span();
        if let Some(hook) = response_hook {
            let outcome = match error_type {
                Some(error_type) => ProcessOutcome::Err { error_type },
                None => ProcessOutcome::Ok,
            };
            hook.on_response(&span, &outcome);
        }
        if let Some(error_type) = error_type {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
            span.set_status(Status::error("processing failed"));
        }
        span.end();
    }
}

impl Drop for ProcessSpan<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let panicking = std::thread::panicking();
        if let Some(metric) = self.metric.take() {
            // As the span: `panic` for a panic, nothing for processing that was cancelled.
            self.metrics.with(|metrics| metric.finish(metrics, panicking.then_some(ERROR_TYPE_PANIC)));
        }
        if !self.recording {
            return;
        }
        let span = self.cx.span();
        if panicking {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, ERROR_TYPE_PANIC));
            span.set_status(Status::error("processing panicked"));
        }
        span.end();
    }
}

/// Settings of a [`ConsumerTracing`] (and of a [`TracedConsumer`]).
///
/// Defaults: the global tracer provider and propagator; process spans are children of the
/// producer's span ([`ProcessParent::Producer`]) and record the queue time; no consumer group or
/// client id unless given (or read from the configuration); no hooks; metrics with the global
/// meter provider (when one is installed).
pub struct ConsumerTracingBuilder<T = GlobalTracer> {
    tracer: T,
    propagator: Propagation,
    group: Option<StringValue>,
    client_id: Option<StringValue>,
    server: Option<messaging::Server>,
    parent: ProcessParent,
    queue_time: bool,
    receive: bool,
    request_hook: Option<ProcessRequestHook>,
    response_hook: Option<ProcessResponseHook>,
    meter: MeterSource,
}

impl Default for ConsumerTracingBuilder {
    fn default() -> Self {
        Self {
            tracer: GlobalTracer::new(scope()),
            propagator: Propagation::Global,
            group: None,
            client_id: None,
            server: None,
            parent: ProcessParent::Producer,
            queue_time: true,
            receive: false,
            request_hook: None,
            response_hook: None,
            meter: MeterSource::Global,
        }
    }
}

impl<T> ConsumerTracingBuilder<T> {
    /// Uses `provider` instead of the global one.
    pub fn tracer_provider<P: TracerProvider>(self, provider: &P) -> ConsumerTracingBuilder<P::Tracer> {
        ConsumerTracingBuilder {
            tracer: provider.tracer_with_scope(scope()),
            propagator: self.propagator,
            group: self.group,
            client_id: self.client_id,
            server: self.server,
            parent: self.parent,
            queue_time: self.queue_time,
            receive: self.receive,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            meter: self.meter,
        }
    }

    /// Uses `propagator` instead of the global one (read when each message is processed).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Propagation::new(propagator);
        self
    }

    /// Reads `messaging.consumer.group.name` (`group.id`), `messaging.client.id` (`client.id`,
    /// librdkafka's default `rdkafka` when unset) and `server.address` / `server.port` (the first
    /// of `bootstrap.servers`) from the consumer's configuration.
    pub fn client_config(mut self, config: &ClientConfig) -> Self {
        self.server = messaging::Server::from_config(config);
        if let Some(group) = config.get("group.id") {
            self = self.consumer_group(group);
        }
        self.client_id(config.get("client.id").unwrap_or(DEFAULT_CLIENT_ID))
    }

    /// Sets `messaging.consumer.group.name`.
    pub fn consumer_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(StringValue::from(Arc::<str>::from(group.into())));
        self
    }

    /// Sets `messaging.client.id`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(StringValue::from(Arc::<str>::from(client_id.into())));
        self
    }

    /// Whether a process span is the producer's child (the default) or links to it.
    pub fn parent(mut self, parent: ProcessParent) -> Self {
        self.parent = parent;
        self
    }

    /// Whether to record `otel_rust.messaging.queue_time`: the seconds from the message's
    /// timestamp to the start of processing. On by default.
    pub fn queue_time(mut self, enabled: bool) -> Self {
        self.queue_time = enabled;
        self
    }

    /// Whether [`TracedConsumer::recv`] records a `poll {topic}` span (CLIENT, operation type
    /// `receive`) covering the wait for each message, linked to the message's creation context:
    /// for users who want poll time in the trace. With metrics on, each `recv` then also records
    /// its duration in `messaging.client.operation.duration` (operation `poll`, type `receive`).
    /// Off by default (the process span is the message's work; a loop that waits for traffic
    /// would otherwise fill traces, and the receive durations, with waits).
    pub fn receive_spans(mut self, enabled: bool) -> Self {
        self.receive = enabled;
        self
    }

    /// Calls `hook` with each `process` span and what it processes ([`ProcessRequest`]: the
    /// message, or the batch, with topic, partition, offset, key, payload, timestamp and headers)
    /// when the span starts, before the user's processing runs; for example to add an attribute
    /// from a header. Once per span: for a batch, once with every message.
    ///
    /// Only for spans that record: an unsampled message never calls it. Receive (`poll`) spans do
    /// not call it. A closure `|span: &SpanRef<'_>, request: &ProcessRequest<'_>| ..` is a hook.
    pub fn request_hook(mut self, hook: impl for<'a> RequestHook<ProcessRequest<'a>>) -> Self {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with each `process` span and how processing returned ([`ProcessOutcome`]:
    /// `Ok`, or `Err` with the error's type name) once, just before the span ends.
    ///
    /// Only for spans that record, and only when processing returns: processing that panics or
    /// whose future is dropped ends its span without calling it. A closure
    /// `|span: &SpanRef<'_>, outcome: &ProcessOutcome<'_>| ..` is a hook.
    pub fn response_hook(mut self, hook: impl for<'a> ResponseHook<ProcessOutcome<'a>>) -> Self {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Records `messaging.process.duration` and `messaging.client.consumed.messages` (and, with
    /// [`receive_spans`](Self::receive_spans), the receive's `messaging.client.operation.duration`)
    /// for every message, sampled or not, with the global meter provider (`true`, the default;
    /// nothing is recorded while no meter provider is installed), or not
    /// at all (`false`: no metric work per message).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.meter = MeterSource::enabled(enabled);
        self
    }

    /// Records the metrics with `provider`'s meter (and turns them on).
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.meter = MeterSource::provider(provider, scope());
        self
    }

    /// The tracing, for use with any consumer.
    pub fn build(self) -> ConsumerTracing<T> {
        let (group, server) = (self.group.clone(), self.server.clone());
        let metrics =
            self.meter.instruments(scope(), move |meter| ConsumerMetrics::new(meter, group.clone(), server.clone()));
        let shared = Shared {
            tracer: self.tracer,
            propagator: self.propagator,
            group: self.group,
            client_id: self.client_id,
            server: self.server,
            parent: self.parent,
            queue_time: self.queue_time,
            receive: self.receive,
            hint: SamplingHint::new(false),
            names: TopicNames::new("process"),
            receive_names: TopicNames::new("poll"),
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            metrics,
        };
        ConsumerTracing { shared: Arc::new(shared) }
    }

    /// Wraps `consumer`.
    pub fn wrap<C: ConsumerContext + 'static, R>(self, consumer: StreamConsumer<C, R>) -> TracedConsumer<C, R, T> {
        self.build().wrap(consumer)
    }
}

/// A `StreamConsumer` whose messages come with their trace context and a
/// [`process`](TracedMessage::process) method that runs the user's code in a CONSUMER span.
///
/// Receiving creates no span (nothing is recorded for messages merely fetched); every other
/// consumer method (`subscribe`, `commit_message`, `assign`) is reached through `Deref`.
///
/// ```no_run
/// # async fn run() -> rdkafka::error::KafkaResult<()> {
/// use rdkafka::ClientConfig;
/// use rdkafka::consumer::Consumer;
/// use rdkafka::message::Message;
/// use otel_kafka::TracedConsumer;
///
/// let consumer = TracedConsumer::from_config(
///     ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9092").set("group.id", "billing"),
/// )?;
/// consumer.subscribe(&["orders"])?;
/// loop {
///     let message = consumer.recv().await?;
///     let outcome = message
///         .process(async |message| {
///             // span "process orders", a child of the producer's "send orders"
///             let payload = message.payload().unwrap_or_default();
///             Ok::<_, std::io::Error>(payload.len())
///         })
///         .await;
/// }
/// # }
/// ```
pub struct TracedConsumer<C = DefaultConsumerContext, R = DefaultRuntime, T = GlobalTracer>
where
    C: ConsumerContext + 'static,
{
    inner: StreamConsumer<C, R>,
    tracing: ConsumerTracing<T>,
}

impl<C: ConsumerContext + 'static, R, T> fmt::Debug for TracedConsumer<C, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedConsumer").field("tracing", &self.tracing).finish_non_exhaustive()
    }
}

impl<C: ConsumerContext + 'static, R, T> Deref for TracedConsumer<C, R, T> {
    type Target = StreamConsumer<C, R>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl TracedConsumer {
    /// Creates a `StreamConsumer` from `config` and wraps it with the global tracer provider and
    /// propagator; the consumer group and client id come from the configuration.
    pub fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        let inner = StreamConsumer::from_config_and_context(config, DefaultConsumerContext)?;
        Ok(ConsumerTracing::builder().client_config(config).wrap(inner))
    }
}

impl<C: ConsumerContext + 'static, R, T> TracedConsumer<C, R, T> {
    /// The wrapped consumer.
    pub fn inner(&self) -> &StreamConsumer<C, R> {
        &self.inner
    }

    /// The tracing its messages use (for [`ConsumerTracing::process_batch`], for example).
    pub fn tracing(&self) -> &ConsumerTracing<T> {
        &self.tracing
    }

    /// Unwraps the consumer.
    pub fn into_inner(self) -> StreamConsumer<C, R> {
        self.inner
    }
}

impl<C, R, T> TracedConsumer<C, R, T>
where
    C: ConsumerContext + 'static,
    R: AsyncRuntime,
{
    /// [`StreamConsumer::recv`]: the next message, with its tracing. Creates no span, unless
    /// [`receive_spans`](ConsumerTracingBuilder::receive_spans) is on: then a `poll {topic}` span
    /// covers the wait.
    pub async fn recv(&self) -> KafkaResult<TracedMessage<'_, T>>
    where
        T: Tracer,
    {
        let started = self.tracing.shared.receive.then(SystemTime::now);
        let received = self.inner.recv().await;
        if let Some(started) = started {
            self.tracing.shared.record_receive(started, &received);
        }
        Ok(TracedMessage { message: received?, tracing: &self.tracing })
    }

    /// [`StreamConsumer::stream`]: the messages, with their tracing. Creates no span (receive spans
    /// are [`recv`](Self::recv)'s only).
    pub fn stream(&self) -> impl Stream<Item = KafkaResult<TracedMessage<'_, T>>> + '_ {
        let tracing = &self.tracing;
        self.inner.stream().map(move |message| message.map(|message| TracedMessage { message, tracing }))
    }
}

/// A consumed message and the tracing that processes it. Dereferences to the `BorrowedMessage`
/// (`payload()`, `key()`, `headers()` as usual).
pub struct TracedMessage<'a, T = GlobalTracer> {
    message: BorrowedMessage<'a>,
    tracing: &'a ConsumerTracing<T>,
}

impl<T> fmt::Debug for TracedMessage<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedMessage").field("message", &self.message).finish_non_exhaustive()
    }
}

impl<'a, T> Deref for TracedMessage<'a, T> {
    type Target = BorrowedMessage<'a>;

    fn deref(&self) -> &Self::Target {
        &self.message
    }
}

impl<'a, T> TracedMessage<'a, T> {
    /// The message.
    pub fn message(&self) -> &BorrowedMessage<'a> {
        &self.message
    }

    /// The message, without its tracing.
    pub fn into_inner(self) -> BorrowedMessage<'a> {
        self.message
    }

    /// An owned copy of the message (its headers included, so it can be processed later with
    /// [`ConsumerTracing::process`]).
    pub fn detach(&self) -> OwnedMessage {
        self.message.detach()
    }

    /// The context the message's headers carry, on top of the current context.
    pub fn context(&self) -> Context {
        self.tracing.extract(&self.message)
    }
}

impl<'a, T> TracedMessage<'a, T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Runs `process` in a `process {topic}` CONSUMER span: see [`ConsumerTracing::process`].
    pub async fn process<'m, F, Fut, O, E>(&'m self, process: F) -> Result<O, E>
    where
        F: FnOnce(&'m BorrowedMessage<'a>) -> Fut,
        Fut: Future<Output = Result<O, E>>,
    {
        self.tracing.process(&self.message, process).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otel_core::propagation::StrictTraceContextPropagator;
    use otel_core::testing::{SpanRecorder, remote_context};
    use rdkafka::message::{Header, OwnedHeaders, Timestamp};

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn message(headers: Option<OwnedHeaders>) -> OwnedMessage {
        OwnedMessage::new(Some(b"x".to_vec()), None, "orders".into(), Timestamp::NotAvailable, 3, 42, headers)
    }

    #[tokio::test]
    async fn owned_messages_are_processed_by_either_closure_form() {
        let recorder = SpanRecorder::new();
        let tracing = ConsumerTracing::builder()
            .tracer_provider(recorder.provider())
            .propagator(StrictTraceContextPropagator::new())
            .consumer_group("billing")
            .build();
        let headers = OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(PARENT) });
        let message = message(Some(headers));
        let len = tracing.process(&message, async |m| Ok::<_, std::io::Error>(m.payload().unwrap().len())).await;
        assert_eq!(len.unwrap(), 1);
        let offset = tracing.process(&message, |m: &OwnedMessage| {
            let offset = m.offset();
            async move { Ok::<_, std::io::Error>(offset) }
        });
        assert_eq!(offset.await.unwrap(), 42);

        let spans = recorder.spans();
        let parent = remote_context(PARENT);
        for span in spans.named("process orders") {
            span.assert_kind(SpanKind::Consumer)
                .assert_remote_parent(parent.span().span_context())
                .assert_attrs_exactly(&[
                    KeyValue::new("messaging.system", "kafka"),
                    KeyValue::new("messaging.operation.name", "process"),
                    KeyValue::new("messaging.operation.type", "process"),
                    KeyValue::new("messaging.destination.name", "orders"),
                    KeyValue::new("messaging.destination.partition.id", "3"),
                    KeyValue::new("messaging.kafka.offset", 42),
                    KeyValue::new("messaging.consumer.group.name", "billing"),
                ]);
        }
        assert_eq!(spans.len(), 2);
    }

    #[tokio::test]
    async fn a_panic_in_processing_ends_the_span_with_error_type_panic() {
        let recorder = SpanRecorder::new();
        let tracing = ConsumerTracing::builder().tracer_provider(recorder.provider()).build();
        let message = message(None);
        let handle = tokio::spawn(async move {
            tracing.process(&message, async |_| -> Result<(), std::io::Error> { panic!("handler bug") }).await
        });
        assert!(handle.await.unwrap_err().is_panic());
        let spans = recorder.spans();
        spans.one("process orders").assert_status_error().assert_attr("error.type", "panic");
    }

    /// Hooks that record what they saw: the tenant header of each message, and each outcome.
    fn hooked(
        recorder: &SpanRecorder,
        seen: &Arc<std::sync::Mutex<Vec<String>>>,
    ) -> ConsumerTracing<opentelemetry_sdk::trace::SdkTracer> {
        let (requests, responses) = (Arc::clone(seen), Arc::clone(seen));
        ConsumerTracing::builder()
            .request_hook(move |span: &opentelemetry::trace::SpanRef<'_>, request: &ProcessRequest<'_>| {
                for message in request.messages() {
                    let tenant = message.headers.value("x-tenant").map(|v| String::from_utf8_lossy(v).into_owned());
                    requests.lock().unwrap().push(format!("request {} {tenant:?}", message.offset));
                    if let Some(tenant) = tenant {
                        span.set_attribute(KeyValue::new("app.tenant", tenant));
                    }
                }
            })
            .response_hook(move |span: &opentelemetry::trace::SpanRef<'_>, outcome: &ProcessOutcome<'_>| {
                responses.lock().unwrap().push(format!("response {outcome:?}"));
                span.set_attribute(KeyValue::new("app.failed", matches!(outcome, ProcessOutcome::Err { .. })));
            })
            // After the hooks: a new provider keeps them.
            .tracer_provider(recorder.provider())
            .propagator(StrictTraceContextPropagator::new())
            .build()
    }

    #[tokio::test]
    async fn hooks_see_the_message_and_how_processing_returned() {
        let recorder = SpanRecorder::new();
        let seen = Arc::default();
        let tracing = hooked(&recorder, &seen);
        let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
        let message = message(Some(headers));
        let failed = tracing.process(&message, async |_| Err::<(), _>(std::io::Error::other("db down"))).await;
        assert_eq!(failed.unwrap_err().to_string(), "db down", "the error passes through");
        assert_eq!(
            *seen.lock().unwrap(),
            ["request 42 Some(\"acme\")", "response Err { error_type: \"std::io::error::Error\" }"]
        );
        recorder
            .spans()
            .one("process orders")
            .assert_attr("app.tenant", "acme")
            .assert_attr("app.failed", true)
            .assert_attr("error.type", "std::io::error::Error");
    }

    #[tokio::test]
    async fn a_batch_calls_each_hook_once_with_every_message() {
        let recorder = SpanRecorder::new();
        let seen = Arc::default();
        let tracing = hooked(&recorder, &seen);
        let headers = OwnedHeaders::new().insert(Header { key: "x-tenant", value: Some("acme") });
        let batch = [message(None), message(Some(headers))];
        // In a spawned task: the future stays `Send` with the hooks' views in it.
        let task =
            tokio::spawn(async move { tracing.process_batch(&batch, async |_| Ok::<_, std::io::Error>(())).await });
        task.await.unwrap().unwrap();
        assert_eq!(*seen.lock().unwrap(), ["request 42 None", "request 42 Some(\"acme\")", "response Ok"]);
        recorder.spans().one("process orders").assert_attr("app.tenant", "acme").assert_attr("app.failed", false);
    }

    #[tokio::test]
    async fn hooks_are_not_called_for_spans_that_do_not_record_nor_after_a_panic() {
        let seen = Arc::default();
        let unsampled = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
        let tracing = hooked(&unsampled, &seen);
        let message = message(None);
        tracing.process(&message, async |_| Ok::<_, std::io::Error>(())).await.unwrap();
        tracing.process_batch(std::slice::from_ref(&message), async |_| Ok::<_, std::io::Error>(())).await.unwrap();
        assert!(seen.lock().unwrap().is_empty(), "{:?}", seen.lock().unwrap());

        let recorder = SpanRecorder::new();
        let tracing = hooked(&recorder, &seen);
        let handle = tokio::spawn(async move {
            tracing.process(&message, async |_| -> Result<(), std::io::Error> { panic!("handler bug") }).await
        });
        assert!(handle.await.unwrap_err().is_panic());
        assert_eq!(*seen.lock().unwrap(), ["request 42 None"], "no response hook after a panic");
        recorder.spans().one("process orders").assert_attr("error.type", "panic").assert_no_attr("app.failed");
    }

    /// The metrics' points of a consumer in group `billing`, without a server.
    fn metered(
        meters: &crate::metrics::tests::Meters,
        sampler: opentelemetry_sdk::trace::Sampler,
    ) -> ConsumerTracing<opentelemetry_sdk::trace::SdkTracer> {
        ConsumerTracing::builder()
            .tracer_provider(SpanRecorder::with_sampler(sampler).provider())
            .consumer_group("billing")
            .meter_provider(meters.provider())
            .build()
    }

    const CONSUMED: &str = "messaging.client.consumed.messages";
    const PROCESS: &str = "messaging.process.duration";
    const GROUP: &str = "messaging.consumer.group.name=billing messaging.destination.name=orders";

    #[tokio::test]
    async fn unsampled_messages_and_batches_are_counted_and_timed() {
        let meters = crate::metrics::tests::Meters::new();
        let tracing = metered(&meters, opentelemetry_sdk::trace::Sampler::AlwaysOff);
        let on = |partition| {
            OwnedMessage::new(Some(b"x".to_vec()), None, "orders".into(), Timestamp::NotAvailable, partition, 1, None)
        };
        tracing.process(&on(3), async |_| Ok::<_, std::io::Error>(())).await.unwrap();
        // Two partitions: counted by partition, timed without one.
        let batch = [on(3), on(3), on(5)];
        tracing.process_batch(&batch, async |_| Ok::<_, std::io::Error>(())).await.unwrap();
        let poll = "messaging.operation.name=poll messaging.system=kafka";
        assert_eq!(
            meters.points(CONSUMED),
            [
                (format!("{GROUP} messaging.destination.partition.id=3 {poll}"), 3),
                (format!("{GROUP} messaging.destination.partition.id=5 {poll}"), 1),
            ]
        );
        let process = "messaging.operation.name=process messaging.system=kafka";
        assert_eq!(
            meters.points(PROCESS),
            [(format!("{GROUP} messaging.destination.partition.id=3 {process}"), 1), (format!("{GROUP} {process}"), 1)]
        );

        // From several topics: no destination.
        let other = OwnedMessage::new(None, None, "payments".into(), Timestamp::NotAvailable, 3, 1, None);
        tracing.process_batch(&[on(3), other], async |_| Ok::<_, std::io::Error>(())).await.unwrap();
        assert!(meters.points(PROCESS).contains(&(format!("messaging.consumer.group.name=billing {process}"), 1)));
    }

    #[tokio::test]
    async fn a_panic_in_processing_is_timed_with_error_type_panic() {
        let meters = crate::metrics::tests::Meters::new();
        let tracing = metered(&meters, opentelemetry_sdk::trace::Sampler::AlwaysOff);
        let message = message(None);
        let handle = tokio::spawn(async move {
            tracing.process(&message, async |_| -> Result<(), std::io::Error> { panic!("handler bug") }).await
        });
        assert!(handle.await.unwrap_err().is_panic());
        let process = "messaging.operation.name=process messaging.system=kafka";
        assert_eq!(
            meters.points(PROCESS),
            [(format!("error.type=panic {GROUP} messaging.destination.partition.id=3 {process}"), 1)]
        );
        assert_eq!(meters.points(CONSUMED).len(), 1);
    }

    #[tokio::test]
    async fn an_unsampled_parent_records_nothing() {
        let recorder = SpanRecorder::with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOn,
        )));
        let tracing = ConsumerTracing::builder()
            .tracer_provider(recorder.provider())
            .propagator(StrictTraceContextPropagator::new())
            .build();
        let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        let headers = OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(unsampled) });
        let message = message(Some(headers));
        let trace = tracing
            .process(&message, async |_| Ok::<_, std::io::Error>(Context::current().span().span_context().trace_id()))
            .await;
        assert_eq!(trace.unwrap().to_string(), "0af7651916cd43dd8448eb211c80319c", "the trace still continues");
        assert!(recorder.spans().is_empty());
    }
}
