//! `OTEL_SDK_DISABLED=true` from the real process environment: no provider is installed, spans
//! are no-ops, and trace context still passes through (one test: the environment and the
//! globals are process-wide).
#![cfg(feature = "setup")]
#![allow(unsafe_code)] // `std::env::set_var` is unsafe in edition 2024; this binary has one thread using it

use opentelemetry::global;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer};
use std::collections::HashMap;

#[test]
fn disabled_installs_nothing_but_propagation_still_works() {
    // SAFETY: this test binary runs this single test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("OTEL_SDK_DISABLED", "true");
        std::env::set_var("OTEL_PROPAGATORS", "tracecontext,baggage");
    }
    let guard = otel_core::setup::init();
    assert!(guard.provider().is_none(), "no tracer provider");

    let incoming = HashMap::from([
        ("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
        ("baggage".to_owned(), "tenant=acme".to_owned()),
    ]);
    let parent = global::get_text_map_propagator(|p| p.extract(&incoming));
    let span = global::tracer("test").start_with_context("ignored", &parent);
    assert!(!span.is_recording(), "spans are no-ops");
    let cx = parent.with_span(span);
    let mut outgoing = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut outgoing));
    assert_eq!(outgoing["traceparent"], incoming["traceparent"], "the caller's context passes through");
    assert_eq!(outgoing["baggage"], "tenant=acme");
    drop(guard);
}
