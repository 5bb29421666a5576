//! `StrictTraceContextPropagator::extract_from_headers` decides exactly as the `TextMapPropagator`
//! path does, on valid, repeated, malformed and undecodable headers.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, trace::TraceFlags};
use otel_core::propagation::{HeaderExtractor, HeaderInjector, StrictTraceContextPropagator};

const VALID: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03";

#[test]
fn same_decision_as_the_extractor_path() {
    let cases: Vec<Vec<(&str, &[u8])>> = vec![
        vec![],
        vec![("traceparent", VALID)],
        vec![("traceparent", VALID), ("tracestate", b"a=1"), ("tracestate", b"b=2,c=3")],
        vec![("traceparent", VALID), ("tracestate", b"bad key=1")],
        vec![("traceparent", VALID), ("tracestate", b"a=\xff")],
        vec![("traceparent", VALID), ("traceparent", VALID)],
        vec![("traceparent", b"00-\xff")],
        vec![("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01")],
    ];
    let propagator = StrictTraceContextPropagator::new();
    for case in cases {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &case {
            headers.append(*name, http::HeaderValue::from_bytes(value).unwrap());
        }
        let direct = propagator.extract_from_headers(&Context::new(), &headers);
        let generic = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&headers));
        assert_eq!(direct.span().span_context(), generic.span().span_context(), "{case:?}");
        // What is sent on (flags, tracestate) is the same too.
        let (mut a, mut b) = (http::HeaderMap::new(), http::HeaderMap::new());
        propagator.inject_context(&direct, &mut HeaderInjector(&mut a));
        propagator.inject_context(&generic, &mut HeaderInjector(&mut b));
        assert_eq!(a, b, "{case:?}");
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    let cx = propagator.extract_from_headers(&Context::new(), &headers);
    assert_eq!(cx.span().span_context().trace_flags(), TraceFlags::SAMPLED);
}
