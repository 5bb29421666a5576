//! `traceparent`: otel-core's strict W3C parser, on one value and on header maps (repeated
//! headers, values that are not UTF-8). A value that parses formats back to itself; an accepted
//! context survives inject and extract unchanged (see `otel_fuzz::check_trace_context`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_core::propagation::Traceparent;

fuzz_target!(|data: &[u8]| {
    // The whole input as one header value.
    let parsed = Traceparent::parse_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(Traceparent::parse(text), parsed, "parse and parse_bytes differ");
    }
    if let Some(parsed) = parsed {
        let formatted = Traceparent::format(parsed.trace_id, parsed.span_id, parsed.flags);
        assert_eq!(formatted.as_bytes(), &Traceparent::to_bytes(parsed.trace_id, parsed.span_id, parsed.flags)[..]);
        assert_eq!(Traceparent::parse(&formatted), Some(parsed), "{formatted} does not parse back");
    }
    // As header maps: mostly `traceparent` lines, some `tracestate`, some of other names.
    otel_fuzz::check_trace_context(&otel_fuzz::header_map(data, &["traceparent", "traceparent", "tracestate"]));
});
