//! Reading settings from the environment, and reporting invalid values once.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// `OTEL_RUST_EXCLUDED_URLS`: comma-separated regular expressions; a request whose path and query
/// match one (unanchored) gets no span. `OTEL_RUST_<ADAPTER>_EXCLUDED_URLS` replaces it for one adapter.
pub const EXCLUDED_URLS: &str = "OTEL_RUST_EXCLUDED_URLS";
/// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`: comma-separated methods replacing the standard nine.
pub const KNOWN_METHODS: &str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";
/// `OTEL_INSTRUMENTATION_HTTP_SERVER_CAPTURE_REQUEST_HEADERS`: request headers a server span records.
pub const SERVER_CAPTURE_REQUEST_HEADERS: &str = "OTEL_INSTRUMENTATION_HTTP_SERVER_CAPTURE_REQUEST_HEADERS";
/// `OTEL_INSTRUMENTATION_HTTP_SERVER_CAPTURE_RESPONSE_HEADERS`: response headers a server span records.
pub const SERVER_CAPTURE_RESPONSE_HEADERS: &str = "OTEL_INSTRUMENTATION_HTTP_SERVER_CAPTURE_RESPONSE_HEADERS";
/// `OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_REQUEST_HEADERS`: request headers a client span records.
pub const CLIENT_CAPTURE_REQUEST_HEADERS: &str = "OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_REQUEST_HEADERS";
/// `OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_RESPONSE_HEADERS`: response headers a client span records.
pub const CLIENT_CAPTURE_RESPONSE_HEADERS: &str = "OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_RESPONSE_HEADERS";
/// `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`: comma-separated regular expressions
/// (matched case-insensitively against the whole header name); a captured header whose name
/// matches one is recorded as `[REDACTED]`, as are `authorization`, `proxy-authorization`,
/// `cookie`, `set-cookie` and `x-api-key` always.
pub const CAPTURE_HEADERS_SANITIZE_FIELDS: &str = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS";
/// `OTEL_RUST_HTTP_SENSITIVE_QUERY_PARAMETERS`: comma-separated query parameter names whose values
/// are redacted, replacing the default list (empty: redact none).
pub const SENSITIVE_QUERY_PARAMETERS: &str = "OTEL_RUST_HTTP_SENSITIVE_QUERY_PARAMETERS";
/// `OTEL_RUST_HTTP_SERVER_PUBLIC_ENDPOINT`: `true` makes every server span a new trace that links to
/// the incoming context, and drops incoming baggage.
pub const SERVER_PUBLIC_ENDPOINT: &str = "OTEL_RUST_HTTP_SERVER_PUBLIC_ENDPOINT";

/// The adapter's own exclusion variable, `OTEL_RUST_<ADAPTER>_EXCLUDED_URLS`, e.g.
/// `OTEL_RUST_ACTIX_EXCLUDED_URLS` for the adapter named `actix`.
pub fn adapter_excluded_urls(adapter: &str) -> String {
    format!("OTEL_RUST_{}_EXCLUDED_URLS", adapter.to_ascii_uppercase())
}

/// An invalid setting that was reported and ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The environment variable, or `code` for a value given in code.
    pub source: String,
    /// The offending value (or the part of it that was rejected).
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ignoring invalid value {:?}: {}", self.source, self.value, self.reason)
    }
}

static REPORTED: Mutex<Vec<ConfigProblem>> = Mutex::new(Vec::new());

/// Reports an invalid setting as a `tracing` warning, once per source and value for the life of
/// the process, however many times configuration is built.
pub(crate) fn report(source: &str, value: &str, reason: impl Into<String>) {
    let problem = ConfigProblem { source: source.to_owned(), value: value.to_owned(), reason: reason.into() };
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    if reported.iter().any(|p| p.source == problem.source && p.value == problem.value) {
        return;
    }
    tracing::warn!(target: "otel_core::config", "{problem}");
    reported.push(problem);
}

/// Forgets every reported setting: a fuzzing run reports a new value with nearly every input, and
/// would otherwise keep them all (and compare each new one with them all).
#[cfg(fuzzing)]
pub(crate) fn forget_reported() {
    REPORTED.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

/// Every invalid setting reported so far in this process, in the order reported.
pub fn reported_problems() -> Vec<ConfigProblem> {
    REPORTED.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Where settings are read from: the process environment, or a function (for tests, or for
/// applications that keep their settings elsewhere).
#[derive(Clone, Default)]
pub(crate) struct Env {
    lookup: Option<Lookup>,
}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.lookup.is_some() { "Env(custom)" } else { "Env(process)" })
    }
}

impl Env {
    pub(crate) fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self { lookup: Some(Arc::new(lookup)) }
    }

    /// The variable's value; a value that is not UTF-8 is reported and treated as unset.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        match &self.lookup {
            Some(lookup) => lookup(name),
            None => match std::env::var_os(name)?.into_string() {
                Ok(value) => Some(value),
                Err(raw) => {
                    report(name, &raw.to_string_lossy(), "not valid UTF-8");
                    None
                }
            },
        }
    }

    /// A comma-separated list, entries trimmed, empty entries dropped. `Some(empty)` when the
    /// variable is set but empty: that is a deliberate "none".
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        let value = self.get(name)?;
        Some(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }

    /// `true` or `false`, case-insensitive; anything else is reported and ignored.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        let value = self.get(name)?;
        match value.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            "" => None,
            _ => {
                report(name, &value, "expected true or false");
                None
            }
        }
    }
}
