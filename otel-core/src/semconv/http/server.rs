//! The attributes of an HTTP server span, from borrowed request and response parts.

use super::address::{ProxyHeaders, client_address_from, server_address_from};
use super::{HostPort, redact_query, server_error_type};
use crate::config::{HttpServerConfig, RequestTarget};
use crate::propagation::HeaderSource;
use crate::recent;
use opentelemetry::trace::{SpanRef, Status};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

/// An incoming request as the server span sees it; every framework can fill it without copying.
#[derive(Debug)]
pub struct ServerRequest<'a, H: ?Sized> {
    /// The method as received.
    pub method: &'a str,
    /// The request target: path and query as received (`/users/7?page=2`).
    pub target: &'a str,
    /// `url.scheme`: `http` or `https`.
    pub scheme: &'static str,
    /// `network.protocol.version`: `1.0`, `1.1`, `2` or `3`, when known.
    pub protocol_version: Option<&'static str>,
    /// The URI's authority (HTTP/2 `:authority`), when the request carried one.
    pub authority: Option<&'a str>,
    /// The request headers.
    pub headers: &'a H,
    /// The connection's remote address, when the framework exposes it.
    pub peer: Option<SocketAddr>,
}

impl<H: HeaderSource + ?Sized> ServerRequest<'_, H> {
    /// The exclusion rules' view of this request.
    pub fn exclusion_target(&self) -> RequestTarget<'_> {
        RequestTarget::new(self.method, self.target)
    }

    /// The attributes known when the request arrives, to give to the span builder so that a
    /// sampler sees them: method (normalized), `url.path`, `url.query` (redacted), `url.scheme`,
    /// `http.route` when the router matched already, `server.address`/`server.port`,
    /// `network.protocol.version`, `user_agent.original`, `client.address`,
    /// `network.peer.address`/`network.peer.port`, and the allow-listed request headers.
    ///
    /// ```
    /// use otel_core::config::HttpServerConfig;
    /// use otel_core::semconv::http::ServerRequest;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example.com".parse().unwrap());
    /// let request = ServerRequest {
    ///     method: "GET", target: "/users/7?page=2", scheme: "https", protocol_version: Some("1.1"),
    ///     authority: None, headers: &headers, peer: None,
    /// };
    /// let attributes = request.attributes(&HttpServerConfig::default(), Some("/users/{id}"));
    /// assert!(attributes.iter().any(|kv| kv.key.as_str() == "http.route"));
    /// ```
    pub fn attributes(&self, config: &HttpServerConfig, route: Option<impl Into<StringValue>>) -> Vec<KeyValue> {
        let method = config.known_methods().normalize(self.method);
        let target = self.exclusion_target();
        let mut attributes = Vec::with_capacity(14 + config.request_headers().len());
        attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.as_str()));
        if let Some(original) = method.original() {
            attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD_ORIGINAL, original.to_owned()));
        }
        attributes.push(KeyValue::new(semconv::URL_PATH, target.path.to_owned()));
        if let Some(query) = target.query {
            let query = redact_query(query, config.sensitive_query_parameters()).into_owned();
            attributes.push(KeyValue::new(semconv::URL_QUERY, query));
        }
        attributes.push(KeyValue::new(semconv::URL_SCHEME, self.scheme));
        if let Some(route) = route {
            attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.into()));
        }
        let proxy = ProxyHeaders::read(self.headers);
        if let Some(HostPort { host, port }) =
            server_address_from(proxy.forwarded, proxy.forwarded_host, self.authority, proxy.host)
        {
            attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, recent::server_host(host)));
            if let Some(port) = port.or_else(|| default_port(self.scheme)) {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        if let Some(version) = self.protocol_version {
            attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
        }
        if let Some(agent) = proxy.user_agent {
            let agent = String::from_utf8_lossy(agent).into_owned();
            attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, agent));
        }
        // The peer's address serves twice when no proxy named the client: format it once.
        let peer_ip: Option<StringValue> = self.peer.map(|p| recent::peer_ip(p.ip(), ip_text));
        match client_address_from(proxy.forwarded, proxy.forwarded_for) {
            Some(client) => attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, client.host.to_owned())),
            None => {
                if let Some(ip) = &peer_ip {
                    attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, ip.clone()));
                }
            }
        }
        if let (Some(peer), Some(ip)) = (self.peer, peer_ip) {
            attributes.push(KeyValue::new(semconv::NETWORK_PEER_ADDRESS, ip));
            attributes.push(KeyValue::new(semconv::NETWORK_PEER_PORT, i64::from(peer.port())));
        }
        config.request_headers().record(self.headers, &mut attributes);
        attributes
    }
}

/// An IP address as text in one allocation (formatted on the stack, then shared). IPv4, by far
/// the most common, is written digit by digit: `Display` costs ten times more.
fn ip_text(ip: std::net::IpAddr) -> Arc<str> {
    use std::io::Write as _;
    // 45 bytes hold the longest form, an IPv4-mapped IPv6 address.
    let mut buf = [0u8; 45];
    let len = match ip {
        std::net::IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            Some(len)
        }
        std::net::IpAddr::V6(v6) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            write!(cursor, "{v6}").ok().and_then(|()| usize::try_from(cursor.position()).ok())
        }
    };
    let text = len.and_then(|len| std::str::from_utf8(&buf[..len]).ok()).map(Arc::<str>::from);
    text.unwrap_or_else(|| Arc::<str>::from(ip.to_string()))
}

/// The port a scheme implies when the request names none.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Records the response on a server span: `http.response.status_code`, the allow-listed
/// response headers, and Error status with `error.type` for a 5xx (a 4xx leaves it Unset).
pub fn record_server_response(
    span: &SpanRef<'_>,
    status: u16,
    headers: Option<&(impl HeaderSource + ?Sized)>,
    config: &HttpServerConfig,
) {
    record_routed_server_response(span, status, None, headers, config);
}

/// [`record_server_response`] for a router that tells the route only once it ran (actix-web):
/// `http.route` is recorded with the status, in one update of the span.
pub fn record_routed_server_response(
    span: &SpanRef<'_>,
    status: u16,
    route: Option<StringValue>,
    headers: Option<&(impl HeaderSource + ?Sized)>,
    config: &HttpServerConfig,
) {
    let status_code = KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
    match route {
        Some(route) => span.set_attributes([KeyValue::new(semconv::HTTP_ROUTE, route), status_code]),
        None => span.set_attribute(status_code),
    }
    if let Some(headers) = headers.filter(|_| !config.response_headers().is_empty()) {
        let mut captured = Vec::new();
        config.response_headers().record(headers, &mut captured);
        span.set_attributes(captured);
    }
    if let Some(error_type) = server_error_type(status) {
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(""));
    }
}

/// Records a request that produced no response (the handler failed, panicked or was
/// cancelled): Error status, `error.type`, and an `exception` event carrying the message.
///
/// `error_type` is a low-cardinality name (`_OTHER`, `panic`, `cancelled`, an error kind);
/// `message` is a human description and never includes request data.
pub fn record_server_failure(span: &SpanRef<'_>, error_type: impl Into<Cow<'static, str>>, message: &str) {
    let error_type = error_type.into();
    span.add_event(
        "exception",
        vec![
            KeyValue::new(semconv::EXCEPTION_TYPE, error_type.clone()),
            KeyValue::new(semconv::EXCEPTION_MESSAGE, message.to_owned()),
        ],
    );
    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
    span.set_status(Status::error(message.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;

    fn attrs_of(request: &ServerRequest<'_, http::HeaderMap>, config: &HttpServerConfig) -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = request
            .attributes(config, Some("/users/{id}"))
            .into_iter()
            .map(|kv| (kv.key.to_string(), kv.value))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn full_attribute_set_for_a_proxied_request() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "internal:8080".parse().unwrap());
        headers.insert("x-forwarded-host", "shop.example.com".parse().unwrap());
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        headers.insert("user-agent", "curl/8.5".parse().unwrap());
        headers.insert("x-user-id", "42".parse().unwrap());
        let config = HttpServerConfig::builder()
            .capture_request_headers(["x-user-id"])
            .known_methods(["GET", "PURGE"])
            .environment(|_| None)
            .build();
        let request = ServerRequest {
            method: "PURGE",
            target: "/users/7?sig=secret&page=2",
            scheme: "https",
            protocol_version: Some("2"),
            authority: None,
            headers: &headers,
            peer: Some("10.0.0.2:51234".parse().unwrap()),
        };
        let expected: Vec<(String, Value)> = vec![
            ("client.address".into(), "203.0.113.9".into()),
            ("http.request.header.x-user-id".into(), Value::Array(vec![StringValue::from("42")].into())),
            ("http.request.method".into(), "PURGE".into()),
            ("http.route".into(), "/users/{id}".into()),
            ("network.peer.address".into(), "10.0.0.2".into()),
            ("network.peer.port".into(), 51234_i64.into()),
            ("network.protocol.version".into(), "2".into()),
            ("server.address".into(), "shop.example.com".into()),
            ("server.port".into(), 443_i64.into()),
            ("url.path".into(), "/users/7".into()),
            ("url.query".into(), "sig=REDACTED&page=2".into()),
            ("url.scheme".into(), "https".into()),
            ("user_agent.original".into(), "curl/8.5".into()),
        ];
        assert_eq!(attrs_of(&request, &config), expected);
    }

    #[test]
    fn ip_addresses_as_text() {
        for ip in [
            "10.0.0.2",
            "0.0.0.0",
            "1.20.100.255",
            "255.255.255.255",
            "::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:1.2.3.4",
        ] {
            assert_eq!(&*ip_text(ip.parse().unwrap()), ip);
        }
    }

    #[test]
    fn unknown_method_and_peer_as_client() {
        let headers = http::HeaderMap::new();
        let config = HttpServerConfig::builder().environment(|_| None).build();
        let request = ServerRequest {
            method: "BREW",
            target: "/pot",
            scheme: "http",
            protocol_version: None,
            authority: Some("tea.example:8000"),
            headers: &headers,
            peer: Some("[::1]:9000".parse().unwrap()),
        };
        let attrs = attrs_of(&request, &config);
        let get = |k: &str| attrs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("http.request.method"), Some("_OTHER".into()));
        assert_eq!(get("http.request.method_original"), Some("BREW".into()));
        assert_eq!(get("client.address"), Some("::1".into()));
        assert_eq!(get("network.peer.address"), Some("::1".into()));
        assert_eq!(get("server.address"), Some("tea.example".into()));
        assert_eq!(get("server.port"), Some(8000_i64.into()));
        assert_eq!(get("url.query"), None);
        assert_eq!(get("user_agent.original"), None);
    }
}
