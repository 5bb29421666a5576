//! Capture of request and response headers named on an explicit allow-list.

use super::is_token;
use crate::propagation::HeaderSource;
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};
use std::sync::Arc;

/// Which headers become `http.request.header.<name>` / `http.response.header.<name>` attributes.
///
/// Only headers named here are recorded, never any other (so `Authorization` and `Cookie` stay
/// out unless someone lists them on purpose). Values are string arrays, one element per value of
/// a repeated header; bytes that are not UTF-8 are replaced with U+FFFD. Names are matched
/// case-insensitively and recorded lowercase. Names that are not valid header names are ignored
/// ([`crate::config`] reports them).
#[derive(Clone, Debug, Default)]
pub struct HeaderCapture {
    headers: Arc<[CapturedHeader]>,
}

#[derive(Debug)]
struct CapturedHeader {
    name: Box<str>,
    key: Key,
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
        Self::with_prefix("http.request.header.", names)
    }

    /// Response headers to record as `http.response.header.<name>`.
    pub fn response<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("http.response.header.", names)
    }

    fn with_prefix<I, S>(prefix: &str, names: I) -> Self
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
            headers.push(CapturedHeader { name: name.into_boxed_str(), key });
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
                .map(|v| StringValue::from(String::from_utf8_lossy(v).into_owned()))
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
}
