//! `baggage`: the W3C Baggage propagator of opentelemetry's SDK (otel-core has no baggage parser of
//! its own) through otel-core's carriers and `Propagation`, on header maps with repeated headers
//! and values that are not UTF-8. Extracted baggage injected and extracted again is the same
//! baggage, except where the SDK (0.33) cannot round-trip it, which the target skips:
//! - metadata (`;prop`) is percent-decoded on extraction but written back as it is, so a decoded
//!   `%2C` or `%0A` changes or breaks the header;
//! - a `%` in a decoded key or value is written back unencoded, and decoded again;
//! - a header re-encoded past the 8192-byte limit (raw UTF-8 grows threefold) is dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry_sdk::propagation::BaggagePropagator;
use otel_core::propagation::{HeaderInjector, Propagation};

fn entries(cx: &Context) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> =
        cx.baggage().iter().map(|(key, (value, _metadata))| (key.to_string(), value.to_string())).collect();
    entries.sort();
    entries
}

fuzz_target!(|data: &[u8]| {
    let headers = otel_fuzz::header_map(data, &["baggage", "baggage", "traceparent"]);
    let propagation = Propagation::new(BaggagePropagator::new());
    let cx = propagation.extract_with_context(&Context::new(), &headers);
    let carried = propagation.extract_carried(&headers);
    assert_eq!(carried.is_some(), !cx.baggage().is_empty());
    let first = entries(&cx);
    if first.is_empty() {
        return;
    }
    let upstream_limits = cx.baggage().iter().any(|(key, (value, metadata))| {
        !metadata.as_str().is_empty() || key.as_str().contains('%') || value.as_str().contains('%')
    });
    let mut out = http::HeaderMap::new();
    propagation.inject(&cx, &mut HeaderInjector(&mut out));
    if upstream_limits || out.get("baggage").is_some_and(|v| v.len() > 8192) {
        return;
    }
    let again = propagation.extract_with_context(&Context::new(), &out);
    assert_eq!(entries(&again), first, "baggage does not round-trip: {:?}", out.get("baggage"));
});
