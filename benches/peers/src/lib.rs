//! What every case of the peers benchmark shares: the counting allocator, the span-dropping
//! exporters (one per SDK version, counting what they drop), the incoming `traceparent`, and the
//! driver that runs a case and prints its numbers.
//!
//! Every bench binary takes `<case> <requests>` (one measured run: allocations per request and the
//! exported span count; run it under callgrind with 0 and N requests for instructions) or
//! `time <case> <requests> <passes>` (CPU ns per request, median and spread over the passes).
#![allow(unsafe_code)] // clock_gettime: only forwards to the system

use otel_core::testing::CountingAllocator;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every allocation and reallocation, on every thread (the batch processor's included).
#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// The incoming trace: every instrumented case must export spans whose parent is this span.
pub const TRACE_ID: u128 = 0x0af7651916cd43dd8448eb211c80319c;
/// The caller's span id.
pub const PARENT_SPAN_ID: u64 = 0xb7ad6b7169203331;
/// The `traceparent` every request carries (sampled by the caller).
pub const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// The `traceparent` of the `-unsampled00` cases: the caller did not sample.
pub const TRACEPARENT_UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

/// The incoming `traceparent` of `case`: sampled, except for `-unsampled00` cases.
pub fn traceparent(case: &str) -> &'static str {
    if case.ends_with("-unsampled00") { TRACEPARENT_UNSAMPLED } else { TRACEPARENT }
}

/// Spans the exporters received, and how many of them had the caller's span as parent.
pub static SPANS: AtomicU64 = AtomicU64::new(0);
/// See [`SPANS`].
pub static PARENTED: AtomicU64 = AtomicU64::new(0);

/// A span-dropping, span-counting exporter and a provider builder for one SDK version.
#[macro_export]
macro_rules! sdk_support {
    ($module:ident, $otel:ident, $sdk:ident) => {
        pub mod $module {
            use $sdk::error::OTelSdkResult;
            use $sdk::trace::{
                BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
            };
            use std::sync::atomic::Ordering;

            /// Counts the spans (and those with the caller as parent), then drops them.
            #[derive(Debug)]
            pub struct CountingExporter;

            impl SpanExporter for CountingExporter {
                async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
                    let parented = batch
                        .iter()
                        .filter(|s| {
                            s.parent_span_id == $otel::trace::SpanId::from($crate::PARENT_SPAN_ID)
                                && s.span_context.trace_id() == $otel::trace::TraceId::from($crate::TRACE_ID)
                        })
                        .count();
                    $crate::SPANS.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    $crate::PARENTED.fetch_add(parented as u64, Ordering::Relaxed);
                    Ok(())
                }
            }

            /// The SDK with a batch processor (a queue large enough that no span is dropped for a
            /// full queue: that would flatter the case) into the counting exporter.
            pub fn provider(sampled: bool) -> SdkTracerProvider {
                let config = BatchConfigBuilder::default().with_max_queue_size(1 << 17).build();
                let processor = BatchSpanProcessor::builder(CountingExporter).with_batch_config(config).build();
                let sampler = if sampled { Sampler::AlwaysOn } else { Sampler::AlwaysOff };
                SdkTracerProvider::builder().with_sampler(sampler).with_span_processor(processor).build()
            }
        }
    };
}

sdk_support!(sdk33, opentelemetry, opentelemetry_sdk);
sdk_support!(sdk32, opentelemetry_032, opentelemetry_sdk_032);

/// The incoming context, as OpenTelemetry 0.33 and 0.32 spell it.
pub fn remote_parent_033(sampled: bool) -> opentelemetry::Context {
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let span = SpanContext::new(
        TraceId::from(TRACE_ID),
        SpanId::from(PARENT_SPAN_ID),
        if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() },
        true,
        TraceState::NONE,
    );
    opentelemetry::Context::new().with_remote_span_context(span)
}

/// See [`remote_parent_033`].
pub fn remote_parent_032(sampled: bool) -> opentelemetry_032::Context {
    use opentelemetry_032::trace::TraceContextExt as _;
    use opentelemetry_032::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let span = SpanContext::new(
        TraceId::from(TRACE_ID),
        SpanId::from(PARENT_SPAN_ID),
        if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() },
        true,
        TraceState::NONE,
    );
    opentelemetry_032::Context::new().with_remote_span_context(span)
}

/// The strict W3C `traceparent` parse of the hand-written reference middlewares: version 00,
/// lower-case hex, non-zero ids; anything else is no parent.
pub fn parse_traceparent(value: &[u8]) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    fn hex(bytes: &[u8]) -> Option<u128> {
        let mut n: u128 = 0;
        for &b in bytes {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            n = (n << 4) | u128::from(digit);
        }
        Some(n)
    }
    if value.len() != 55 || &value[..3] != b"00-" || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace_id = hex(&value[3..35])?;
    let span_id = hex(&value[36..52])? as u64;
    let flags = hex(&value[53..55])? as u8;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some(SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::new(flags),
        true,
        TraceState::NONE,
    ))
}

/// CPU time of the whole process (every thread), in nanoseconds.
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What a case promises: how many spans per request reach the exporter.
pub struct Case<'a> {
    /// The case's name, e.g. `ours-sampled`.
    pub name: &'a str,
    /// 1 for a sampled instrumented case, 0 otherwise.
    pub spans_per_request: u64,
}

impl<'a> Case<'a> {
    /// A case named `name`: `-sampled` cases export one span per request, the others none.
    pub fn new(name: &'a str) -> Self {
        Case { name, spans_per_request: u64::from(name.ends_with("-sampled")) }
    }
}

/// The command line: `<case> <requests>` or `time <case> <requests> <passes>`.
pub enum Command {
    /// One run of `requests`, allocations and span counts printed.
    Count { case: String, requests: u64 },
    /// `passes` runs of `requests`, CPU ns per request printed.
    Time { case: String, requests: u64, passes: usize },
    /// A real server on 127.0.0.1 (its address printed on stdout), for `wrk`.
    Serve { case: String },
}

impl Command {
    /// Parses the arguments; `None` when they name no command.
    pub fn from_args() -> Option<Self> {
        let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["time", case, n, passes] => Some(Command::Time {
                case: case.to_string(),
                requests: n.parse().ok()?,
                passes: passes.parse().ok()?,
            }),
            ["serve", case] => Some(Command::Serve { case: case.to_string() }),
            [case, n] => Some(Command::Count { case: case.to_string(), requests: n.parse().ok()? }),
            _ => None,
        }
    }

    /// The case this command runs.
    pub fn case(&self) -> &str {
        match self {
            Command::Count { case, .. } | Command::Time { case, .. } | Command::Serve { case } => case,
        }
    }
}

/// Runs the command: `run(n)` sends `n` requests and returns when they are answered; `flush`
/// pushes every ended span to the exporter. Prints one line of `key=value` and exits 2 when the
/// exporter did not see exactly the expected spans, each with the caller as parent.
pub fn drive(command: &Command, mut run: impl FnMut(u64), flush: impl Fn()) {
    const WARM_UP: u64 = 500;
    if let Command::Serve { .. } = command {
        panic!("`serve` is the binary's own");
    }
    // Warm-up: first-use work (thread-locals, lazy statics, connection set-up) is not per request.
    run(WARM_UP);
    flush();
    match *command {
        Command::Count { ref case, requests } => {
            let case = Case::new(case);
            SPANS.store(0, Ordering::Relaxed);
            PARENTED.store(0, Ordering::Relaxed);
            let before = CountingAllocator::allocations();
            run(requests);
            flush();
            let allocations = CountingAllocator::allocations() - before;
            let spans = SPANS.load(Ordering::Relaxed);
            let parented = PARENTED.load(Ordering::Relaxed);
            let expected = case.spans_per_request * requests;
            let ok = spans == expected && parented == expected;
            println!(
                "case={} requests={requests} allocations_per_request={:.2} spans={spans} parented={parented} expected={expected} span_check={}",
                case.name,
                allocations as f64 / requests.max(1) as f64,
                if ok { "ok" } else { "FAILED" },
            );
            if !ok {
                std::process::exit(2);
            }
        }
        Command::Serve { .. } => unreachable!("answered above"),
        Command::Time { ref case, requests, passes } => {
            let mut per_request: Vec<f64> = (0..passes)
                .map(|_| {
                    let start = cpu_ns();
                    run(requests);
                    flush();
                    (cpu_ns() - start) as f64 / requests as f64
                })
                .collect();
            per_request.sort_by(f64::total_cmp);
            let median = per_request[per_request.len() / 2];
            println!(
                "case={case} requests={requests} passes={passes} ns_median={median:.0} ns_min={:.0} ns_max={:.0}",
                per_request[0],
                per_request[per_request.len() - 1]
            );
        }
    }
}
