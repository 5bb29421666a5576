//! The attributes of an HTTP server span, from the request an adapter describes.

use super::address::{ProxyHeaders, client_address_from, server_address_from};
use super::{HostPort, HttpMethod, redact_query};
use crate::config::{HttpServerConfig, RequestTarget};
use crate::internal::recent;
use crate::server::ServerRequest;
use opentelemetry::trace::{SpanRef, Status};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use std::borrow::Cow;
use std::sync::Arc;

/// The attributes of a server span known when the request arrives, to give to the span builder
/// so that a sampler sees them: method (normalized), `url.path`, `url.query` (redacted),
/// `url.scheme`, `http.route` when the router matched already, `server.address`/`server.port`,
/// `network.protocol.version`, `user_agent.original`, `client.address`,
/// `network.peer.address`/`network.peer.port`, and the allow-listed request headers.
/// `method` is the request's method as `config` normalized it.
pub(crate) fn server_attributes<R: ServerRequest + ?Sized>(
    request: &R,
    method: HttpMethod<'_>,
    config: &HttpServerConfig,
    route: Option<impl Into<StringValue>>,
) -> Vec<KeyValue> {
    let target = RequestTarget::new(request.method(), request.target());
    let scheme = request.scheme();
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
    attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme));
    if let Some(route) = route {
        attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.into()));
    }
    let headers = request.headers();
    let proxy = ProxyHeaders::read(headers);
    if let Some(HostPort { host, port }) =
        server_address_from(proxy.forwarded, proxy.forwarded_host, request.authority(), proxy.host)
    {
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, recent::server_host(host)));
        if let Some(port) = port.or_else(|| default_port(scheme)) {
            attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(version) = request.protocol_version() {
        attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(agent) = proxy.user_agent {
        let agent = String::from_utf8_lossy(agent).into_owned();
        attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, agent));
    }
    // The peer's address serves twice when no proxy named the client: format it once.
    let peer = request.peer();
    let peer_ip: Option<StringValue> = peer.map(|p| recent::peer_ip(p.ip(), ip_text));
    match client_address_from(proxy.forwarded, proxy.forwarded_for) {
        Some(client) => attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, client.host.to_owned())),
        None => {
            if let Some(ip) = &peer_ip {
                attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, ip.clone()));
            }
        }
    }
    if let (Some(peer), Some(ip)) = (peer, peer_ip) {
        attributes.push(KeyValue::new(semconv::NETWORK_PEER_ADDRESS, ip));
        attributes.push(KeyValue::new(semconv::NETWORK_PEER_PORT, i64::from(peer.port())));
    }
    config.request_headers().record(headers, &mut attributes);
    attributes
}

/// An IP address as text in one allocation (formatted on the stack, then shared). IPv4, by far
/// the most common, is written digit by digit: `Display` costs ten times more.
pub(crate) fn ip_text(ip: std::net::IpAddr) -> Arc<str> {
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

/// Records a request that produced no response (a server's handler failed, panicked or was
/// cancelled; a client's request failed before a response): Error status, `error.type`, and an
/// `exception` event carrying the message.
///
/// `error_type` is a low-cardinality name (`_OTHER`, `panic`, `cancelled`, an error kind);
/// `message` is a human description and never includes request data.
pub(crate) fn record_failure(span: &SpanRef<'_>, error_type: impl Into<Cow<'static, str>>, message: &str) {
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
    use crate::server::tests::TestRequest;
    use opentelemetry::Value;

    fn attrs_of(request: &TestRequest<'_>, config: &HttpServerConfig) -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> =
            server_attributes(request, config.known_methods().normalize(request.method), config, Some("/users/{id}"))
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
        let request = TestRequest {
            method: "PURGE",
            target: "/users/7?sig=secret&page=2",
            scheme: "https",
            protocol_version: Some("2"),
            authority: None,
            headers: &headers,
            peer: Some("10.0.0.2:51234".parse().unwrap()),
            route: None,
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
        let request = TestRequest {
            method: "BREW",
            target: "/pot",
            scheme: "http",
            protocol_version: None,
            authority: Some("tea.example:8000"),
            headers: &headers,
            peer: Some("[::1]:9000".parse().unwrap()),
            route: None,
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
