//! What the fuzz targets share: header maps made from fuzz bytes, and the W3C Trace Context
//! round trip that the `traceparent` and `tracestate` targets both check.

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use otel_core::propagation::{
    HeaderExtractor, HeaderInjector, Propagation, StrictTraceContextPropagator, Traceparent, parse_tracestate,
};

/// The output limit of `tracestate` (W3C: propagate at least 512 characters; drop whole members past it).
pub const TRACESTATE_OUTPUT_LIMIT: usize = 512;

/// A header map from fuzz bytes, one header per line (`\n`). A line's first byte picks its name
/// among `names` (most lines), or else the line is `name:value` with a name of its own. Repeated
/// names are kept in order. A value HTTP does not allow (control bytes) is skipped: what a server
/// hands over is always a valid header value, which bytes 0x80 to 0xff (so text that is not UTF-8)
/// are.
pub fn header_map(data: &[u8], names: &[&'static str]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else { continue };
        let pick = usize::from(first) % (names.len() + 1);
        let (name, value) = match names.get(pick) {
            Some(name) => (http::HeaderName::from_static(name), rest),
            None => {
                let at = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
                let Ok(name) = http::HeaderName::from_bytes(&rest[..at]) else { continue };
                (name, rest.get(at + 1..).unwrap_or_default())
            }
        };
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    headers
}

/// A header value as the propagator's extractor sees it: not UTF-8 stands as `U+FFFD`.
fn decoded(value: &http::HeaderValue) -> &str {
    std::str::from_utf8(value.as_bytes()).unwrap_or("\u{fffd}")
}

fn inject(cx: &Context) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    StrictTraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(&mut out));
    out
}

fn owned(members: Vec<(&str, &str)>) -> Vec<(String, String)> {
    members.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Checks the strict propagator on `headers`:
/// - its three ways in (straight from the headers, through an `Extractor`, and `extract_carried`)
///   agree, and agree with the `traceparent` rules alone (exactly one value, and it parses);
/// - an accepted context injected and extracted again is the same context (trace id, span id,
///   flags, `tracestate` members), and injecting that gives the same headers again;
/// - the `tracestate` sent is within 512 characters, and holds the members received, in order:
///   all of them when they fit, else a subsequence (whole members dropped).
pub fn check_trace_context(headers: &http::HeaderMap) {
    let strict = StrictTraceContextPropagator::new();
    let root = Context::new();
    let by_headers = strict.extract_from_headers(&root, headers);
    let by_extractor = strict.extract_with_context(&root, &HeaderExtractor(headers));
    let span_context = by_headers.span().span_context().clone();
    assert_eq!(&span_context, by_extractor.span().span_context(), "the two extraction paths differ");
    let carried = Propagation::new(strict).extract_carried(headers);
    assert_eq!(carried.is_some(), span_context.is_valid(), "extract_carried disagrees");

    let values: Vec<&[u8]> = headers.get_all("traceparent").iter().map(http::HeaderValue::as_bytes).collect();
    let expected = match values.as_slice() {
        [one] => Traceparent::parse_bytes(one),
        _ => None,
    };
    let got = span_context.is_valid().then(|| Traceparent {
        trace_id: span_context.trace_id(),
        span_id: span_context.span_id(),
        flags: span_context.trace_flags(),
    });
    assert_eq!(got, expected, "the context is not what the traceparent rules say");
    let Some(parent) = got else { return };
    assert!(span_context.is_remote());

    // Inject, then extract again: the same context; inject again: the same headers.
    let first = inject(&by_headers);
    let sent = first.get("traceparent").expect("a valid context is injected");
    assert_eq!(Traceparent::parse_bytes(sent.as_bytes()), Some(parent), "traceparent does not round-trip");
    let again = strict.extract_from_headers(&root, &first);
    let again_context = again.span().span_context().clone();
    assert_eq!(
        (again_context.trace_id(), again_context.span_id(), again_context.trace_flags()),
        (parent.trace_id, parent.span_id, parent.flags)
    );
    assert_eq!(first, inject(&again), "injecting the re-extracted context sends other headers");

    // tracestate: what was received (valid, or dropped whole) against what was sent.
    let received = headers
        .contains_key("tracestate")
        .then(|| parse_tracestate(headers.get_all("tracestate").iter().map(decoded)).map(owned))
        .flatten()
        .unwrap_or_default();
    let sent = match first.get("tracestate") {
        Some(value) => {
            let value = value.to_str().expect("tracestate is sent as ASCII");
            assert!(value.len() <= TRACESTATE_OUTPUT_LIMIT, "tracestate sent over 512 characters: {}", value.len());
            assert!(!value.is_empty());
            owned(parse_tracestate([value]).expect("the tracestate sent is valid"))
        }
        None => Vec::new(),
    };
    let received_len =
        received.iter().map(|(k, v)| k.len() + 1 + v.len()).sum::<usize>() + received.len().saturating_sub(1);
    if received_len <= TRACESTATE_OUTPUT_LIMIT {
        assert_eq!(sent, received, "tracestate does not round-trip");
    } else {
        let mut rest = received.iter();
        assert!(sent.iter().all(|member| rest.any(|m| m == member)), "tracestate sent is not a subsequence: {sent:?}");
    }
    if received_len <= TRACESTATE_OUTPUT_LIMIT {
        assert_eq!(again_context.trace_state(), span_context.trace_state(), "the API trace state differs");
    }
}
