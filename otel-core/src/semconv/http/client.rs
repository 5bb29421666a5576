//! The attributes of an HTTP client span.

use super::server::default_port;
use super::{client_error_type, redact_url};
use crate::config::HttpClientConfig;
use crate::propagation::HeaderSource;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};
use opentelemetry_semantic_conventions::attribute as semconv;
use std::borrow::Cow;

/// An outgoing request as the client span sees it.
#[derive(Debug)]
pub struct ClientRequest<'a, H: ?Sized> {
    /// The method as sent.
    pub method: &'a str,
    /// The absolute URL as sent; redacted before it becomes `url.full`. Empty when unknown.
    pub url: &'a str,
    /// The URL's scheme (for the default port).
    pub scheme: &'a str,
    /// The host the request goes to. Empty when unknown.
    pub host: &'a str,
    /// The port, when the URL names one (else the scheme's default is recorded).
    pub port: Option<u16>,
    /// A URL template the caller supplied (`/users/{id}`), for `url.template` and the span name.
    pub template: Option<&'a str>,
    /// How many times this request was sent before (retries, redirects); 0 for the first try.
    pub resend_count: u32,
    /// The request headers (for header capture).
    pub headers: &'a H,
}

impl<H: HeaderSource + ?Sized> ClientRequest<'_, H> {
    /// The attributes known before sending, for the span builder: method (normalized),
    /// `server.address`, `server.port`, `url.full` (credentials and sensitive query values
    /// redacted), `url.template`, `http.request.resend_count` (from the second attempt), and the
    /// allow-listed request headers.
    pub fn attributes(&self, config: &HttpClientConfig) -> Vec<KeyValue> {
        let method = config.known_methods().normalize(self.method);
        let mut attributes = Vec::with_capacity(8 + config.request_headers().len());
        attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.as_str()));
        if let Some(original) = method.original() {
            attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD_ORIGINAL, original.to_owned()));
        }
        // An unknown destination (a relative URI, no origin, no `Host`) records no address and
        // no URL rather than empty or made-up ones.
        if !self.host.is_empty() {
            attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, crate::internal::recent::client_host(self.host)));
            if let Some(port) = self.port.or_else(|| default_port(self.scheme)) {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        if !self.url.is_empty() {
            let url = redact_url(self.url, config.sensitive_query_parameters()).into_owned();
            attributes.push(KeyValue::new(semconv::URL_FULL, url));
        }
        if let Some(template) = self.template {
            attributes.push(KeyValue::new(semconv::URL_TEMPLATE, template.to_owned()));
        }
        if self.resend_count > 0 {
            attributes.push(KeyValue::new(semconv::HTTP_REQUEST_RESEND_COUNT, i64::from(self.resend_count)));
        }
        config.request_headers().record(self.headers, &mut attributes);
        attributes
    }
}

/// Records the response on a client span: `http.response.status_code`,
/// `network.protocol.version`, the allow-listed response headers, and Error status with
/// `error.type` for a 4xx or 5xx.
pub fn record_client_response(
    span: &SpanRef<'_>,
    status: u16,
    protocol_version: Option<&'static str>,
    headers: Option<&(impl HeaderSource + ?Sized)>,
    config: &HttpClientConfig,
) {
    span.set_attribute(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
    if let Some(version) = protocol_version {
        span.set_attribute(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(headers) = headers.filter(|_| !config.response_headers().is_empty()) {
        let mut captured = Vec::new();
        config.response_headers().record(headers, &mut captured);
        span.set_attributes(captured);
    }
    if let Some(error_type) = client_error_type(status) {
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(""));
    }
}

/// Records a request that failed before a response (connect, timeout, body, ...): Error
/// status, `error.type` (a low-cardinality name such as `timeout` or `connect`) and an
/// `exception` event with the error's message.
pub fn record_client_failure(span: &SpanRef<'_>, error_type: impl Into<Cow<'static, str>>, message: &str) {
    super::server::record_failure(span, error_type, message);
}

/// `network.protocol.version` for an `http::Version` (http 1 types).
pub fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;

    #[test]
    fn client_attributes_redact_and_default_the_port() {
        let headers = http::HeaderMap::new();
        let config = HttpClientConfig::builder().environment(|_| None).build();
        let request = ClientRequest {
            method: "GET",
            url: "https://bob:pw@api.example.com/users/7?X-Amz-Signature=s",
            scheme: "https",
            host: "api.example.com",
            port: None,
            template: Some("/users/{id}"),
            resend_count: 2,
            headers: &headers,
        };
        let mut attrs: Vec<(String, Value)> =
            request.attributes(&config).into_iter().map(|kv| (kv.key.to_string(), kv.value)).collect();
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        let expected: Vec<(String, Value)> = vec![
            ("http.request.method".into(), "GET".into()),
            ("http.request.resend_count".into(), 2_i64.into()),
            ("server.address".into(), "api.example.com".into()),
            ("server.port".into(), 443_i64.into()),
            ("url.full".into(), "https://REDACTED:REDACTED@api.example.com/users/7?X-Amz-Signature=REDACTED".into()),
            ("url.template".into(), "/users/{id}".into()),
        ];
        assert_eq!(attrs, expected);
    }

    #[test]
    fn versions() {
        assert_eq!(protocol_version(http::Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(http::Version::HTTP_2), Some("2"));
    }
}
