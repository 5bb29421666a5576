//! `env`: otel-core's environment-variable parsers, through the `environment` lookups of the HTTP
//! configurations (`OTEL_RUST_*_EXCLUDED_URLS`, `OTEL_INSTRUMENTATION_HTTP_*`: regular expressions,
//! methods, header lists) and of `setup` (`OTEL_*`: sampler and its argument, propagators,
//! resource attributes and OTLP headers with percent-decoding, endpoints, protocols, timeouts,
//! batch sizes, exporters). Never panics, and the configuration built works on a request: URL
//! exclusion, method normalization, and URL redaction (`redact_url`) of the input as a URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_core::config::{HttpClientConfig, HttpServerConfig};
use std::sync::Arc;

/// Every variable's value: the whole input (first byte even), or one of its lines, picked by a
/// hash of the variable's name (first byte odd). The TLS file variables are left unset: their
/// values are paths, which setup reads.
///
/// The lists of regular expressions (URL exclusion, header redaction) are not the input: they
/// come from [`PATTERNS`], for one input in 32 (the first byte's bits 1 to 5 set; its bits 6 and 7
/// and the second byte's bit 0 pick the list): given the input, the run would fuzz the regex
/// crate's compiler (fuzzed by its own project) instead of these parsers, and compiling even
/// these lists costs more than the rest of an execution.
fn lookup(data: &[u8]) -> impl Fn(&str) -> Option<String> + Clone + Send + Sync + 'static {
    let text = String::from_utf8_lossy(data.get(1..).unwrap_or_default()).into_owned();
    let first = data.first().copied().unwrap_or_default();
    let whole = first % 2 == 0;
    let pick = usize::from(first >> 6) * 2 + usize::from(data.get(1).copied().unwrap_or_default() & 1);
    let patterns = (first & 0b11_1110 == 0b11_1110).then(|| PATTERNS[pick]);
    let lines: Arc<Vec<String>> =
        Arc::new(if whole { vec![text] } else { text.split('\n').map(str::to_owned).collect() });
    move |name: &str| {
        if name.ends_with("CERTIFICATE") || name.ends_with("CLIENT_KEY") {
            return None;
        }
        if name.ends_with("EXCLUDED_URLS") || name.ends_with("SANITIZE_FIELDS") {
            return patterns.map(str::to_owned);
        }
        let hash =
            name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let line = &lines[(hash % lines.len() as u64) as usize];
        (!line.is_empty()).then(|| line.clone())
    }
}

/// Lists of regular expressions as users write them: valid, invalid, mixed, with spaces and
/// empty entries, anchored or not, matching everything.
const PATTERNS: [&str; 8] = [
    "/health",
    "^/ready$,/live",
    "(unclosed, /ok",
    " x-.*-token , session ,",
    ",,",
    ".*",
    "[bad,^/users/[0-9]+$",
    "(?i)^/API/.*\\?debug=",
];

fuzz_target!(|data: &[u8]| {
    let lookup = lookup(data);
    let target = String::from_utf8_lossy(data).into_owned();

    let server = HttpServerConfig::builder().adapter("fuzz").environment(lookup.clone()).build();
    let _ = server.excludes("GET", &target);
    let _ = server.excluded_url_patterns();
    let _ = server.known_methods().normalize(&target);
    let _ = server.sensitive_query_parameters();

    let client = HttpClientConfig::builder().environment(lookup.clone()).build();
    let _ = client.known_methods().normalize(&target);
    let _ = otel_core::semconv::http::redact_url(&target, client.sensitive_query_parameters());

    otel_core::fuzzing::parse_setup_environment(lookup);
    otel_core::fuzzing::forget_reported_problems();
});
