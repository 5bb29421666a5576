//! Capture of request and response headers named on an explicit allow-list.

use super::is_token;
use crate::propagation::HeaderSource;
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};
use regex::RegexSet;
use std::sync::Arc;

/// Header names whose values are never recorded, even when a capture list names them: they carry
/// credentials.
pub const DEFAULT_SENSITIVE_HEADERS: [&str; 5] =
    ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];

/// What a sensitive header's value is recorded as (each value of a repeated header).
pub const REDACTED: &str = "[REDACTED]";

/// Which captured headers have their values replaced with [`REDACTED`]: the
/// [`DEFAULT_SENSITIVE_HEADERS`], and names matching more patterns (regular expressions matched
/// case-insensitively against the whole name, as `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`
/// gives them: `x-.*-token`).
///
/// ```
/// use otel_core::semconv::http::SensitiveHeaders;
/// let sensitive = SensitiveHeaders::new(["x-.*-token", "session"]);
/// assert!(sensitive.is_sensitive("Authorization"));
/// assert!(sensitive.is_sensitive("X-Auth-Token"));
/// assert!(!sensitive.is_sensitive("x-session-id"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SensitiveHeaders {
    patterns: Option<RegexSet>,
}

impl SensitiveHeaders {
    /// The defaults and the names matching `patterns`; a pattern that is not a valid regular
    /// expression is ignored (the configuration reports it).
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut anchored: Vec<String> =
            patterns.into_iter().map(|p| format!("(?i)^(?:{})$", p.as_ref().trim())).collect();
        if anchored.is_empty() {
            return Self::default();
        }
        // One compilation when every pattern is valid; each on its own only to drop the others.
        let patterns = RegexSet::new(&anchored).ok().or_else(|| {
            anchored.retain(|p| regex::Regex::new(p).is_ok());
            (!anchored.is_empty()).then(|| RegexSet::new(&anchored).ok()).flatten()
        });
        Self { patterns }
    }

    /// How many patterns were kept (the valid ones), beside the defaults.
    pub(crate) fn pattern_count(&self) -> usize {
        self.patterns.as_ref().map_or(0, RegexSet::len)
    }

    /// Whether the values of header `name` are redacted.
    pub fn is_sensitive(&self, name: &str) -> bool {
        DEFAULT_SENSITIVE_HEADERS.iter().any(|sensitive| sensitive.eq_ignore_ascii_case(name))
            || self.patterns.as_ref().is_some_and(|patterns| patterns.is_match(name))
    }
}

/// Which headers become `http.request.header.<name>` / `http.response.header.<name>` attributes.
///
/// Only headers named here are recorded, never any other. Values are string arrays, one element
/// per value of a repeated header; bytes that are not UTF-8 are replaced with U+FFFD; the values
/// of a sensitive header ([`SensitiveHeaders`]: `Authorization`, `Cookie`, ... even when listed
/// on purpose) are recorded as [`REDACTED`]. Names are matched case-insensitively and recorded
/// lowercase. Names that are not valid header names are ignored ([`crate::config`] reports them).
#[derive(Clone, Debug, Default)]
pub struct HeaderCapture {
    headers: Arc<[CapturedHeader]>,
}

#[derive(Debug)]
struct CapturedHeader {
    name: Box<str>,
    key: Key,
    /// Whether its values are recorded as [`REDACTED`].
    redact: bool,
}

impl HeaderCapture {
    /// Request headers to record as `http.request.header.<name>`.
    ///
    /// ```
    /// use otel_core::semconv::http::HeaderCapture;
    /// let capture = HeaderCapture::request(["X-User-Id"]);
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-user-id", "42".parse().unwrap());
    /// headers.insert("authorization", "Bearer secret".parse().unwrap());
    /// let mut attributes = Vec::new();
    /// capture.record(&headers, &mut attributes);
    /// assert_eq!(attributes.len(), 1);
    /// assert_eq!(attributes[0].key.as_str(), "http.request.header.x-user-id");
    /// ```
    pub fn request<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::request_redacting(names, &SensitiveHeaders::default())
    }

    /// Response headers to record as `http.response.header.<name>`.
    pub fn response<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::response_redacting(names, &SensitiveHeaders::default())
    }

    /// [`request`](Self::request), redacting the values of the headers `sensitive` names.
    pub fn request_redacting<I, S>(names: I, sensitive: &SensitiveHeaders) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("http.request.header.", names, sensitive)
    }

    /// [`response`](Self::response), redacting the values of the headers `sensitive` names.
    pub fn response_redacting<I, S>(names: I, sensitive: &SensitiveHeaders) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("http.response.header.", names, sensitive)
    }

    fn with_prefix<I, S>(prefix: &str, names: I, sensitive: &SensitiveHeaders) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut headers: Vec<CapturedHeader> = Vec::new();
        for name in names {
            let name = name.as_ref().trim().to_ascii_lowercase();
            if !is_token(&name) || headers.iter().any(|h| *h.name == *name) {
                continue;
            }
            let key = Key::from(Arc::<str>::from(format!("{prefix}{name}")));
            let redact = sensitive.is_sensitive(&name);
            headers.push(CapturedHeader { name: name.into_boxed_str(), key, redact });
        }
        Self { headers: headers.into() }
    }

    /// How many headers are captured.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// True when no header is captured: adapters then skip the work entirely.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The captured header names, lowercase.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|h| &*h.name)
    }

    /// Appends one attribute per captured header present in `headers`.
    pub fn record(&self, headers: &(impl HeaderSource + ?Sized), attributes: &mut Vec<KeyValue>) {
        for captured in self.headers.iter() {
            let values: Vec<StringValue> = headers
                .values(&captured.name)
                .map(|v| match captured.redact {
                    true => StringValue::from(REDACTED),
                    false => StringValue::from(String::from_utf8_lossy(v).into_owned()),
                })
                .collect();
            if !values.is_empty() {
                attributes.push(KeyValue::new(captured.key.clone(), Value::Array(Array::String(values))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_listed_headers_with_every_value() {
        let capture = HeaderCapture::response(["Set-Cookie-Not", "x-multi", "bad name", "x-multi"]);
        assert_eq!(capture.names().collect::<Vec<_>>(), ["set-cookie-not", "x-multi"]);
        let mut headers = http::HeaderMap::new();
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", http::HeaderValue::from_bytes(b"b\xff").unwrap());
        headers.append("set-cookie", "secret".parse().unwrap());
        let mut attributes = Vec::new();
        capture.record(&headers, &mut attributes);
        assert_eq!(attributes.len(), 1);
        assert_eq!(attributes[0].key.as_str(), "http.response.header.x-multi");
        let expected = Value::Array(Array::String(vec!["a".into(), "b\u{fffd}".into()]));
        assert_eq!(attributes[0].value, expected);
    }

    #[test]
    fn sensitive_values_are_redacted_even_when_listed() {
        let sensitive = SensitiveHeaders::new(["x-.*-token", "(unclosed"]);
        let capture =
            HeaderCapture::request_redacting(["Authorization", "cookie", "x-auth-token", "x-user-id"], &sensitive);
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer secret".parse().unwrap());
        headers.append("cookie", "a=1".parse().unwrap());
        headers.append("cookie", "b=2".parse().unwrap());
        headers.insert("x-auth-token", "t0ken".parse().unwrap());
        headers.insert("x-user-id", "42".parse().unwrap());
        let mut attributes = Vec::new();
        capture.record(&headers, &mut attributes);
        let redacted = |n: usize| Value::Array(Array::String(vec![REDACTED.into(); n]));
        assert_eq!(
            attributes,
            [
                KeyValue::new("http.request.header.authorization", redacted(1)),
                KeyValue::new("http.request.header.cookie", redacted(2)),
                KeyValue::new("http.request.header.x-auth-token", redacted(1)),
                KeyValue::new("http.request.header.x-user-id", Value::Array(Array::String(vec!["42".into()]))),
            ]
        );
        // Without patterns, the defaults still hold.
        assert!(SensitiveHeaders::default().is_sensitive("SET-COOKIE"));
        assert!(!SensitiveHeaders::default().is_sensitive("x-auth-token"));
    }
}
