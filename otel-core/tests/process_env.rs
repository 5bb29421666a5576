//! Configuration read from the real process environment (one test per binary: the environment
//! is process-wide).
#![allow(unsafe_code)] // `std::env::set_var` is unsafe in edition 2024; this binary has one thread using it

use otel_core::config::{
    ContextPolicy, HttpClientConfig, HttpServerConfig, KNOWN_METHODS, SERVER_PUBLIC_ENDPOINT, reported_problems,
};
use std::os::unix::ffi::OsStrExt;

#[test]
fn settings_come_from_the_process_environment() {
    // SAFETY: this test binary runs this single test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("OTEL_RUST_EXCLUDED_URLS", "/ready");
        std::env::set_var("OTEL_RUST_ACTIX_EXCLUDED_URLS", "^/health$,/metrics");
        std::env::set_var(KNOWN_METHODS, "GET,POST,PURGE");
        std::env::set_var("OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_RESPONSE_HEADERS", "content-type");
        std::env::set_var(SERVER_PUBLIC_ENDPOINT, std::ffi::OsStr::from_bytes(b"tr\xffue"));
    }
    let actix = HttpServerConfig::from_env("actix");
    let excluded = |config: &HttpServerConfig, p| config.excludes("GET", p);
    assert!(excluded(&actix, "/health") && excluded(&actix, "/api/metrics"));
    assert!(!excluded(&actix, "/ready"), "the adapter's own variable wins");
    assert_eq!(actix.known_methods().normalize("PURGE").as_str(), "PURGE");
    assert_eq!(actix.context_policy(), ContextPolicy::Continue);
    let problem = reported_problems().into_iter().find(|p| p.source == SERVER_PUBLIC_ENDPOINT).expect("reported");
    assert_eq!(problem.reason, "not valid UTF-8");

    let tower = HttpServerConfig::from_env("tower");
    assert!(excluded(&tower, "/ready") && !excluded(&tower, "/health"));

    let client = HttpClientConfig::from_env();
    assert_eq!(client.response_headers().names().collect::<Vec<_>>(), ["content-type"]);
}
