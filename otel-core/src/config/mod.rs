//! The configuration every HTTP adapter shares, filled from code and from the environment.
//!
//! One type per side, so that axum and actix-web behave the same:
//! [`HttpServerConfig`] for server adapters, [`HttpClientConfig`] for client adapters.
//!
//! # Code and environment
//! - Exclusion rules from code and from the environment are combined: a request excluded by
//!   either gets no span. The environment gives regular expressions in
//!   `OTEL_RUST_EXCLUDED_URLS`, replaced for one adapter by `OTEL_RUST_<ADAPTER>_EXCLUDED_URLS`
//!   when that is set (even to an empty value).
//! - For every other setting a value given in code wins over the environment, which wins over
//!   the default.
//! - An invalid value (a regular expression that does not compile, a header name that is not a
//!   token, `maybe` for a boolean) is reported once as a `tracing` warning naming its source and
//!   value, then ignored; the rest of the setting still applies. [`reported_problems`] lists them.
//!
//! Building a configuration reads the environment once; nothing on the request path does.

mod env;
mod exclusion;

pub use env::{
    CAPTURE_HEADERS_SANITIZE_FIELDS, CLIENT_CAPTURE_REQUEST_HEADERS, CLIENT_CAPTURE_RESPONSE_HEADERS, ConfigProblem,
    EXCLUDED_URLS, KNOWN_METHODS, SENSITIVE_QUERY_PARAMETERS, SERVER_CAPTURE_REQUEST_HEADERS,
    SERVER_CAPTURE_RESPONSE_HEADERS, SERVER_PUBLIC_ENDPOINT, adapter_excluded_urls, reported_problems,
};
pub use exclusion::RequestTarget;
use exclusion::UrlExclusion;

use crate::semconv::http::{HeaderCapture, KnownMethods, SensitiveHeaders, SensitiveQueryParameters, is_token};
#[cfg(fuzzing)]
pub(crate) use env::forget_reported;
pub(crate) use env::{Env, report};
use regex::RegexSet;
use std::fmt;
use std::sync::Arc;

/// How a server treats the trace context a request arrives with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContextPolicy {
    /// The server span continues the caller's trace, and incoming baggage is kept (the default:
    /// right for services called by services you run).
    #[default]
    Continue,
    /// For internet-facing services: each request starts a new trace whose root links to the
    /// incoming context, and incoming baggage is dropped, so that a caller can neither join
    /// your traces nor inject baggage into them.
    PublicEndpoint,
}

/// Configuration shared by every HTTP server adapter.
///
/// ```
/// use otel_core::config::HttpServerConfig;
/// let config = HttpServerConfig::builder()
///     .adapter("tower")
///     .exclude_path("/health")
///     .exclude_prefix("/internal/")
///     .capture_request_headers(["x-user-id"])
///     .build();
/// assert!(config.excludes("GET", "/health?probe=1"));
/// assert!(!config.excludes("GET", "/users/7"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct HttpServerConfig {
    exclusion: UrlExclusion,
    known_methods: KnownMethods,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    sensitive_query: SensitiveQueryParameters,
    context_policy: ContextPolicy,
}

impl HttpServerConfig {
    /// A builder; [`HttpServerConfigBuilder::build`] reads the environment.
    pub fn builder() -> HttpServerConfigBuilder {
        HttpServerConfigBuilder::default()
    }

    /// The configuration from the environment alone, for the adapter named `adapter`.
    pub fn from_env(adapter: &str) -> Self {
        Self::builder().adapter(adapter).build()
    }

    /// Whether the request `method target` (the request target as received: path and query)
    /// gets no span. Without any rule, no work at all; exact paths and prefixes compare with the
    /// target as it is, and it is split into path and query only for a predicate.
    #[inline]
    pub fn excludes(&self, method: &str, target: &str) -> bool {
        !self.exclusion.is_empty() && self.exclusion.excludes(method, target)
    }

    /// The exclusion regular expressions in force (from code and from the environment).
    pub fn excluded_url_patterns(&self) -> &[String] {
        self.exclusion.patterns()
    }

    /// Methods recorded as themselves; others become `_OTHER`.
    pub fn known_methods(&self) -> &KnownMethods {
        &self.known_methods
    }

    /// Request headers recorded as `http.request.header.<name>`.
    pub fn request_headers(&self) -> &HeaderCapture {
        &self.request_headers
    }

    /// Response headers recorded as `http.response.header.<name>`.
    pub fn response_headers(&self) -> &HeaderCapture {
        &self.response_headers
    }

    /// Query parameters whose values `url.query` redacts.
    pub fn sensitive_query_parameters(&self) -> &SensitiveQueryParameters {
        &self.sensitive_query
    }

    /// How the incoming trace context is treated.
    pub fn context_policy(&self) -> ContextPolicy {
        self.context_policy
    }
}

/// Builds an [`HttpServerConfig`] from code, then fills what code left open from the environment.
#[derive(Clone, Default)]
pub struct HttpServerConfigBuilder {
    adapter: Option<String>,
    exact: Vec<String>,
    prefixes: Vec<String>,
    regexes: Vec<String>,
    predicate: Option<exclusion::Predicate>,
    known_methods: Option<Vec<String>>,
    request_headers: Option<Vec<String>>,
    response_headers: Option<Vec<String>>,
    sensitive_headers: Option<Vec<String>>,
    sensitive_query: Option<Vec<String>>,
    context_policy: Option<ContextPolicy>,
    env: Env,
}

impl fmt::Debug for HttpServerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServerConfigBuilder")
            .field("adapter", &self.adapter)
            .field("exact", &self.exact)
            .field("prefixes", &self.prefixes)
            .field("regexes", &self.regexes)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl HttpServerConfigBuilder {
    /// The adapter's name, which selects its own `OTEL_RUST_<ADAPTER>_EXCLUDED_URLS` variable.
    /// Adapters set it; set it yourself only to override theirs.
    pub fn adapter(mut self, name: impl Into<String>) -> Self {
        self.adapter = Some(name.into());
        self
    }

    /// Sets the adapter name unless one was set already (for adapters wrapping a user's builder).
    pub fn default_adapter(mut self, name: impl Into<String>) -> Self {
        self.adapter.get_or_insert_with(|| name.into());
        self
    }

    /// Excludes requests whose path is exactly `path` (the query is not compared).
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        self.exact.push(path.into());
        self
    }

    /// Excludes requests whose path starts with `prefix` (a plain string prefix: `/health`
    /// also matches `/healthz`; end it with `/` to match whole segments only).
    pub fn exclude_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefixes.push(prefix.into());
        self
    }

    /// Excludes requests whose path and query match `regex` anywhere (unanchored; write `^` and
    /// `$` to anchor). An invalid expression is reported and ignored.
    pub fn exclude_regex(mut self, regex: impl Into<String>) -> Self {
        self.regexes.push(regex.into());
        self
    }

    /// Excludes requests for which `predicate` returns true.
    pub fn exclude_if(mut self, predicate: impl Fn(&RequestTarget<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Replaces the known methods (default: the nine standard ones).
    pub fn known_methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, methods: I) -> Self {
        self.known_methods = Some(methods.into_iter().map(Into::into).collect());
        self
    }

    /// Request headers to record (none by default).
    pub fn capture_request_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.request_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Response headers to record (none by default).
    pub fn capture_response_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.response_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// More header names whose captured values are recorded as `[REDACTED]`, as regular
    /// expressions matched case-insensitively against the whole name (`x-.*-token`), replacing
    /// `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`. `authorization`,
    /// `proxy-authorization`, `cookie`, `set-cookie` and `x-api-key` are redacted whatever this says.
    pub fn sensitive_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.sensitive_headers = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the list of query parameters whose values are redacted.
    pub fn sensitive_query_parameters<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.sensitive_query = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Treats every request as coming from the internet ([`ContextPolicy::PublicEndpoint`]).
    pub fn public_endpoint(self, public: bool) -> Self {
        self.context_policy(if public { ContextPolicy::PublicEndpoint } else { ContextPolicy::Continue })
    }

    /// Sets how the incoming trace context is treated.
    pub fn context_policy(mut self, policy: ContextPolicy) -> Self {
        self.context_policy = Some(policy);
        self
    }

    /// Reads settings through `lookup` instead of the process environment.
    pub fn environment(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Env::from_fn(lookup);
        self
    }

    /// Builds the configuration, reading the environment for what code left open.
    pub fn build(self) -> HttpServerConfig {
        let env = &self.env;
        let adapter_var = self.adapter.as_deref().map(adapter_excluded_urls);
        let (env_source, env_regexes) = match adapter_var.as_deref().and_then(|var| Some((var, env.list(var)?))) {
            Some((var, list)) => (var.to_owned(), list),
            None => (EXCLUDED_URLS.to_owned(), env.list(EXCLUDED_URLS).unwrap_or_default()),
        };
        let sensitive = sensitive_headers(self.sensitive_headers, env);
        let regexes = self
            .regexes
            .iter()
            .map(|r| ("code", r.as_str()))
            .chain(env_regexes.iter().map(|r| (env_source.as_str(), r.as_str())));
        HttpServerConfig {
            exclusion: UrlExclusion::new(self.exact, self.prefixes, compile(regexes), self.predicate),
            known_methods: known_methods(self.known_methods, env),
            request_headers: HeaderCapture::request_redacting(
                headers(self.request_headers, SERVER_CAPTURE_REQUEST_HEADERS, env),
                &sensitive,
            ),
            response_headers: HeaderCapture::response_redacting(
                headers(self.response_headers, SERVER_CAPTURE_RESPONSE_HEADERS, env),
                &sensitive,
            ),
            sensitive_query: sensitive_query(self.sensitive_query, env),
            context_policy: self.context_policy.unwrap_or_else(|| match env.bool(SERVER_PUBLIC_ENDPOINT) {
                Some(true) => ContextPolicy::PublicEndpoint,
                _ => ContextPolicy::Continue,
            }),
        }
    }
}

/// Configuration shared by every HTTP client adapter.
#[derive(Clone, Debug, Default)]
pub struct HttpClientConfig {
    known_methods: KnownMethods,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    sensitive_query: SensitiveQueryParameters,
}

impl HttpClientConfig {
    /// A builder; [`HttpClientConfigBuilder::build`] reads the environment.
    pub fn builder() -> HttpClientConfigBuilder {
        HttpClientConfigBuilder::default()
    }

    /// The configuration from the environment alone.
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// Methods recorded as themselves; others become `_OTHER`.
    pub fn known_methods(&self) -> &KnownMethods {
        &self.known_methods
    }

    /// Request headers recorded as `http.request.header.<name>`.
    pub fn request_headers(&self) -> &HeaderCapture {
        &self.request_headers
    }

    /// Response headers recorded as `http.response.header.<name>`.
    pub fn response_headers(&self) -> &HeaderCapture {
        &self.response_headers
    }

    /// Query parameters whose values `url.full` redacts.
    pub fn sensitive_query_parameters(&self) -> &SensitiveQueryParameters {
        &self.sensitive_query
    }
}

/// Builds an [`HttpClientConfig`]; code wins over the environment.
#[derive(Clone, Debug, Default)]
pub struct HttpClientConfigBuilder {
    known_methods: Option<Vec<String>>,
    request_headers: Option<Vec<String>>,
    response_headers: Option<Vec<String>>,
    sensitive_headers: Option<Vec<String>>,
    sensitive_query: Option<Vec<String>>,
    env: Env,
}

impl HttpClientConfigBuilder {
    /// Replaces the known methods (default: the nine standard ones).
    pub fn known_methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, methods: I) -> Self {
        self.known_methods = Some(methods.into_iter().map(Into::into).collect());
        self
    }

    /// Request headers to record (none by default).
    pub fn capture_request_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.request_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Response headers to record (none by default).
    pub fn capture_response_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.response_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// More header names whose captured values are recorded as `[REDACTED]`, as regular
    /// expressions matched case-insensitively against the whole name (`x-.*-token`), replacing
    /// `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`. `authorization`,
    /// `proxy-authorization`, `cookie`, `set-cookie` and `x-api-key` are redacted whatever this says.
    pub fn sensitive_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.sensitive_headers = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the list of query parameters whose values are redacted.
    pub fn sensitive_query_parameters<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.sensitive_query = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Reads settings through `lookup` instead of the process environment.
    pub fn environment(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Env::from_fn(lookup);
        self
    }

    /// Builds the configuration, reading the environment for what code left open.
    pub fn build(self) -> HttpClientConfig {
        let env = &self.env;
        let sensitive = sensitive_headers(self.sensitive_headers, env);
        HttpClientConfig {
            known_methods: known_methods(self.known_methods, env),
            request_headers: HeaderCapture::request_redacting(
                headers(self.request_headers, CLIENT_CAPTURE_REQUEST_HEADERS, env),
                &sensitive,
            ),
            response_headers: HeaderCapture::response_redacting(
                headers(self.response_headers, CLIENT_CAPTURE_RESPONSE_HEADERS, env),
                &sensitive,
            ),
            sensitive_query: sensitive_query(self.sensitive_query, env),
        }
    }
}

/// The headers whose captured values are redacted: the defaults, and the patterns from code, else
/// from `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS` (an invalid one is reported).
fn sensitive_headers(code: Option<Vec<String>>, env: &Env) -> SensitiveHeaders {
    let (source, patterns) = match code {
        Some(list) => ("code", list),
        None => (CAPTURE_HEADERS_SANITIZE_FIELDS, env.list(CAPTURE_HEADERS_SANITIZE_FIELDS).unwrap_or_default()),
    };
    let sensitive = SensitiveHeaders::new(&patterns);
    if sensitive.pattern_count() < patterns.len() {
        for pattern in &patterns {
            if let Err(e) = regex::Regex::new(pattern) {
                report(source, pattern, format!("not a valid regular expression: {e}"));
            }
        }
    }
    sensitive
}

/// Compiles the valid expressions into one set, reporting each invalid one with its source.
fn compile<'a>(regexes: impl Iterator<Item = (&'a str, &'a str)>) -> Option<RegexSet> {
    let regexes: Vec<(&str, &str)> = regexes.collect();
    if regexes.is_empty() {
        return None;
    }
    // One compilation when every expression is valid; each on its own only to find the others.
    if let Ok(set) = RegexSet::new(regexes.iter().map(|(_, pattern)| pattern)) {
        return Some(set);
    }
    let valid: Vec<&str> = regexes
        .into_iter()
        .filter(|(source, pattern)| match regex::Regex::new(pattern) {
            Ok(_) => true,
            Err(e) => {
                report(source, pattern, format!("not a valid regular expression: {e}"));
                false
            }
        })
        .map(|(_, pattern)| pattern)
        .collect();
    if valid.is_empty() {
        return None;
    }
    RegexSet::new(&valid).ok()
}

/// Keeps the entries that are tokens (methods, header names), reporting the others.
fn tokens(source: &str, entries: Vec<String>) -> Vec<String> {
    entries
        .into_iter()
        .filter(|entry| {
            let ok = is_token(entry);
            if !ok {
                report(source, entry, "not an HTTP token");
            }
            ok
        })
        .collect()
}

fn known_methods(code: Option<Vec<String>>, env: &Env) -> KnownMethods {
    let (source, list) = match code {
        Some(list) => ("code", list),
        None => match env.list(KNOWN_METHODS) {
            Some(list) => (KNOWN_METHODS, list),
            None => return KnownMethods::default(),
        },
    };
    let methods = tokens(source, list);
    if methods.is_empty() {
        return KnownMethods::default();
    }
    KnownMethods::new(methods)
}

fn headers(code: Option<Vec<String>>, var: &str, env: &Env) -> Vec<String> {
    match code {
        Some(list) => tokens("code", list),
        None => tokens(var, env.list(var).unwrap_or_default()),
    }
}

fn sensitive_query(code: Option<Vec<String>>, env: &Env) -> SensitiveQueryParameters {
    match code.or_else(|| env.list(SENSITIVE_QUERY_PARAMETERS)) {
        Some(list) => SensitiveQueryParameters::new(list),
        None => SensitiveQueryParameters::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An environment made of the given pairs.
    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    /// Whether `GET path_and_query` is excluded; the adapters' check on the target as received
    /// must agree with the rules applied to the split target.
    fn excluded(config: &HttpServerConfig, path_and_query: &str) -> bool {
        let split = config.exclusion.is_excluded(&RequestTarget::new("GET", path_and_query));
        assert_eq!(config.excludes("GET", path_and_query), split, "{path_and_query}");
        split
    }

    fn problems_for(source: &str, value: &str) -> usize {
        reported_problems().iter().filter(|p| p.source == source && p.value == value).count()
    }

    #[test]
    fn code_exclusions_exact_prefix_regex_predicate() {
        let config = HttpServerConfig::builder()
            .exclude_path("/health")
            .exclude_prefix("/internal/")
            .exclude_regex(r"^/metrics")
            .exclude_regex(r"probe=1")
            .exclude_if(|t| t.method == "OPTIONS")
            .environment(env(&[]))
            .build();
        assert!(excluded(&config, "/health"));
        assert!(excluded(&config, "/health?verbose=1"), "exact paths ignore the query");
        assert!(!excluded(&config, "/health/deep"));
        assert!(excluded(&config, "/internal/jobs"));
        assert!(!excluded(&config, "/internal"));
        assert!(excluded(&config, "/metrics/prometheus"));
        assert!(!excluded(&config, "/api/metrics"), "anchored by the user's ^");
        assert!(excluded(&config, "/users?probe=1"), "regexes see the query");
        assert!(config.excludes("OPTIONS", "/users?x=1"));
        assert!(!excluded(&config, "/users/7"));
    }

    #[test]
    fn path_rules_compare_with_the_path_alone() {
        let config = HttpServerConfig::builder()
            .exclude_path("/ready")
            .exclude_path("/health?deep=1")
            .exclude_prefix("/internal/")
            .exclude_prefix("/ops?")
            .environment(env(&[]))
            .build();
        for (target, expected) in [
            ("/ready", true),
            ("/ready?", true),
            ("/ready?full=1", true),
            ("/readyz", false),
            ("/read", false),
            ("/health?deep=1", false), // a path never holds `?`: this rule matches nothing
            ("/internal/x?y=1", true),
            ("/internal?/x", false),
            ("/ops?x", false),
            ("", false),
        ] {
            assert_eq!(excluded(&config, target), expected, "{target}");
        }
    }

    #[test]
    fn environment_exclusions_combine_with_code_and_adapter_variable_wins() {
        let general = env(&[(EXCLUDED_URLS, "/ready, ^/live$ ,,")]);
        let config = HttpServerConfig::builder().adapter("tower").exclude_path("/health").environment(general).build();
        assert!(excluded(&config, "/health"));
        assert!(excluded(&config, "/api/ready"), "unanchored");
        assert!(excluded(&config, "/live"));
        assert!(!excluded(&config, "/lively"));
        assert_eq!(config.excluded_url_patterns(), ["/ready", "^/live$"]);

        let both = env(&[(EXCLUDED_URLS, "/ready"), ("OTEL_RUST_TOWER_EXCLUDED_URLS", "/ping")]);
        let config = HttpServerConfig::builder().adapter("tower").environment(both).build();
        assert!(excluded(&config, "/ping"));
        assert!(!excluded(&config, "/ready"), "the adapter's variable replaces the general one");

        let other_adapter = env(&[(EXCLUDED_URLS, "/ready"), ("OTEL_RUST_ACTIX_EXCLUDED_URLS", "/ping")]);
        let config = HttpServerConfig::builder().adapter("tower").environment(other_adapter).build();
        assert!(excluded(&config, "/ready") && !excluded(&config, "/ping"));

        let emptied = env(&[(EXCLUDED_URLS, "/ready"), ("OTEL_RUST_TOWER_EXCLUDED_URLS", "")]);
        let config = HttpServerConfig::builder().adapter("tower").environment(emptied).build();
        assert!(!excluded(&config, "/ready"), "set but empty means none for this adapter");
        assert!(config.exclusion.is_empty());
    }

    #[test]
    fn invalid_regex_is_reported_once_and_the_rest_applies() {
        let lookup = env(&[(EXCLUDED_URLS, "/ok,(unclosed-7f3a")]);
        let lookup = Arc::new(lookup);
        for _ in 0..3 {
            let l = Arc::clone(&lookup);
            let config = HttpServerConfig::builder().environment(move |n| l(n)).build();
            assert!(excluded(&config, "/ok"));
        }
        assert_eq!(problems_for(EXCLUDED_URLS, "(unclosed-7f3a"), 1);
        let problem = reported_problems().into_iter().find(|p| p.value == "(unclosed-7f3a").unwrap();
        assert!(problem.to_string().starts_with("OTEL_RUST_EXCLUDED_URLS: ignoring invalid value"), "{problem}");

        HttpServerConfig::builder().exclude_regex("[bad-code-9c1").environment(env(&[])).build();
        assert_eq!(problems_for("code", "[bad-code-9c1"), 1);
    }

    #[test]
    fn known_methods_from_env_and_code() {
        let config =
            HttpServerConfig::builder().environment(env(&[(KNOWN_METHODS, "GET, PROPFIND,bad method-4e2")])).build();
        assert_eq!(config.known_methods().normalize("PROPFIND").as_str(), "PROPFIND");
        assert_eq!(config.known_methods().normalize("POST").as_str(), "_OTHER");
        assert_eq!(problems_for(KNOWN_METHODS, "bad method-4e2"), 1);

        let config = HttpServerConfig::builder()
            .known_methods(["GET", "POST"])
            .environment(env(&[(KNOWN_METHODS, "PROPFIND")]))
            .build();
        assert_eq!(config.known_methods().iter().collect::<Vec<_>>(), ["GET", "POST"], "code wins");

        let config = HttpServerConfig::builder().environment(env(&[(KNOWN_METHODS, "no good-81a")])).build();
        assert_eq!(config.known_methods(), &KnownMethods::default(), "nothing valid: default kept");
    }

    #[test]
    fn header_capture_from_env_and_code() {
        let lookup = env(&[
            (SERVER_CAPTURE_REQUEST_HEADERS, "X-User-Id, x-request-id"),
            (SERVER_CAPTURE_RESPONSE_HEADERS, "content-type,not valid-5b"),
            (CLIENT_CAPTURE_REQUEST_HEADERS, "x-client"),
        ]);
        let lookup = Arc::new(lookup);
        let l = Arc::clone(&lookup);
        let server = HttpServerConfig::builder().environment(move |n| l(n)).build();
        assert_eq!(server.request_headers().names().collect::<Vec<_>>(), ["x-user-id", "x-request-id"]);
        assert_eq!(server.response_headers().names().collect::<Vec<_>>(), ["content-type"]);
        assert_eq!(problems_for(SERVER_CAPTURE_RESPONSE_HEADERS, "not valid-5b"), 1);

        let l = Arc::clone(&lookup);
        let server =
            HttpServerConfig::builder().capture_request_headers(["x-tenant"]).environment(move |n| l(n)).build();
        assert_eq!(server.request_headers().names().collect::<Vec<_>>(), ["x-tenant"], "code wins");

        let l = Arc::clone(&lookup);
        let client = HttpClientConfig::builder().environment(move |n| l(n)).build();
        assert_eq!(client.request_headers().names().collect::<Vec<_>>(), ["x-client"]);
        assert!(client.response_headers().is_empty());
    }

    #[test]
    fn sensitive_headers_from_env_and_code_add_to_the_defaults() {
        let lookup = Arc::new(env(&[
            (SERVER_CAPTURE_REQUEST_HEADERS, "authorization,x-session,x-team"),
            (CAPTURE_HEADERS_SANITIZE_FIELDS, "X-SESS.*,[bad"),
        ]));
        let record = |config: &HttpServerConfig| {
            let mut headers = http::HeaderMap::new();
            for name in ["authorization", "x-session", "x-team"] {
                headers.insert(name, "value".parse::<http::HeaderValue>().unwrap());
            }
            let mut attributes = Vec::new();
            config.request_headers().record(&headers, &mut attributes);
            attributes.into_iter().map(|kv| kv.value.to_string()).collect::<Vec<_>>()
        };
        // One value each, as the attribute's array prints it.
        let (redacted, value) = ("[\"[REDACTED]\"]", "[\"value\"]");
        let l = Arc::clone(&lookup);
        let config = HttpServerConfig::builder().environment(move |n| l(n)).build();
        assert_eq!(record(&config), [redacted, redacted, value]);
        assert_eq!(problems_for(CAPTURE_HEADERS_SANITIZE_FIELDS, "[bad"), 1);
        let l = Arc::clone(&lookup);
        let config = HttpServerConfig::builder().sensitive_headers(["x-team"]).environment(move |n| l(n)).build();
        assert_eq!(record(&config), [redacted, value, redacted], "code replaces the variable, not the defaults");
        let client = HttpClientConfig::builder().capture_request_headers(["cookie"]).environment(|_| None).build();
        let mut headers = http::HeaderMap::new();
        headers.insert("cookie", "id=1".parse::<http::HeaderValue>().unwrap());
        let mut attributes = Vec::new();
        client.request_headers().record(&headers, &mut attributes);
        assert_eq!(attributes[0].value.to_string(), redacted);
    }

    #[test]
    fn sensitive_query_parameters_replace_the_default() {
        let config = HttpServerConfig::builder().environment(env(&[])).build();
        assert!(config.sensitive_query_parameters().contains("X-Amz-Signature"));
        let config =
            HttpServerConfig::builder().environment(env(&[(SENSITIVE_QUERY_PARAMETERS, "token, api_key")])).build();
        assert!(config.sensitive_query_parameters().contains("api_key"));
        assert!(!config.sensitive_query_parameters().contains("sig"), "a full override");
        let client = HttpClientConfig::builder()
            .sensitive_query_parameters(["code"])
            .environment(env(&[(SENSITIVE_QUERY_PARAMETERS, "token")]))
            .build();
        assert_eq!(client.sensitive_query_parameters().iter().collect::<Vec<_>>(), ["code"]);
        let none = HttpClientConfig::builder().environment(env(&[(SENSITIVE_QUERY_PARAMETERS, "")])).build();
        assert_eq!(none.sensitive_query_parameters().iter().count(), 0);
    }

    #[test]
    fn public_endpoint_from_env_and_code() {
        let on = HttpServerConfig::builder().environment(env(&[(SERVER_PUBLIC_ENDPOINT, "TRUE")])).build();
        assert_eq!(on.context_policy(), ContextPolicy::PublicEndpoint);
        let code_wins = HttpServerConfig::builder()
            .public_endpoint(false)
            .environment(env(&[(SERVER_PUBLIC_ENDPOINT, "true")]))
            .build();
        assert_eq!(code_wins.context_policy(), ContextPolicy::Continue);
        let invalid = HttpServerConfig::builder().environment(env(&[(SERVER_PUBLIC_ENDPOINT, "yes-2c")])).build();
        assert_eq!(invalid.context_policy(), ContextPolicy::Continue);
        assert_eq!(problems_for(SERVER_PUBLIC_ENDPOINT, "yes-2c"), 1);
    }

    #[test]
    fn adapter_variable_name() {
        assert_eq!(adapter_excluded_urls("actix"), "OTEL_RUST_ACTIX_EXCLUDED_URLS");
    }
}
