//! The future of a traced `FutureProducer` send: the span, the enqueuing with its retries while
//! librdkafka's queue is full, and the wait for the delivery report.

use crate::hooks::{HeadersView, OutgoingRecord};
use crate::producer::{SendSpan, TracedFutureProducer};
use opentelemetry::Context;
use opentelemetry::trace::Tracer;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage, Timestamp, ToBytes};
use rdkafka::producer::FutureRecord;
use rdkafka::producer::future_producer::{DeliveryFuture, OwnedDeliveryResult};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::{AsyncRuntime, Timeout};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::{Duration, Instant};

/// How long a record waits before it is offered again to a full queue (as in rdkafka).
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(100);

/// The future [`TracedFutureProducer::send`] returns; resolves to what `FutureProducer::send`
/// would.
///
/// Written by hand over `FutureProducer::send_result`, to stay small (448 bytes with the SDK's
/// span, 16 of them the metrics' start time): the future of `FutureProducer::send` keeps a timer
/// and a second copy of the record beside the report it waits for (624 bytes); wrapped with the
/// span it made 1,152, and an `async fn` over `send_result` still 752 (it kept the record, the
/// result and the timer side by side). Every send moves its future into a task, so its size is
/// paid on every message. For the same reason the metrics keep only their start time here: the
/// topic and the instruments are found again when the outcome is known.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, C, R, T, K, P>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    producer: &'a TracedFutureProducer<C, R, T>,
    queue_timeout: Timeout,
    /// Started by the first poll, where an `async fn`'s body would start it.
    span: SendSpan<T::Span>,
    /// When the send started, for its metrics (`None` when they are off).
    started: Option<Instant>,
    step: Step<'a, K, P, R::Delay>,
}

enum Step<'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized, D> {
    /// Not polled yet.
    Start(FutureRecord<'a, K, P>),
    /// The queue was full (first at `since`): waiting to offer the record again. The timer is
    /// boxed: only a full queue needs it.
    QueueFull { record: FutureRecord<'a, K, P>, since: Instant, delay: Pin<Box<D>> },
    /// Enqueued: waiting for the delivery report.
    Delivering { report: DeliveryFuture, topic: &'a str },
    /// The result was returned.
    Done,
}

impl<'a, C, R, T, K, P> SendFuture<'a, C, R, T, K, P>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    pub(crate) fn new(
        producer: &'a TracedFutureProducer<C, R, T>,
        record: FutureRecord<'a, K, P>,
        queue_timeout: Timeout,
    ) -> Self {
        Self { producer, queue_timeout, span: SendSpan::not_started(), started: None, step: Step::Start(record) }
    }

    /// Whether a record first refused at `since` may wait for room, as `FutureProducer::send`
    /// decides it.
    fn may_wait(&self, since: Instant) -> bool {
        match self.queue_timeout {
            Timeout::Never => true,
            Timeout::After(limit) => since.elapsed() < limit,
        }
    }

    /// Ends the span with `result`, the one returned, and records the metrics: the record to
    /// `topic` was `sent` when librdkafka had accepted it (the result is its delivery report).
    fn finish(&mut self, topic: &str, result: &OwnedDeliveryResult, sent: bool) {
        self.step = Step::Done;
        let report = result.as_ref().map(|delivery| (delivery.partition, delivery.offset));
        if let Some(start) = self.started.take() {
            let (partition, error) = match result {
                Ok(delivery) => (delivery.partition, None),
                Err((error, message)) => (message.partition(), Some(error)),
            };
            self.producer.shared().record_send(start, topic, Some(partition), error, sent);
        }
        self.span.finish(report.map_err(|(error, _)| error));
    }
}

impl<C, R, T, K, P> Future for SendFuture<'_, C, R, T, K, P>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    type Output = OwnedDeliveryResult;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let since = match &mut this.step {
                Step::Delivering { report, topic } => {
                    let result = match ready!(Pin::new(report).poll(cx)) {
                        Ok(result) => result,
                        // The report's sender is dropped unanswered only when librdkafka destroys
                        // the record without a report (the producer is gone): an error, where
                        // `FutureProducer::send` panics.
                        Err(_canceled) => Err((KafkaError::Canceled, message_to(topic))),
                    };
                    let topic = *topic;
                    this.finish(topic, &result, true);
                    return Poll::Ready(result);
                }
                Step::QueueFull { delay, since, .. } => {
                    ready!(delay.as_mut().poll(cx));
                    Some(*since)
                }
                Step::Start(record) => {
                    // The first poll: the span starts, its context goes into the record's
                    // headers (the record is worked on in place: every move of it is a copy).
                    let key = record.key.map(ToBytes::to_bytes);
                    let shared = this.producer.shared();
                    let span = &mut this.span;
                    // The current context is borrowed, not cloned.
                    Context::map_current(|parent| {
                        *span = shared.start(parent, record.topic, record.partition, key, record.payload.is_some());
                        shared.inject(parent, span.span_context(), &mut record.headers);
                    });
                    // After the span: the first span after an installation tells the global
                    // meter to look.
                    this.started = shared.start_timing();
                    // Outside the borrow of the current context: a hook may attach one.
                    shared.run_request_hook(span, || OutgoingRecord {
                        topic: record.topic,
                        partition: record.partition,
                        key,
                        payload: record.payload.map(ToBytes::to_bytes),
                        timestamp: record.timestamp,
                        headers: HeadersView::of_record(record.headers.as_ref()),
                    });
                    None
                }
                // Polled again after its result: a contract breach, answered without a panic.
                Step::Done => return Poll::Ready(Err((KafkaError::Canceled, message_to("")))),
            };
            // Offer the record to librdkafka's queue.
            let (Step::Start(record) | Step::QueueFull { record, .. }) = std::mem::replace(&mut this.step, Step::Done)
            else {
                continue; // not reached: the step was one of these two just above
            };
            let topic = record.topic;
            match this.producer.inner().send_result(record) {
                Ok(report) => this.step = Step::Delivering { report, topic },
                Err((error @ KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                    let since = since.unwrap_or_else(Instant::now);
                    if !this.may_wait(since) {
                        let result = Err((error, owned_message(record)));
                        this.finish(topic, &result, false);
                        return Poll::Ready(result);
                    }
                    this.step = Step::QueueFull { record, since, delay: Box::pin(R::delay_for(QUEUE_FULL_RETRY)) };
                }
                Err((error, record)) => {
                    let result = Err((error, owned_message(record)));
                    this.finish(topic, &result, false);
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<C, R, T, K, P> Drop for SendFuture<'_, C, R, T, K, P>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    fn drop(&mut self) {
        // Given up while librdkafka has the record (the span ends on its own): still sent.
        if let (Some(_), Step::Delivering { topic, .. }) = (self.started, &self.step) {
            self.producer.shared().record_abandoned(topic);
        }
    }
}

impl<C, R, T, K, P> fmt::Debug for SendFuture<'_, C, R, T, K, P>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Start(_) => "start",
            Step::QueueFull { .. } => "queue full",
            Step::Delivering { .. } => "delivering",
            Step::Done => "done",
        };
        f.debug_struct("SendFuture").field("step", &step).finish_non_exhaustive()
    }
}

/// A record that could not be enqueued, handed back as `FutureProducer::send` does: a copy.
fn owned_message<K, P>(record: FutureRecord<'_, K, P>) -> OwnedMessage
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    OwnedMessage::new(
        record.payload.map(|payload| payload.to_bytes().to_vec()),
        record.key.map(|key| key.to_bytes().to_vec()),
        record.topic.to_owned(),
        record.timestamp.map_or(Timestamp::NotAvailable, Timestamp::CreateTime),
        record.partition.unwrap_or(-1),
        0,
        record.headers,
    )
}

/// An empty message to `topic`, for an error that left no record to hand back.
fn message_to(topic: &str) -> OwnedMessage {
    OwnedMessage::new(None, None, topic.to_owned(), Timestamp::NotAvailable, -1, 0, None)
}
