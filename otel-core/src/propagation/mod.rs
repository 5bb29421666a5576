//! W3C Trace Context propagation that follows the specification to the letter.
//!
//! The SDK's stock `TraceContextPropagator` accepts some invalid headers (version `0`, short ids,
//! `001` flags) and reads only the first of repeated headers. [`StrictTraceContextPropagator`]
//! passes every case of the official W3C test suite; install it instead:
//!
//! ```
//! opentelemetry::global::set_text_map_propagator(otel_core::propagation::StrictTraceContextPropagator::new());
//! ```

pub(crate) mod carrier;
mod configured;
mod traceparent;
mod tracestate;

pub use carrier::{ByteInjector, HeaderExtractor, HeaderInjector, HeaderSource};
pub use configured::Propagation;
pub use traceparent::{TRACEPARENT_HEADER, Traceparent};
pub use tracestate::{TRACESTATE_HEADER, parse_tracestate};

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use std::sync::OnceLock;

/// A `traceparent`/`tracestate` propagator that enforces the W3C Trace Context rules exactly.
///
/// - `traceparent`: exact field lengths, lowercase hex, version `ff` and all-zero ids rejected,
///   higher versions parsed by their first four fields (what follows must be ASCII, as the whole
///   value must), repeated headers rejected, leading and trailing spaces and tabs tolerated. A
///   rejected `traceparent` means a new trace, and its `tracestate` is ignored.
/// - Flags: the sampled bit and the random-trace-id bit are kept; other bits are zeroed. The
///   random bit received is sent on by every span of the same trace, sampled or not.
/// - `tracestate`: repeated headers are joined in order; the Level 2 key grammar, 256-character
///   keys and values and 32 members are enforced, and a malformed header is dropped whole. On
///   output the header is kept within 512 characters by dropping whole members (the longest over
///   128 characters first, then from the right), as the specification asks.
///
/// It never panics, whatever bytes arrive.
#[derive(Clone, Copy, Debug, Default)]
pub struct StrictTraceContextPropagator {
    _private: (),
}

impl StrictTraceContextPropagator {
    /// Creates the propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }

    /// Reads the trace context from `extractor`, or `None` when there is none or it is invalid.
    ///
    /// This is the decision [`TextMapPropagator::extract_with_context`] makes, exposed for
    /// adapters that need to know whether an incoming context was accepted.
    pub fn extract_span_context(&self, extractor: &dyn Extractor) -> Option<SpanContext> {
        self.extract_parts(extractor).map(|parts| parts.span_context)
    }

    fn extract_parts(&self, extractor: &dyn Extractor) -> Option<ExtractedParts> {
        // `get` first: a request without `traceparent` costs no allocation.
        extractor.get(TRACEPARENT_HEADER)?;
        let values = extractor.get_all(TRACEPARENT_HEADER)?;
        let [value] = values.as_slice() else {
            return None; // two `traceparent` headers are invalid
        };
        let tracestate = extractor.get(TRACESTATE_HEADER).and_then(|_| extractor.get_all(TRACESTATE_HEADER));
        Self::parts(Traceparent::parse(value)?, tracestate)
    }

    fn parts<'a>(parent: Traceparent, tracestate: Option<impl IntoIterator<Item = &'a str>>) -> Option<ExtractedParts> {
        // Most requests carry no `tracestate`: nothing to parse, convert or drop.
        let (trace_state, full) = match tracestate.and_then(parse_tracestate) {
            Some(members) => tracestate::to_api_trace_state(parent.trace_id, members),
            None => (TraceState::NONE, None),
        };
        let span_context = SpanContext::new(parent.trace_id, parent.span_id, parent.flags, true, trace_state);
        Some(ExtractedParts { span_context, full_trace_state: full })
    }

    /// [`TextMapPropagator::extract_with_context`] reading `headers` directly, for adapters that
    /// know their propagator is this one: the same rules, without the `Vec` an [`Extractor`]
    /// needs to report repeated headers, and with one lookup per header.
    pub fn extract_from_headers(&self, cx: &Context, headers: &(impl HeaderSource + ?Sized)) -> Context {
        Self::with_parts(cx, Self::parts_from_headers(headers))
    }

    /// The context `headers` carry on top of the current one, or `None` when they carry no valid
    /// one (the current context is then not even looked at).
    pub(crate) fn extract_carried(&self, headers: &(impl HeaderSource + ?Sized)) -> Option<Context> {
        let parts = Self::parts_from_headers(headers)?;
        Some(Context::map_current(|cx| Self::with_parts(cx, Some(parts))))
    }

    fn parts_from_headers(headers: &(impl HeaderSource + ?Sized)) -> Option<ExtractedParts> {
        // None, or two (invalid).
        let (value, has_tracestate) = headers.trace_headers()?;
        let parent = Traceparent::parse_bytes(value)?;
        let tracestate = has_tracestate
            .then(|| headers.values(TRACESTATE_HEADER).map(|v| std::str::from_utf8(v).unwrap_or(carrier::UNDECODABLE)));
        Self::parts(parent, tracestate)
    }

    fn with_parts(cx: &Context, parts: Option<ExtractedParts>) -> Context {
        match parts {
            Some(parts) => {
                let random = parts.span_context.trace_flags().to_u8() & RANDOM_FLAG != 0;
                let trace_id = parts.span_context.trace_id();
                let mut cx = cx.with_remote_span_context(parts.span_context);
                if random {
                    cx = cx.with_value(RandomTraceId(trace_id));
                }
                match parts.full_trace_state {
                    Some(full) => cx.with_value(full),
                    None => cx,
                }
            }
            None => cx.clone(),
        }
    }

    /// The flags to send for `span_context` in `cx`.
    pub(crate) fn flags_for(cx: &Context, span_context: &SpanContext) -> TraceFlags {
        let mut flags = span_context.trace_flags();
        if cx.get::<RandomTraceId>().is_some_and(|random| random.0 == span_context.trace_id()) {
            flags = TraceFlags::new(flags.to_u8() | RANDOM_FLAG);
        }
        flags
    }
}

struct ExtractedParts {
    span_context: SpanContext,
    full_trace_state: Option<tracestate::FullTraceState>,
}

impl TextMapPropagator for StrictTraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let flags = Self::flags_for(cx, span_context);
        injector.set(TRACEPARENT_HEADER, Traceparent::format(span_context.trace_id(), span_context.span_id(), flags));
        if let Some(header) = tracestate::header_for(cx, span_context) {
            injector.set(TRACESTATE_HEADER, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        Self::with_parts(cx, self.extract_parts(extractor))
    }

    fn fields(&self) -> FieldIter<'_> {
        static FIELDS: OnceLock<[String; 2]> = OnceLock::new();
        FieldIter::new(FIELDS.get_or_init(|| [TRACEPARENT_HEADER.to_owned(), TRACESTATE_HEADER.to_owned()]))
    }
}

/// The flag bits this propagator keeps: sampled (bit 0) and random trace id (bit 1).
pub(crate) const KEPT_FLAGS: u8 = 0b11;

/// The random-trace-id flag (Trace Context Level 2).
const RANDOM_FLAG: u8 = 0b10;

/// Marks an extracted trace id whose caller set the random flag.
///
/// The flag describes the trace id, so every child in the same trace must send it on; but the
/// SDK gives a span it does not sample `TraceFlags::default()`, losing the bit. Kept in the
/// context beside the span, it is set again on injection for spans of the same trace.
#[derive(Debug)]
struct RandomTraceId(opentelemetry::trace::TraceId);

pub(crate) fn kept_flags(flags: TraceFlags) -> TraceFlags {
    TraceFlags::new(flags.to_u8() & KEPT_FLAGS)
}
