//! The terminal waterfall: every finished trace printed as a tree of bars on one time axis.
//!
//! It exists so that a new user sees a trace without running a collector, and so that the time
//! nobody instrumented stands out (a gap line inside a parent).
//!
//! Two pieces, so that several tracer providers in one process (one per service) print each
//! distributed trace once, whole:
//! - [`Waterfall`], the shared sink: a cheaply cloneable handle to one background thread that
//!   groups spans by trace, waits until the trace's root has ended (plus a short linger for late
//!   children), renders it and writes it. Memory is bounded (pending traces, spans per trace,
//!   a bounded queue) and the application never waits for the terminal: a full queue drops spans
//!   and counts them.
//! - [`WaterfallExporter`], one per provider: an `opentelemetry_sdk` span exporter that learns
//!   its `service.name` from the provider's resource and feeds the sink.
//!
//! ```
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use otel_core::setup::waterfall::Waterfall;
//!
//! let waterfall = Waterfall::new(); // stderr, colors when it is a terminal
//! let provider = SdkTracerProvider::builder().with_batch_exporter(waterfall.exporter()).build();
//! provider.tracer("demo").in_span("work", |_| {});
//! provider.shutdown().ok(); // prints what is pending
//! ```
//!
//! [`render`] is the pure layout function behind it.

mod render;

pub use render::{Completeness, RenderOptions, WaterfallSpan, render};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shared sink of the terminal waterfall: clone it into every provider's exporter.
///
/// Dropping the last handle (and every exporter) lets the background thread print what is
/// pending and stop.
#[derive(Clone)]
pub struct Waterfall {
    shared: Arc<Shared>,
}

struct Shared {
    sender: SyncSender<Message>,
    dropped_spans: Arc<AtomicU64>,
    /// Exporters not shut down yet: the last one to shut down prints even incomplete traces.
    open_exporters: AtomicUsize,
}

enum Message {
    Spans(Vec<WaterfallSpan>),
    /// Print now: complete traces, or everything (`all`) at shutdown; then acknowledge.
    Flush {
        all: bool,
        done: SyncSender<()>,
    },
}

impl fmt::Debug for Waterfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waterfall").field("dropped_spans", &self.dropped_spans()).finish_non_exhaustive()
    }
}

impl Default for Waterfall {
    fn default() -> Self {
        Self::new()
    }
}

impl Waterfall {
    /// A waterfall on standard error, in color when standard error is a terminal.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the output, layout and limits.
    pub fn builder() -> WaterfallBuilder {
        WaterfallBuilder::default()
    }

    /// An exporter feeding this waterfall, for one tracer provider. Its service name comes from
    /// the provider's resource (`service.name`).
    pub fn exporter(&self) -> WaterfallExporter {
        self.shared.open_exporters.fetch_add(1, Ordering::Relaxed);
        WaterfallExporter {
            sink: self.clone(),
            service: Arc::from("unknown_service"),
            shut_down: AtomicBool::new(false),
        }
    }

    /// Spans dropped so far because the queue was full, the trace too large, or too many traces
    /// were waiting for their root.
    pub fn dropped_spans(&self) -> u64 {
        self.shared.dropped_spans.load(Ordering::Relaxed)
    }

    /// Hands spans to the background thread without waiting; drops them when the queue is full.
    pub fn submit(&self, spans: Vec<WaterfallSpan>) {
        let count = spans.len() as u64;
        if count == 0 {
            return;
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.shared.sender.try_send(Message::Spans(spans))
        {
            self.shared.dropped_spans.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Prints every trace that is complete now, without the linger wait, and waits (at most
    /// `timeout`) until it is written.
    pub fn flush(&self, timeout: Duration) -> OTelSdkResult {
        self.request_flush(false, timeout)
    }

    /// Prints every pending trace, complete or not (those marked incomplete), and waits (at most
    /// `timeout`) until it is written.
    pub fn flush_all(&self, timeout: Duration) -> OTelSdkResult {
        self.request_flush(true, timeout)
    }

    fn request_flush(&self, all: bool, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let (done, acknowledged) = mpsc::sync_channel(1);
        let mut message = Message::Flush { all, done };
        loop {
            match self.shared.sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return Err(OTelSdkError::AlreadyShutdown),
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return Err(OTelSdkError::Timeout(timeout));
                    }
                    message = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        match acknowledged.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

/// Configures a [`Waterfall`].
///
/// ```
/// use otel_core::setup::waterfall::Waterfall;
/// use std::time::Duration;
///
/// let waterfall = Waterfall::builder()
///     .writer(std::io::stdout())
///     .color(false)
///     .width(120)
///     .linger(Duration::from_millis(200))
///     .build();
/// # drop(waterfall);
/// ```
pub struct WaterfallBuilder {
    writer: Option<Box<dyn Write + Send>>,
    color: Option<bool>,
    render: RenderOptions,
    limits: Limits,
    queue: usize,
}

impl fmt::Debug for WaterfallBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaterfallBuilder")
            .field("custom_writer", &self.writer.is_some())
            .field("color", &self.color)
            .field("render", &self.render)
            .field("limits", &self.limits)
            .field("queue", &self.queue)
            .finish()
    }
}

impl Default for WaterfallBuilder {
    fn default() -> Self {
        Self { writer: None, color: None, render: RenderOptions::default(), limits: Limits::default(), queue: 1024 }
    }
}

/// Limits on what the waterfall holds while it waits for traces to complete.
#[derive(Clone, Debug, PartialEq)]
struct Limits {
    linger: Duration,
    max_wait: Duration,
    max_traces: usize,
    max_spans_per_trace: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
            max_traces: 256,
            max_spans_per_trace: 500,
        }
    }
}

impl WaterfallBuilder {
    /// Where to write (default: standard error). Colors are then off unless [`Self::color`]
    /// turns them on.
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.writer = Some(Box::new(writer));
        self
    }

    /// ANSI colors on or off (default: on when writing to standard error and it is a terminal).
    pub fn color(mut self, color: bool) -> Self {
        self.color = Some(color);
        self
    }

    /// Line width in characters (default 100).
    pub fn width(mut self, width: usize) -> Self {
        self.render.width = width;
        self
    }

    /// A gap line appears when time inside a parent that no child covers is at least `share`
    /// of the parent (default 0.2) and at least `min` long (default 1 ms).
    pub fn gap_threshold(mut self, share: f64, min: Duration) -> Self {
        self.render.gap_share = if share.is_nan() { 1.0 } else { share.clamp(0.0, 1.0) };
        self.render.min_gap = min;
        self
    }

    /// How long to wait after the last span of a complete trace arrived before printing it, for
    /// late children from other providers (default 500 ms).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.limits.linger = linger;
        self
    }

    /// How long a trace may wait for its root to end; then it is printed as incomplete
    /// (default 30 s).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.limits.max_wait = max_wait;
        self
    }

    /// How many traces may wait for their root at once (default 256); beyond that the oldest is
    /// dropped.
    pub fn max_traces(mut self, max_traces: usize) -> Self {
        self.limits.max_traces = max_traces.max(1);
        self
    }

    /// How many spans one trace may hold (default 500); later spans are dropped and counted.
    pub fn max_spans_per_trace(mut self, max_spans: usize) -> Self {
        self.limits.max_spans_per_trace = max_spans.max(1);
        self
    }

    /// Starts the background thread. If the thread cannot start, spans are dropped and counted.
    pub fn build(self) -> Waterfall {
        let (writer, color): (Box<dyn Write + Send>, bool) = match self.writer {
            Some(writer) => (writer, self.color.unwrap_or(false)),
            None => (Box::new(std::io::stderr()), self.color.unwrap_or_else(|| std::io::stderr().is_terminal())),
        };
        let render = RenderOptions { color, ..self.render };
        let (sender, receiver) = mpsc::sync_channel(self.queue.max(1));
        let dropped_spans = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            receiver,
            writer,
            render,
            assembler: Assembler::new(self.limits, dropped_spans.clone()),
            reported_drops: 0,
        };
        // A failed spawn drops the receiver: every submit then counts as dropped.
        let _ = std::thread::Builder::new().name("otel-waterfall".into()).spawn(move || worker.run());
        Waterfall { shared: Arc::new(Shared { sender, dropped_spans, open_exporters: AtomicUsize::new(0) }) }
    }
}

struct Worker {
    receiver: Receiver<Message>,
    writer: Box<dyn Write + Send>,
    render: RenderOptions,
    assembler: Assembler,
    reported_drops: u64,
}

impl Worker {
    fn run(mut self) {
        let tick = (self.assembler.limits.linger / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
        loop {
            match self.receiver.recv_timeout(tick) {
                Ok(Message::Spans(spans)) => {
                    let now = Instant::now();
                    for span in spans {
                        self.assembler.add(span, now);
                    }
                }
                Ok(Message::Flush { all, done }) => {
                    // The queue is in order: every span submitted before the flush is in already.
                    let traces = if all { self.assembler.drain() } else { self.assembler.take_complete() };
                    self.print(traces);
                    let _ = done.try_send(());
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let traces = self.assembler.drain();
                    self.print(traces);
                    return;
                }
            }
            let traces = self.assembler.take_ready(Instant::now());
            self.print(traces);
        }
    }

    fn print(&mut self, traces: Vec<(Vec<WaterfallSpan>, Completeness)>) {
        let mut text = String::new();
        for (spans, completeness) in traces {
            text.push_str(&render(&spans, completeness, &self.render));
        }
        let dropped = self.assembler.dropped.load(Ordering::Relaxed);
        if dropped > self.reported_drops && !text.is_empty() {
            text.push_str(&format!("(waterfall: {} spans dropped so far to keep memory bounded)\n\n", dropped));
            self.reported_drops = dropped;
        }
        if !text.is_empty() {
            // A broken terminal must not take the application down: write errors are ignored.
            let _ = self.writer.write_all(text.as_bytes());
            let _ = self.writer.flush();
        }
    }
}

/// Groups spans by trace and decides when a trace is ready to print. Pure: time comes in.
struct Assembler {
    limits: Limits,
    traces: HashMap<TraceId, Pending>,
    dropped: Arc<AtomicU64>,
}

struct Pending {
    spans: Vec<WaterfallSpan>,
    ids: HashSet<SpanId>,
    first_seen: Instant,
    last_change: Instant,
}

impl Pending {
    /// Complete when every span's parent is here, or is remote, or there is none: nothing local
    /// is still running above a span we hold.
    fn is_complete(&self) -> bool {
        self.spans
            .iter()
            .all(|s| s.parent_span_id == SpanId::INVALID || s.parent_is_remote || self.ids.contains(&s.parent_span_id))
    }
}

impl Assembler {
    fn new(limits: Limits, dropped: Arc<AtomicU64>) -> Self {
        Self { limits, traces: HashMap::new(), dropped }
    }

    fn add(&mut self, span: WaterfallSpan, now: Instant) {
        if !self.traces.contains_key(&span.trace_id) && self.traces.len() >= self.limits.max_traces {
            // Make room: the trace that has waited longest goes.
            if let Some(oldest) = self.traces.iter().min_by_key(|(_, p)| p.first_seen).map(|(id, _)| *id)
                && let Some(evicted) = self.traces.remove(&oldest)
            {
                self.dropped.fetch_add(evicted.spans.len() as u64, Ordering::Relaxed);
            }
        }
        let pending = self.traces.entry(span.trace_id).or_insert_with(|| Pending {
            spans: Vec::new(),
            ids: HashSet::new(),
            first_seen: now,
            last_change: now,
        });
        if pending.spans.len() >= self.limits.max_spans_per_trace {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.ids.insert(span.span_id);
        pending.spans.push(span);
        pending.last_change = now;
    }

    /// Traces complete for at least the linger time, and traces that waited too long.
    fn take_ready(&mut self, now: Instant) -> Vec<(Vec<WaterfallSpan>, Completeness)> {
        let linger = self.limits.linger;
        let max_wait = self.limits.max_wait;
        self.take(|p| {
            if now.saturating_duration_since(p.first_seen) >= max_wait {
                Some(if p.is_complete() { Completeness::Complete } else { Completeness::Incomplete })
            } else if p.is_complete() && now.saturating_duration_since(p.last_change) >= linger {
                Some(Completeness::Complete)
            } else {
                None
            }
        })
    }

    fn take_complete(&mut self) -> Vec<(Vec<WaterfallSpan>, Completeness)> {
        self.take(|p| p.is_complete().then_some(Completeness::Complete))
    }

    fn drain(&mut self) -> Vec<(Vec<WaterfallSpan>, Completeness)> {
        self.take(|p| Some(if p.is_complete() { Completeness::Complete } else { Completeness::Incomplete }))
    }

    fn take(
        &mut self,
        mut ready: impl FnMut(&Pending) -> Option<Completeness>,
    ) -> Vec<(Vec<WaterfallSpan>, Completeness)> {
        let mut out: Vec<(Instant, Vec<WaterfallSpan>, Completeness)> = Vec::new();
        self.traces.retain(|_, pending| match ready(pending) {
            Some(completeness) => {
                out.push((pending.first_seen, std::mem::take(&mut pending.spans), completeness));
                false
            }
            None => true,
        });
        out.sort_by_key(|(first_seen, _, _)| *first_seen);
        out.into_iter().map(|(_, spans, completeness)| (spans, completeness)).collect()
    }
}

/// The span exporter of one tracer provider, feeding a shared [`Waterfall`].
///
/// Exporting never blocks: it converts the spans (keeping only what is printed) and queues them.
/// Shutting down prints the complete traces at once; the last exporter of a shared waterfall to
/// shut down prints the incomplete ones too.
pub struct WaterfallExporter {
    sink: Waterfall,
    service: Arc<str>,
    shut_down: AtomicBool,
}

impl Clone for WaterfallExporter {
    fn clone(&self) -> Self {
        let mut clone = self.sink.exporter();
        clone.service = self.service.clone();
        clone
    }
}

impl fmt::Debug for WaterfallExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaterfallExporter").field("service", &self.service).finish_non_exhaustive()
    }
}

impl WaterfallExporter {
    /// An exporter feeding `sink` (the same as [`Waterfall::exporter`]).
    pub fn new(sink: Waterfall) -> Self {
        sink.exporter()
    }

    /// The service name spans are shown with.
    pub fn service_name(&self) -> &str {
        &self.service
    }

    /// Converts one finished span.
    pub fn convert(&self, span: &SpanData) -> WaterfallSpan {
        let error = match &span.status {
            Status::Error { description } if !description.is_empty() => Some(description.to_string()),
            Status::Error { .. } => Some(
                span.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == "error.type")
                    .map(|kv| kv.value.to_string())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        WaterfallSpan {
            trace_id: span.span_context.trace_id(),
            span_id: span.span_context.span_id(),
            parent_span_id: span.parent_span_id,
            parent_is_remote: span.parent_span_is_remote,
            service: self.service.clone(),
            name: span.name.to_string(),
            start: span.start_time,
            end: span.end_time,
            error,
        }
    }
}

impl SpanExporter for WaterfallExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.sink.submit(batch.iter().map(|span| self.convert(span)).collect());
        std::future::ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        match self.sink.shared.open_exporters.fetch_sub(1, Ordering::Relaxed) {
            1 => self.sink.flush_all(timeout),
            _ => self.sink.flush(timeout),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.sink.flush(Duration::from_secs(5))
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(Value::String(name)) = resource.get(&Key::from_static_str("service.name")) {
            self.service = Arc::from(name.as_str());
        }
    }
}

/// A writer into shared memory, to read what the waterfall printed (tests, embedding).
///
/// ```
/// use otel_core::setup::waterfall::{SharedBuffer, Waterfall};
/// let buffer = SharedBuffer::default();
/// let waterfall = Waterfall::builder().writer(buffer.clone()).build();
/// # drop(waterfall);
/// assert_eq!(buffer.contents(), "");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far (invalid UTF-8 replaced).
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
