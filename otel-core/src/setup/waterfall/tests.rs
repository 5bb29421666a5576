use super::*;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
}

fn span(id: u64, parent: u64, service: &str, name: &str, start: u64, end: u64) -> WaterfallSpan {
    WaterfallSpan {
        trace_id: TraceId::from(TRACE),
        span_id: SpanId::from(id),
        parent_span_id: if parent == 0 { SpanId::INVALID } else { SpanId::from(parent) },
        parent_is_remote: false,
        service: Arc::from(service),
        name: name.to_owned(),
        start: at(start),
        end: at(end),
        error: None,
    }
}

fn remote(mut span: WaterfallSpan) -> WaterfallSpan {
    span.parent_is_remote = true;
    span
}

fn failed(mut span: WaterfallSpan, error: &str) -> WaterfallSpan {
    span.error = Some(error.to_owned());
    span
}

/// A checkout calling an order service in another process: the order service's server span
/// continues the client span remotely, and 510 ms inside it are covered by no span.
fn checkout() -> Vec<WaterfallSpan> {
    vec![
        failed(span(5, 3, "orders", "publish order.created", 560, 575), "timeout"),
        span(4, 3, "orders", "SELECT orders", 30, 50),
        remote(span(3, 2, "orders", "GET /orders/{id}", 20, 580)),
        span(2, 1, "frontend", "GET", 10, 590),
        span(1, 0, "frontend", "GET /checkout", 0, 600),
    ]
}

fn plain(width: usize) -> RenderOptions {
    RenderOptions { width, ..RenderOptions::default() }
}

#[test]
fn renders_a_distributed_trace_with_a_gap_and_an_error() {
    let text = render(&checkout(), Completeness::Complete, &plain(100));
    let expected = "\
trace 4bf92f3577b34da6a3ce929d0e0e4736  5 spans  600.0 ms
  frontend  GET /checkout                 600.0 ms  │██████████████████████████████████████████████│
  frontend    GET                         580.0 ms  │██████████████████████████████████████████████│
  orders        GET /orders/{id}          560.0 ms  │ ████████████████████████████████████████████ │
  orders          SELECT orders            20.0 ms  │  ██                                          │
  orders          (untraced gap)          510.0 ms  │   ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░   │
✗ orders          publish order.created    15.0 ms  │                                          ███ │ timeout

";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn renders_a_trace_continued_from_a_remote_parent_under_its_trace_id() {
    let spans =
        vec![span(4, 3, "orders", "SELECT orders", 30, 50), remote(span(3, 2, "orders", "GET /orders/{id}", 20, 80))];
    let text = render(&spans, Completeness::Complete, &plain(80));
    let expected = "\
trace 4bf92f3577b34da6a3ce929d0e0e4736  2 spans  60.0 ms  (continues remote parent 0000000000000002)
  orders  GET /orders/{id}    60.0 ms  │███████████████████████████████████████│
  orders    SELECT orders     20.0 ms  │      ██████████████                   │
  orders    (untraced gap)    30.0 ms  │                   ░░░░░░░░░░░░░░░░░░░░│

";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn renders_incomplete_traces_orphans_tiny_durations_and_long_names() {
    let long = "x".repeat(80);
    let spans = vec![
        span(2, 1, "svc", "child of a parent still running", 0, 1),
        span(3, 9, "a-service-with-a-very-long-name", &long, 1, 2),
        WaterfallSpan { end: at(2) - Duration::from_nanos(999_999), ..span(4, 3, "svc", "tiny", 1, 1) },
    ];
    let text = render(&spans, Completeness::Incomplete, &plain(100));
    let expected = "\
trace 4bf92f3577b34da6a3ce929d0e0e4736  3 spans  2.0 ms  (incomplete)
  svc                   child of a parent still running                      1.0 ms  │███████      │
  a-service-with-a-ve…  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…     1.0 ms  │      ███████│
  svc                     tiny                                                 1 ns  │      █      │

";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn renders_colors_only_when_asked() {
    let colored = render(&checkout(), Completeness::Complete, &RenderOptions { color: true, ..plain(100) });
    assert!(colored.contains("\x1b[31m✗\x1b[0m"), "errors in red");
    assert!(colored.contains("\x1b[1mtrace "), "bold header");
    assert!(colored.contains("\x1b[33m│   ░"), "gaps in yellow");
    let uncolored = render(&checkout(), Completeness::Complete, &plain(100));
    assert!(!uncolored.contains('\x1b'));
    assert_eq!(strip_ansi(&colored), uncolored, "colors change nothing else");
}

#[test]
fn rendering_hostile_input_does_not_panic() {
    let mut spans = checkout();
    // A cycle, a span that ends before it starts, a span that is its own parent, a zero width.
    spans.push(span(7, 8, "x", "cycle a", 100, 200));
    spans.push(span(8, 7, "x", "cycle b", 100, 200));
    spans.push(span(9, 9, "x", "self", 700, 100));
    spans.push(span(10, 1, "x", "", 0, 0));
    for width in [0, 1, 30, 500] {
        let text = render(&spans, Completeness::Complete, &plain(width));
        assert_eq!(text.lines().count(), 1 + spans.len() + 1 + 1, "every span once, one gap, blank line:\n{text}");
    }
    assert_eq!(render(&[], Completeness::Complete, &plain(80)), "");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn assembler(limits: Limits) -> (Assembler, Arc<AtomicU64>) {
    let dropped = Arc::new(AtomicU64::new(0));
    (Assembler::new(limits, dropped.clone()), dropped)
}

fn with_trace(mut span: WaterfallSpan, trace: u128) -> WaterfallSpan {
    span.trace_id = TraceId::from(trace);
    span
}

#[test]
fn unfinished_traces_are_bounded() {
    let limits = Limits { max_traces: 8, max_spans_per_trace: 4, ..Limits::default() };
    let (mut assembler, dropped) = assembler(limits);
    let start = Instant::now();
    // 1000 traces whose local root never ends: each holds one child waiting for its parent.
    for trace in 1..=1000u128 {
        assembler.add(with_trace(span(2, 1, "svc", "child", 0, 1), trace), start + Duration::from_millis(trace as u64));
        assert!(assembler.traces.len() <= 8);
    }
    assert_eq!(dropped.load(Ordering::Relaxed), 992, "the oldest traces were dropped, and counted");
    assert!(assembler.traces.contains_key(&TraceId::from(1000)) && !assembler.traces.contains_key(&TraceId::from(1)));

    // One trace cannot grow without bound either.
    for id in 10..110 {
        assembler.add(with_trace(span(id, 1, "svc", "many", 0, 1), 1000), start + Duration::from_secs(2));
    }
    assert_eq!(assembler.traces[&TraceId::from(1000)].spans.len(), 4);
    assert_eq!(dropped.load(Ordering::Relaxed), 992 + 97);

    // Nothing is ready before its root ends; after the longest wait they go out as incomplete.
    assert!(assembler.take_ready(start + Duration::from_secs(3)).is_empty());
    let late = assembler.take_ready(start + Duration::from_secs(60));
    assert_eq!(late.len(), 8);
    assert!(late.iter().all(|(_, c)| *c == Completeness::Incomplete));
    assert!(assembler.traces.is_empty());
}

#[test]
fn a_trace_is_printed_once_its_root_ended_after_the_linger() {
    let limits = Limits { linger: Duration::from_millis(500), ..Limits::default() };
    let (mut assembler, _) = assembler(limits);
    let t = Instant::now();
    let ms = |n| t + Duration::from_millis(n);
    // The order service's spans arrive first (its server span continues a remote parent)...
    assembler.add(span(4, 3, "orders", "SELECT orders", 30, 50), ms(0));
    assembler.add(remote(span(3, 2, "orders", "GET /orders/{id}", 20, 580)), ms(10));
    // ...then, within the linger, the caller's client span, whose own parent is still running.
    assembler.add(span(2, 1, "frontend", "GET", 10, 590), ms(200));
    assert!(assembler.take_ready(ms(1_000)).is_empty(), "the local root has not ended");
    assembler.add(span(1, 0, "frontend", "GET /checkout", 0, 600), ms(1_100));
    assert!(assembler.take_ready(ms(1_500)).is_empty(), "late children may still come");
    let ready = assembler.take_ready(ms(1_600));
    assert_eq!(ready.len(), 1);
    assert_eq!((ready[0].0.len(), ready[0].1), (4, Completeness::Complete), "one trace, whole");

    // A trace continued from another process, whose caller is not in this process.
    assembler.add(with_trace(remote(span(3, 2, "orders", "GET", 0, 10)), 2), ms(2_000));
    assert_eq!(assembler.take_complete().len(), 1, "flush skips the linger");
}

/// A shared in-memory writer.
fn buffer_waterfall() -> (Waterfall, SharedBuffer) {
    let buffer = SharedBuffer::default();
    let waterfall = Waterfall::builder().writer(buffer.clone()).width(100).linger(Duration::from_millis(50)).build();
    (waterfall, buffer)
}

#[test]
fn providers_of_several_services_print_one_distributed_trace_once() {
    let (waterfall, buffer) = buffer_waterfall();
    let provider = |service: &'static str| {
        let resource = Resource::builder_empty().with_service_name(service).build();
        SdkTracerProvider::builder().with_resource(resource).with_simple_exporter(waterfall.exporter()).build()
    };
    let (frontend, orders) = (provider("frontend"), provider("orders"));
    let propagator = crate::propagation::StrictTraceContextPropagator::new();

    let tracer = frontend.tracer("test");
    let root = tracer.span_builder("GET /checkout").with_kind(SpanKind::Server).start(&tracer);
    let root_cx = Context::new().with_span(root);
    let client = tracer.span_builder("GET").with_kind(SpanKind::Client).start_with_context(&tracer, &root_cx);
    let client_cx = root_cx.with_span(client);
    let mut headers = std::collections::HashMap::new();
    propagator.inject_context(&client_cx, &mut headers);

    let orders_tracer = orders.tracer("test");
    let incoming = propagator.extract(&headers);
    let mut server = orders_tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .start_with_context(&orders_tracer, &incoming);
    server.set_status(Status::error("database down"));
    server.set_attribute(KeyValue::new("error.type", "500"));
    server.end();
    client_cx.span().end();
    root_cx.span().end();

    waterfall.flush(Duration::from_secs(10)).expect("flushed");
    let text = buffer.contents();
    assert_eq!(text.matches("trace ").count(), 1, "one trace:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains(&root_cx.span().span_context().trace_id().to_string()) && lines[0].contains("3 spans"));
    assert!(lines[1].contains("frontend  GET /checkout"), "{text}");
    assert!(lines[2].contains("frontend    GET "), "{text}");
    assert!(lines[3].starts_with("✗ orders") && lines[3].contains("      GET /orders/{id}"), "{text}");
    assert!(lines[3].ends_with("database down"), "{text}");

    let _ = frontend.shutdown();
    let _ = orders.shutdown();
}

#[test]
fn spans_are_printed_after_the_linger_without_a_flush() {
    let (waterfall, buffer) = buffer_waterfall();
    let provider = SdkTracerProvider::builder().with_simple_exporter(waterfall.exporter()).build();
    provider.tracer("t").in_span("work", |_| {});
    let deadline = Instant::now() + Duration::from_secs(20);
    while !buffer.contents().contains("work") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = buffer.contents();
    assert!(text.contains("  unknown_service:") && text.contains("  work  "), "the SDK's default name:\n{text}");
    assert_eq!(waterfall.dropped_spans(), 0);
}

/// A writer stuck until the gate opens: a terminal nobody reads.
struct Stuck(Arc<std::sync::Mutex<()>>);

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        drop(self.0.lock());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_terminal_never_blocks_the_application() {
    let gate = Arc::new(std::sync::Mutex::new(()));
    let closed = gate.lock().expect("gate");
    let waterfall = Waterfall::builder().writer(Stuck(gate.clone())).build();
    waterfall.submit(vec![span(1, 0, "svc", "root", 0, 1)]);
    // The flush makes the worker print, and it gets stuck in `write`.
    assert!(waterfall.flush(Duration::from_millis(200)).is_err(), "the flush times out, it does not hang");
    let started = Instant::now();
    for i in 0..5_000u128 {
        waterfall.submit(vec![with_trace(span(1, 0, "svc", "root", 0, 1), i + 2)]);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "submitting never waits for the terminal");
    assert!(waterfall.dropped_spans() >= 5_000 - 1_024, "a full queue drops: {}", waterfall.dropped_spans());
    drop(closed);
}

#[test]
fn only_the_last_exporter_to_shut_down_prints_incomplete_traces() {
    let (waterfall, buffer) = buffer_waterfall();
    let (first, second) = (waterfall.exporter(), waterfall.exporter());
    waterfall.submit(vec![span(2, 1, "orders", "waiting for its parent", 0, 1)]);
    first.shutdown_with_timeout(Duration::from_secs(10)).expect("flushed");
    first.shutdown_with_timeout(Duration::from_secs(10)).expect("a second shutdown is a no-op");
    assert_eq!(buffer.contents(), "", "another provider may still send the parent");
    second.shutdown_with_timeout(Duration::from_secs(10)).expect("flushed");
    let text = buffer.contents();
    assert!(text.contains("(incomplete)") && text.contains("waiting for its parent"), "{text}");
}
