//! The request-path helpers that promise not to allocate, checked with a counting allocator.
#![allow(unsafe_code)] // a GlobalAlloc implementation is unsafe by definition

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use otel_core::config::HttpServerConfig;
use otel_core::propagation::{HeaderExtractor, StrictTraceContextPropagator};
use otel_core::semconv::http::{
    HostPort, KnownMethods, SensitiveQueryParameters, client_address, redact_query, redact_url, server_address,
    server_error_type, span_name, status_code_str,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread by `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    std::hint::black_box(f());
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn exact_and_prefix_exclusion_checks_do_not_allocate() {
    let config = HttpServerConfig::builder()
        .exclude_path("/health")
        .exclude_path("/ready")
        .exclude_prefix("/internal/")
        .environment(|_| None)
        .build();
    for path in ["/health", "/ready?x=1", "/internal/jobs", "/users/42?page=2", ""] {
        assert_eq!(allocations(|| config.excludes("GET", path)), 0, "{path}");
    }
}

#[test]
fn semconv_helpers_do_not_allocate_for_common_requests() {
    let methods = KnownMethods::default();
    let sensitive = SensitiveQueryParameters::default();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "api.example.com:8080".parse().unwrap());
    headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());

    assert_eq!(allocations(|| methods.normalize("GET")), 0);
    assert_eq!(allocations(|| methods.normalize("BREW")), 0);
    assert_eq!(allocations(|| span_name(methods.normalize("POST"), None)), 0);
    assert_eq!(allocations(|| status_code_str(404)), 0);
    assert_eq!(allocations(|| server_error_type(503)), 0);
    assert_eq!(allocations(|| redact_query("page=2&sort=asc", &sensitive)), 0);
    assert_eq!(allocations(|| redact_url("https://api.example.com/v1?page=2", &sensitive)), 0);
    assert_eq!(allocations(|| HostPort::parse("[::1]:8080")), 0);
    assert_eq!(allocations(|| server_address(&headers, None)), 0);
    assert_eq!(allocations(|| client_address(&headers)), 0);
}

#[test]
fn extracting_without_a_traceparent_does_not_allocate() {
    let propagator = StrictTraceContextPropagator::new();
    let mut headers = http::HeaderMap::new();
    headers.insert("accept", "*/*".parse().unwrap());
    let cx = Context::new();
    assert_eq!(allocations(|| propagator.extract_with_context(&cx, &HeaderExtractor(&headers))), 0);
}
