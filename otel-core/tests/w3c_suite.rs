//! The official W3C Trace Context conformance suite, run in process against
//! [`StrictTraceContextPropagator`].
//!
//! Every test method of `test/test.py` in `w3c/trace-context` (commit `acab820`) has a test of
//! the same name here, with every assertion of the original, at the suite's default levels
//! (`STRICT_LEVEL=2`, so the strict cases run) plus the Level 2 case `propagates_random_flag`.
//!
//! The suite talks to a service over HTTP: it sends a request with some headers and asks the
//! service to call it back; it then inspects the `traceparent` and `tracestate` headers of each
//! callback. Here [`Harness::make_request`] plays both parts: it builds the request headers, runs
//! a service that extracts the incoming context, starts a server span under it with an SDK
//! tracer (default `ParentBased(AlwaysOn)` sampler) and, for each callback, starts a client span
//! and injects its context into the outgoing headers. The checks the suite applies to callbacks
//! (one `traceparent` in the strict format, `tracestate` parsed by the suite's own rules) are
//! ported in [`HarnessTraceparent`] and [`HarnessTracestate`].

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use otel_core::propagation::{HeaderExtractor, HeaderInjector, StrictTraceContextPropagator, Traceparent};
use proptest::prelude::*;
use regex::Regex;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// The strict `traceparent` format the suite expects from a service.
static TRACEPARENT_FORMAT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$").unwrap());

/// The suite's `tracestate` grammar: a list member is `key=value`.
const TRACESTATE_KEY: &str = r"[0-9a-z][_0-9a-z\-\*/@]{0,255}";
const TRACESTATE_VALUE: &str = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]";
static TRACESTATE_MEMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^({TRACESTATE_KEY})(=)({TRACESTATE_VALUE})$")).unwrap());
/// Members are separated by a comma with optional spaces and tabs around it.
static TRACESTATE_DELIMITER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[ \t]*,[ \t]*").unwrap());

/// A `traceparent` sent by the service, checked as the suite checks it.
#[derive(Debug)]
struct HarnessTraceparent {
    /// Lowercase hex, as Python's `bytes.hex()` gives it.
    trace_id: String,
    parent_id: String,
    trace_flags: u8,
}

impl HarnessTraceparent {
    /// Parses a callback's `traceparent`: strict format, version `00` (the only version the
    /// suite's `Traceparent` accepts), neither id all zeros.
    fn from_string(value: &str) -> Self {
        let caps = TRACEPARENT_FORMAT
            .captures(value)
            .unwrap_or_else(|| panic!("traceparent {value:?} does not match {}", TRACEPARENT_FORMAT.as_str()));
        let version = u8::from_str_radix(&caps[1], 16).unwrap();
        assert_eq!(version, 0, "unsupported traceparent version in {value:?}");
        let trace_id = caps[2].to_owned();
        assert_ne!(trace_id, "0".repeat(32), "all zero trace_id is not allowed: {value:?}");
        let parent_id = caps[3].to_owned();
        assert_ne!(parent_id, "0".repeat(16), "all zero parent_id is not allowed: {value:?}");
        let trace_flags = u8::from_str_radix(&caps[4], 16).unwrap();
        Self { trace_id, parent_id, trace_flags }
    }
}

/// A `tracestate` sent by the service, parsed by the suite's rules: an ordered map where the
/// first of duplicated keys wins, and any malformed member is an error.
#[derive(Debug, Default)]
struct HarnessTracestate {
    traits: Vec<(String, String)>,
}

impl HarnessTracestate {
    /// Adds the members of one header value (the suite's `Tracestate.from_string`).
    fn read_header(&mut self, string: &str) -> Result<(), String> {
        for member in TRACESTATE_DELIMITER.split(string) {
            if member.is_empty() {
                continue;
            }
            let caps =
                TRACESTATE_MEMBER.captures(member).ok_or_else(|| format!("illegal key-value format {member:?}"))?;
            let (key, value) = (&caps[1], &caps[3]);
            if !self.contains(key) {
                self.traits.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(())
    }

    fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value of `key`; `None` is the suite's `KeyError`.
    fn get(&self, key: &str) -> Option<&str> {
        self.traits.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn len(&self) -> usize {
        self.traits.len()
    }

    fn is_empty(&self) -> bool {
        self.traits.is_empty()
    }
}

impl std::ops::Index<&str> for HarnessTracestate {
    type Output = str;

    fn index(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| panic!("KeyError: {key:?} not in {self}"))
    }
}

impl fmt::Display for HarnessTracestate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.traits.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

/// The service under test and the suite's side of the conversation.
struct Harness {
    _provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: StrictTraceContextPropagator,
}

impl Harness {
    fn new() -> Self {
        // The SDK's default sampler, set explicitly so that `OTEL_TRACES_SAMPLER` cannot change it.
        let provider =
            SdkTracerProvider::builder().with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))).build();
        let tracer = provider.tracer("w3c-trace-context-suite");
        Self { _provider: provider, tracer, propagator: StrictTraceContextPropagator::new() }
    }

    /// The service: accepts a request with `headers`, then calls back `callbacks` times,
    /// returning the headers of each callback.
    fn service(&self, headers: &HeaderMap, callbacks: usize) -> Vec<HeaderMap> {
        let parent = self.propagator.extract_with_context(&Context::new(), &HeaderExtractor(headers));
        let server = self
            .tracer
            .span_builder("POST /test")
            .with_kind(SpanKind::Server)
            .start_with_context(&self.tracer, &parent);
        let cx = parent.with_span(server);
        (0..callbacks)
            .map(|i| {
                let client = self
                    .tracer
                    .span_builder(format!("POST /callback/{i}"))
                    .with_kind(SpanKind::Client)
                    .start_with_context(&self.tracer, &cx);
                let mut out = HeaderMap::new();
                self.propagator.inject_context(&cx.with_span(client), &mut HeaderInjector(&mut out));
                out
            })
            .collect()
    }

    /// Sends a request with `headers` (repeated names stay repeated) and asks for `count`
    /// callbacks; returns the headers of each callback.
    fn make_request(&self, headers: &[(&str, &str)], count: usize) -> Vec<HeaderMap> {
        let mut request = HeaderMap::new();
        for &(name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
            let value = HeaderValue::from_str(value).unwrap_or_else(|e| panic!("header value {value:?}: {e}"));
            request.append(name, value);
        }
        let responses = self.service(&request, count);
        assert_eq!(responses.len(), count, "your test service failed to make a callback to the test harness");
        responses
    }

    fn make_single_request_and_get_tracecontext(
        &self,
        headers: &[(&str, &str)],
    ) -> (HarnessTraceparent, HarnessTracestate) {
        let responses = self.make_request(headers, 1);
        (get_traceparent(&responses[0]), get_tracestate(&responses[0]))
    }
}

/// The callback's single `traceparent` header (names are case-insensitive in a `HeaderMap`).
fn get_traceparent(headers: &HeaderMap) -> HarnessTraceparent {
    let values: Vec<&HeaderValue> = headers.get_all("traceparent").iter().collect();
    assert_eq!(
        values.len(),
        1,
        "expect one traceparent header, got {} {values:?}",
        if values.is_empty() { "zero" } else { "more" }
    );
    let value = values[0].to_str().expect("traceparent is not ASCII");
    HarnessTraceparent::from_string(value)
}

/// Every `tracestate` header of the callback, combined; a malformed one fails the test.
fn get_tracestate(headers: &HeaderMap) -> HarnessTracestate {
    let mut tracestate = HarnessTracestate::default();
    for value in &headers.get_all("tracestate") {
        let value = value.to_str().expect("tracestate is not ASCII");
        tracestate.read_header(value).unwrap_or_else(|e| panic!("invalid tracestate {value:?}: {e}"));
    }
    tracestate
}

/// Asserts that bit `n` of `value` is set, counting the least significant bit as bit 1 (the
/// suite's `1 << n - 1`).
fn assert_bit_set(value: u8, n: u32, message: &str) {
    let bit = 1u8 << (n - 1);
    assert_eq!(value & bit, bit, "expected value 0x{value:02x} to have #{n}th bit set but it did not : {message}");
}

/// Position of `needle` in `haystack`, like Python's `str.index`.
fn index(haystack: &str, needle: &str) -> usize {
    haystack.find(needle).unwrap_or_else(|| panic!("{needle:?} not found in {haystack:?}"))
}

const VALID_TRACE_ID: &str = "12345678901234567890123456789012";
const SAMPLED: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const NOT_SAMPLED: &str = "00-12345678901234567890123456789012-1234567890123456-00";

/// The callback's trace id after the service was sent only `traceparent: value`.
fn trace_id_after(h: &Harness, value: &str) -> String {
    h.make_single_request_and_get_tracecontext(&[("traceparent", value)]).0.trace_id
}

// ---------------------------------------------------------------------------------------------
// TraceContextTest
// ---------------------------------------------------------------------------------------------

/// No `traceparent` or `tracestate`: the callback still carries a valid `traceparent`.
#[test]
fn both_traceparent_and_tracestate_missing() {
    let h = Harness::new();
    let (_traceparent, _tracestate) = h.make_single_request_and_get_tracecontext(&[]);
}

/// A `traceparent` alone: same trace id, new parent id.
#[test]
fn traceparent_included_tracestate_missing() {
    let h = Harness::new();
    let (traceparent, _) = h.make_single_request_and_get_tracecontext(&[("traceparent", SAMPLED)]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert_ne!(traceparent.parent_id, "1234567890123456");
}

/// Two `traceparent` headers are invalid: a new trace id, neither of the two sent.
#[test]
fn traceparent_duplicated() {
    let h = Harness::new();
    let (traceparent, _) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01"),
        ("traceparent", "00-12345678901234567890123456789012-1234567890123456-01"),
    ]);
    assert_ne!(traceparent.trace_id, "12345678901234567890123456789011");
    assert_ne!(traceparent.trace_id, "12345678901234567890123456789012");
}

/// `trace-parent` and `trace.parent` are not `traceparent`: a new trace id.
#[test]
fn traceparent_header_name() {
    let h = Harness::new();
    let (traceparent, _) = h.make_single_request_and_get_tracecontext(&[("trace-parent", SAMPLED)]);
    assert_ne!(traceparent.trace_id, VALID_TRACE_ID);

    let (traceparent, _) = h.make_single_request_and_get_tracecontext(&[("trace.parent", SAMPLED)]);
    assert_ne!(traceparent.trace_id, VALID_TRACE_ID);
}

/// The header name is case-insensitive: the trace id is kept whatever the casing.
#[test]
fn traceparent_header_name_valid_casing() {
    let h = Harness::new();
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        let (traceparent, _) = h.make_single_request_and_get_tracecontext(&[(name, SAMPLED)]);
        assert_eq!(traceparent.trace_id, VALID_TRACE_ID, "header name {name:?}");
    }
}

/// Version 00 with trailing characters is invalid: a new trace id.
#[test]
fn traceparent_version_0x00() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-1234567890123456-01."), VALID_TRACE_ID);
    assert_ne!(
        trace_id_after(&h, "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like"),
        VALID_TRACE_ID
    );
}

/// A future version (0xcc) is read by its first four fields, and may carry more fields after a
/// dash, but not after another character.
#[test]
fn traceparent_version_0xcc() {
    let h = Harness::new();
    assert_eq!(trace_id_after(&h, "cc-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
    assert_eq!(
        trace_id_after(&h, "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like"),
        VALID_TRACE_ID
    );
    assert_ne!(
        trace_id_after(&h, "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like"),
        VALID_TRACE_ID
    );
}

/// Version 0xff is forbidden: a new trace id.
#[test]
fn traceparent_version_0xff() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "ff-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
}

/// A version with a non-hex character: a new trace id.
#[test]
fn traceparent_version_illegal_characters() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, ".0-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
    assert_ne!(trace_id_after(&h, "0.-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
}

/// A version of three or four digits: a new trace id.
#[test]
fn traceparent_version_too_long() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "000-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
    assert_ne!(trace_id_after(&h, "0000-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
}

/// A one-digit version: a new trace id.
#[test]
fn traceparent_version_too_short() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "0-12345678901234567890123456789012-1234567890123456-01"), VALID_TRACE_ID);
}

/// An all-zero trace id is invalid: a new, non-zero trace id.
#[test]
fn traceparent_trace_id_all_zero() {
    let h = Harness::new();
    assert_ne!(
        trace_id_after(&h, "00-00000000000000000000000000000000-1234567890123456-01"),
        "00000000000000000000000000000000"
    );
}

/// A trace id with a non-hex character: a new trace id.
#[test]
fn traceparent_trace_id_illegal_characters() {
    let h = Harness::new();
    assert_ne!(
        trace_id_after(&h, "00-.2345678901234567890123456789012-1234567890123456-01"),
        ".2345678901234567890123456789012"
    );
    assert_ne!(
        trace_id_after(&h, "00-1234567890123456789012345678901.-1234567890123456-01"),
        "1234567890123456789012345678901."
    );
}

/// A 33-digit trace id: a new trace id, not any 32-digit part of the one sent.
#[test]
fn traceparent_trace_id_too_long() {
    let h = Harness::new();
    let trace_id = trace_id_after(&h, "00-123456789012345678901234567890123-1234567890123456-01");
    assert_ne!(trace_id, "123456789012345678901234567890123");
    assert_ne!(trace_id, "12345678901234567890123456789012");
    assert_ne!(trace_id, "23456789012345678901234567890123");
}

/// A 31-digit trace id: a new trace id.
#[test]
fn traceparent_trace_id_too_short() {
    let h = Harness::new();
    assert_ne!(
        trace_id_after(&h, "00-1234567890123456789012345678901-1234567890123456-01"),
        "1234567890123456789012345678901"
    );
}

/// An all-zero parent id is invalid: a new trace id.
#[test]
fn traceparent_parent_id_all_zero() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-0000000000000000-01"), VALID_TRACE_ID);
}

/// A parent id with a non-hex character: a new trace id.
#[test]
fn traceparent_parent_id_illegal_characters() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-.234567890123456-01"), VALID_TRACE_ID);
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-123456789012345.-01"), VALID_TRACE_ID);
}

/// A 17-digit parent id: a new trace id.
#[test]
fn traceparent_parent_id_too_long() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-12345678901234567-01"), VALID_TRACE_ID);
}

/// A 15-digit parent id: a new trace id.
#[test]
fn traceparent_parent_id_too_short() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-123456789012345-01"), VALID_TRACE_ID);
}

/// Flags with a non-hex character: a new trace id.
#[test]
fn traceparent_trace_flags_illegal_characters() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-1234567890123456-.0"), VALID_TRACE_ID);
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-1234567890123456-0."), VALID_TRACE_ID);
}

/// Three-digit flags: a new trace id.
#[test]
fn traceparent_trace_flags_too_long() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-1234567890123456-001"), VALID_TRACE_ID);
}

/// One-digit flags: a new trace id.
#[test]
fn traceparent_trace_flags_too_short() {
    let h = Harness::new();
    assert_ne!(trace_id_after(&h, "00-12345678901234567890123456789012-1234567890123456-1"), VALID_TRACE_ID);
}

/// Spaces and tabs before and after a valid `traceparent` are allowed: the trace id is kept.
#[test]
fn traceparent_ows_handling() {
    let h = Harness::new();
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        assert_eq!(trace_id_after(&h, value), VALID_TRACE_ID, "traceparent {value:?}");
    }
}

/// A `tracestate` without `traceparent` is ignored: what it held makes no difference.
#[test]
fn tracestate_included_traceparent_missing() {
    let h = Harness::new();
    let (_traceparent, tracestate1) = h.make_single_request_and_get_tracecontext(&[("tracestate", "foo=1")]);
    let (_traceparent, tracestate2) = h.make_single_request_and_get_tracecontext(&[("tracestate", "foo=1,bar=2")]);
    assert_eq!(tracestate1.len(), tracestate2.len());
}

/// `traceparent` and `tracestate`: the trace id and the members are inherited.
#[test]
fn tracestate_included_traceparent_included() {
    let h = Harness::new();
    let (traceparent, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "foo=1,bar=2")]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert!(tracestate.contains("foo"));
    assert!(tracestate.contains("bar"));
    assert_eq!(&tracestate["foo"], "1");
    assert_eq!(&tracestate["bar"], "2");
}

/// `trace-state` and `trace.state` are not `tracestate`: nothing is inherited.
#[test]
fn tracestate_header_name() {
    let h = Harness::new();
    let (_, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("trace-state", "foo=1")]);
    assert!(tracestate.get("foo").is_none(), "KeyError expected: {tracestate}");

    let (_, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("trace.state", "foo=1")]);
    assert!(tracestate.get("foo").is_none(), "KeyError expected: {tracestate}");
}

/// The header name is case-insensitive: the members are inherited whatever the casing.
#[test]
fn tracestate_header_name_valid_casing() {
    let h = Harness::new();
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let (_, tracestate) =
            h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), (name, "foo=1")]);
        assert!(tracestate.contains("foo"), "header name {name:?}");
        assert_eq!(&tracestate["foo"], "1", "header name {name:?}");
    }
}

/// An empty `tracestate` is dropped, alone or beside a non-empty one, in either order.
#[test]
fn tracestate_empty_header() {
    let h = Harness::new();
    let (traceparent, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "")]);
    // The suite writes `not tracestate or tracestate != ''`.
    assert!(tracestate.is_empty() || !tracestate.to_string().is_empty());
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);

    let (traceparent, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "foo=1"),
        ("tracestate", ""),
    ]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert!(tracestate.contains("foo"));
    assert_eq!(&tracestate["foo"], "1");

    let (traceparent, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", ""),
        ("tracestate", "foo=1"),
    ]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert!(tracestate.contains("foo"));
    assert_eq!(&tracestate["foo"], "1");
}

/// Several `tracestate` headers are combined into one list, in the order received.
#[test]
fn tracestate_multiple_headers_different_keys() {
    let h = Harness::new();
    let (traceparent, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "foo=1,bar=2"),
        ("tracestate", "rojo=1,congo=2"),
        ("tracestate", "baz=3"),
    ]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    let s = tracestate.to_string();
    for member in ["foo=1", "bar=2", "rojo=1", "congo=2", "baz=3"] {
        assert!(s.contains(member), "{member:?} missing from {s:?}");
    }
    assert!(index(&s, "foo=1") < index(&s, "bar=2"), "{s}");
    assert!(index(&s, "bar=2") < index(&s, "rojo=1"), "{s}");
    assert!(index(&s, "rojo=1") < index(&s, "congo=2"), "{s}");
    assert!(index(&s, "congo=2") < index(&s, "baz=3"), "{s}");
}

/// Duplicated keys (strict): the `tracestate` is still inherited, with the key kept as-is or
/// one of the duplicates dropped.
#[test]
fn tracestate_duplicated_keys() {
    let h = Harness::new();
    let (traceparent, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "foo=1,foo=1")]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert!(tracestate.to_string().contains("foo=1"), "{tracestate}");

    let (traceparent, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "foo=1,foo=2")]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    let s = tracestate.to_string();
    assert!(s.contains("foo=1") || s.contains("foo=2"), "{s}");

    let (traceparent, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "foo=1"),
        ("tracestate", "foo=1"),
    ]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert!(tracestate.to_string().contains("foo=1"), "{tracestate}");

    let (traceparent, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "foo=1"),
        ("tracestate", "foo=2"),
    ]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    let s = tracestate.to_string();
    assert!(s.contains("foo=1") || s.contains("foo=2"), "{s}");
}

/// Every character the grammar allows, in keys with and without a vendor part and in values.
#[test]
fn tracestate_all_allowed_characters() {
    let h = Harness::new();
    let lcalpha: String = ('a'..='z').collect();
    let key_without_vendor = format!("{lcalpha}0123456789_-*/");
    let key_with_vendor = format!("{key_without_vendor}@a-z0-9_-*/");
    let value: String = (0x20u8..=0x2b).chain(0x2d..=0x3c).chain(0x3e..=0x7e).map(char::from).collect();

    for key in [&key_without_vendor, &key_with_vendor] {
        let header = format!("{key}={value}");
        let (_, tracestate) =
            h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", &header)]);
        assert!(tracestate.contains(key), "{key:?} missing from {tracestate}");
        assert_eq!(&tracestate[key.as_str()], value.as_str());
    }
}

/// Spaces and tabs around members and commas are allowed: the members are inherited.
#[test]
fn tracestate_ows_handling() {
    let h = Harness::new();
    for header in ["foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"] {
        let (_, tracestate) =
            h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", header)]);
        assert!(tracestate.contains("foo"), "{header:?}");
        assert!(tracestate.contains("bar"), "{header:?}");
        assert!(tracestate.contains("baz"), "{header:?}");
        assert_eq!(&tracestate["foo"], "1", "{header:?}");
        assert_eq!(&tracestate["bar"], "2", "{header:?}");
        assert_eq!(&tracestate["baz"], "3", "{header:?}");
    }

    for header in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        let (traceparent, tracestate) =
            h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", header)]);
        assert_eq!(traceparent.trace_id, VALID_TRACE_ID, "{header:?}");
        assert!(tracestate.contains("foo"), "{header:?}");
        assert_eq!(&tracestate["foo"], "1", "{header:?}");
    }
}

/// Keys with a space, uppercase or a dot (strict): the `tracestate` is dropped.
#[test]
fn tracestate_key_illegal_characters() {
    let h = Harness::new();
    for (header, key) in [("foo =1", "foo "), ("FOO=1", "FOO"), ("foo.bar=1", "foo.bar")] {
        let (_, tracestate) =
            h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", header)]);
        assert!(tracestate.get(key).is_none(), "KeyError expected for {key:?}: {tracestate}");
    }
}

/// At signs (strict): keys that follow the grammar are inherited (`@` anywhere but first, any
/// number of times); a key starting with `@` drops the whole `tracestate`.
#[test]
fn tracestate_key_illegal_vendor_format() {
    let h = Harness::new();
    let (_, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "foo@=1,bar=2")]);
    assert!(tracestate.contains("foo@"), "{tracestate}");
    assert_eq!(&tracestate["foo@"], "1");
    assert!(tracestate.contains("bar"), "{tracestate}");
    assert_eq!(&tracestate["bar"], "2");

    let (_, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "@foo=1,bar=2")]);
    assert!(tracestate.get("bar").is_none(), "KeyError expected: {tracestate}");

    for key in ["foo@@bar", "foo@bar@baz"] {
        let header = format!("{key}=1,bar=2");
        let (_, tracestate) =
            h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", &header)]);
        assert!(tracestate.contains(key), "{key:?} missing from {tracestate}");
        assert_eq!(&tracestate[key], "1");
        assert!(tracestate.contains("bar"), "{tracestate}");
        assert_eq!(&tracestate["bar"], "2");
    }
}

/// 32 members over several headers (strict) are inherited; 33 drop the whole `tracestate`.
#[test]
fn tracestate_member_count_limit() {
    let h = Harness::new();
    let (_, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10"),
        ("tracestate", "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20"),
        ("tracestate", "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30"),
        ("tracestate", "bar31=31,bar32=32"),
    ]);
    assert!(tracestate.contains("bar01"), "{tracestate}");
    assert_eq!(&tracestate["bar01"], "01");
    assert_eq!(tracestate.len(), 32);

    let (_, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10"),
        ("tracestate", "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20"),
        ("tracestate", "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30"),
        ("tracestate", "bar31=31,bar32=32,bar33=33"),
    ]);
    assert!(tracestate.get("bar01").is_none(), "KeyError expected: {tracestate}");
}

/// Keys of 256 characters (strict), with or without at signs, are inherited beside `foo`;
/// a key of 257 characters drops the whole `tracestate`.
#[test]
fn tracestate_key_length_limit() {
    let h = Harness::new();
    let expect_inherited = |key: &str| {
        let header = format!("{key}=1");
        let (_, tracestate) = h.make_single_request_and_get_tracecontext(&[
            ("traceparent", NOT_SAMPLED),
            ("tracestate", "foo=1"),
            ("tracestate", &header),
        ]);
        assert!(tracestate.contains("foo"), "key of {} characters: {tracestate}", key.len());
        assert_eq!(&tracestate["foo"], "1");
        assert!(tracestate.contains(key), "key of {} characters: {tracestate}", key.len());
        assert_eq!(&tracestate[key], "1");
    };

    expect_inherited(&"z".repeat(256));

    let header = format!("{}=1", "z".repeat(257));
    let (_, tracestate) = h.make_single_request_and_get_tracecontext(&[
        ("traceparent", NOT_SAMPLED),
        ("tracestate", "foo=1"),
        ("tracestate", &header),
    ]);
    assert!(tracestate.get("foo").is_none(), "KeyError expected: {tracestate}");

    expect_inherited(&format!("{}@{}", "t".repeat(241), "v".repeat(14)));
    expect_inherited(&format!("{}@v", "t".repeat(242)));
    expect_inherited(&format!("t@{}", "v".repeat(15)));
}

/// Values with `=` or empty values (strict): the whole `tracestate` is dropped.
#[test]
fn tracestate_value_illegal_characters() {
    let h = Harness::new();
    let (_, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "foo=bar=baz")]);
    assert!(tracestate.get("foo").is_none(), "KeyError expected: {tracestate}");

    let (_, tracestate) =
        h.make_single_request_and_get_tracecontext(&[("traceparent", NOT_SAMPLED), ("tracestate", "foo=,bar=3")]);
    assert!(tracestate.get("foo").is_none(), "KeyError expected: {tracestate}");
    assert!(tracestate.get("bar").is_none(), "KeyError expected: {tracestate}");
}

// ---------------------------------------------------------------------------------------------
// AdvancedTest
// ---------------------------------------------------------------------------------------------

/// The trace ids and parent ids of the callbacks of one request.
fn callback_ids(h: &Harness, headers: &[(&str, &str)], count: usize) -> (HashSet<String>, HashSet<String>) {
    let mut trace_ids = HashSet::new();
    let mut parent_ids = HashSet::new();
    for response in h.make_request(headers, count) {
        let traceparent = get_traceparent(&response);
        trace_ids.insert(traceparent.trace_id);
        parent_ids.insert(traceparent.parent_id);
    }
    (trace_ids, parent_ids)
}

/// Three callbacks under a valid `traceparent`: one trace id, the one sent; three parent ids.
#[test]
fn multiple_requests_with_valid_traceparent() {
    let h = Harness::new();
    let (trace_ids, parent_ids) = callback_ids(&h, &[("traceparent", SAMPLED)], 3);
    assert_eq!(trace_ids.len(), 1);
    assert!(trace_ids.contains(VALID_TRACE_ID));
    assert_eq!(parent_ids.len(), 3);
}

/// Three callbacks without `traceparent`: three parent ids.
#[test]
fn multiple_requests_without_traceparent() {
    let h = Harness::new();
    let (_trace_ids, parent_ids) = callback_ids(&h, &[], 3);
    assert_eq!(parent_ids.len(), 3);
}

/// Three callbacks under an invalid `traceparent`: a new trace id, three parent ids.
#[test]
fn multiple_requests_with_illegal_traceparent() {
    let h = Harness::new();
    let (trace_ids, parent_ids) =
        callback_ids(&h, &[("traceparent", "00-00000000000000000000000000000000-1234567890123456-01")], 3);
    assert!(!trace_ids.contains("00000000000000000000000000000000"));
    assert_eq!(parent_ids.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// TraceContext2Test
// ---------------------------------------------------------------------------------------------

/// Level 2: the random-trace-id flag (0x02) sent by the caller is set on the callback, with the
/// same trace id and a new parent id.
#[test]
fn propagates_random_flag() {
    let h = Harness::new();
    let (traceparent, _) = h.make_single_request_and_get_tracecontext(&[(
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-02",
    )]);
    assert_eq!(traceparent.trace_id, VALID_TRACE_ID);
    assert_ne!(traceparent.parent_id, "1234567890123456");
    assert_bit_set(traceparent.trace_flags, 2, "random flag not set");
}

// ---------------------------------------------------------------------------------------------
// Properties: whatever bytes arrive, nothing panics and the output stays well-formed
// ---------------------------------------------------------------------------------------------

/// Bytes that `HeaderValue::from_bytes` accepts: tab, visible ASCII, space and obs-text.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff]
}

/// `traceparent`-like values: each field is usually valid and sometimes not (wrong length,
/// uppercase, dots, any character including multibyte ones), with optional white space and
/// a suffix.
fn traceparent_like() -> impl Strategy<Value = Vec<u8>> {
    (
        "[ \t]{0,2}",
        prop_oneof![8 => "[0-9a-f]{2}", 1 => "(ff|cc)", 1 => ".{0,4}"],
        prop_oneof![8 => "[0-9a-f]{32}", 1 => "0{32}", 1 => "[0-9a-fA-F.]{0,34}"],
        prop_oneof![8 => "[0-9a-f]{16}", 1 => "0{16}", 1 => "[0-9a-fA-F.]{0,18}"],
        prop_oneof![8 => "[0-9a-f]{2}", 1 => ".{0,3}"],
        prop_oneof![8 => "", 1 => "-.{0,20}", 1 => ".{0,3}"],
        "[ \t]{0,2}",
    )
        .prop_map(|(lead, version, trace_id, span_id, flags, rest, trail)| {
            format!("{lead}{version}-{trace_id}-{span_id}-{flags}{rest}{trail}").into_bytes()
        })
}

/// `tracestate`-like values: lists of mostly valid members, long keys and values included,
/// with white space and empty members.
fn tracestate_like() -> impl Strategy<Value = Vec<u8>> {
    let member = prop_oneof![
        12 => r"[a-z0-9][a-z0-9@_*/-]{0,20}=[!-+\--<>-~][ -+\--<>-~]{0,20}[!-+\--<>-~]",
        1 => "[a-z]{250,260}=[!-~]{1,3}",
        1 => r"[a-z]{1,3}=[!-+\--<>-~]{250,260}",
        1 => "[ \t]{0,2}[a-zA-Z0-9@_*/.-]{0,10}=[ -~\t]{0,10}[ \t]{0,2}",
        2 => "",
    ];
    prop::collection::vec(member, 0..12).prop_map(|members| members.join(",").into_bytes())
}

/// Header values: arbitrary bytes (most of which `HeaderValue` refuses), bytes `HeaderValue`
/// accepts (including non-ASCII and non-UTF-8), and near-valid `traceparent`/`tracestate`
/// values so that the parsers' inner paths are reached.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=600),
        prop::collection::vec(header_byte(), 0..=600),
        traceparent_like(),
        tracestate_like(),
        (prop::collection::vec(header_byte(), 0..=60), 0usize..=55).prop_map(|(noise, at)| {
            let mut value = SAMPLED.as_bytes().to_vec();
            let at = at.min(value.len());
            value.splice(at..at, noise);
            value
        }),
    ]
}

fn header_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["traceparent", "tracestate", "TraceParent", "TRACESTATE", "trace-parent"])
}

/// A request's headers: usually one `traceparent` (sometimes none or several), a few
/// `tracestate` headers, and a few headers of any of these names with any value.
fn request_headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let traceparent = prop_oneof![4 => traceparent_like(), 1 => header_value()];
    let tracestate = prop_oneof![4 => tracestate_like(), 1 => header_value()];
    (
        prop_oneof![
            1 => prop::collection::vec(traceparent.clone(), 0..=0),
            6 => prop::collection::vec(traceparent.clone(), 1..=1),
            1 => prop::collection::vec(traceparent, 2..=3),
        ],
        prop::collection::vec(tracestate, 0..4),
        prop::collection::vec((header_name(), header_value()), 0..3),
    )
        .prop_map(|(traceparents, tracestates, others)| {
            let traceparents = traceparents.into_iter().map(|v| ("traceparent", v));
            let tracestates = tracestates.into_iter().map(|v| ("tracestate", v));
            traceparents.chain(tracestates).chain(others).collect()
        })
}

/// Checks an outgoing header map as the suite would, for use inside a proptest.
fn check_outgoing(out: &HeaderMap, require_traceparent: bool) -> Result<(), TestCaseError> {
    let traceparents: Vec<&HeaderValue> = out.get_all("traceparent").iter().collect();
    prop_assert!(traceparents.len() <= 1, "{traceparents:?}");
    if require_traceparent {
        prop_assert_eq!(traceparents.len(), 1);
    }
    for value in traceparents {
        let value = value.to_str();
        prop_assert!(value.is_ok(), "traceparent not ASCII");
        let value = value.unwrap();
        prop_assert!(TRACEPARENT_FORMAT.is_match(value), "traceparent {value:?} not in the strict format");
    }
    let mut tracestate = HarnessTracestate::default();
    for value in &out.get_all("tracestate") {
        prop_assert!(value.len() <= 512, "tracestate of {} characters", value.len());
        let value = value.to_str();
        prop_assert!(value.is_ok(), "tracestate not ASCII");
        let value = value.unwrap();
        let parsed = tracestate.read_header(value);
        prop_assert!(parsed.is_ok(), "tracestate {value:?}: {parsed:?}");
    }
    Ok(())
}

proptest! {
    /// Extraction and injection never panic on any header bytes, repeated or not, and what is
    /// injected is always well-formed.
    #[test]
    fn extract_then_inject_never_panics(pairs in request_headers()) {
        let mut headers = HeaderMap::new();
        for (name, bytes) in &pairs {
            // Keep what an HTTP stack could deliver.
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
            }
        }
        let propagator = StrictTraceContextPropagator::new();

        // The propagator alone: inject what was extracted.
        let parent = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&headers));
        let mut out = HeaderMap::new();
        propagator.inject_context(&parent, &mut HeaderInjector(&mut out));
        check_outgoing(&out, false)?;

        // A whole service with SDK spans.
        let h = Harness::new();
        let incoming: Vec<&HeaderValue> = headers.get_all("traceparent").iter().collect();
        let accepted = match incoming.as_slice() {
            [value] => std::str::from_utf8(value.as_bytes()).ok().and_then(Traceparent::parse),
            _ => None,
        };
        for out in h.service(&headers, 2) {
            check_outgoing(&out, true)?;
            if let Some(parent) = accepted {
                let traceparent = out.get("traceparent").unwrap().to_str().unwrap();
                let expected = format!("{:032x}", parent.trace_id);
                prop_assert_eq!(&traceparent[3..35], expected.as_str());
            }
        }
    }

    /// `Traceparent::parse` never panics on any string, multibyte characters included, and
    /// what it accepts formats back into the strict format.
    #[test]
    fn traceparent_parse_never_panics(
        value in prop_oneof![
            any::<String>(),
            "\\PC{0,80}",
            (any::<char>(), 0usize..=56, any::<bool>()).prop_map(|(c, at, replace)| {
                let mut value = SAMPLED.to_owned();
                let at = at.min(value.len());
                if replace && at < value.len() {
                    value.replace_range(at..=at, &c.to_string());
                } else {
                    value.insert(at, c);
                }
                value
            }),
        ]
    ) {
        if let Some(parent) = Traceparent::parse(&value) {
            let formatted = Traceparent::format(parent.trace_id, parent.span_id, parent.flags);
            prop_assert!(TRACEPARENT_FORMAT.is_match(&formatted), "{formatted:?}");
        }
    }
}
