//! `server.address`/`server.port` and `client.address`, from proxy headers or the connection.

use crate::propagation::HeaderSource;

/// A host (name or IP address, without IPv6 brackets) and an optional port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort<'a> {
    /// The host, e.g. `example.com`, `10.1.2.3` or `::1`.
    pub host: &'a str,
    /// The port, when one was given.
    pub port: Option<u16>,
}

impl<'a> HostPort<'a> {
    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; `None` for an
    /// empty host or a malformed port.
    ///
    /// ```
    /// use otel_core::semconv::http::HostPort;
    /// assert_eq!(HostPort::parse("[::1]:8080"), Some(HostPort { host: "::1", port: Some(8080) }));
    /// assert_eq!(HostPort::parse("example.com"), Some(HostPort { host: "example.com", port: None }));
    /// ```
    pub fn parse(s: &'a str) -> Option<Self> {
        // Byte scans: the separators are ASCII, and a `str` pattern search costs more than these
        // short values.
        let s = s.trim_ascii();
        let find = |s: &str, byte: u8| s.bytes().position(|b| b == byte);
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let end = find(rest, b']')?;
            let (host, after) = (&rest[..end], &rest[end + 1..]);
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        } else {
            match find(s, b':') {
                // Two or more colons without brackets: a bare IPv6 address.
                Some(at) if find(&s[at + 1..], b':').is_some() => (s, None),
                Some(at) => (&s[..at], Some(&s[at + 1..])),
                None => (s, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().ok()?),
            None => None,
        };
        Some(Self { host, port })
    }
}

/// `server.address` and `server.port` of an incoming request, by the conventions' order:
/// `Forwarded: host=`, then `X-Forwarded-Host`, then the request's `:authority` (the URI's
/// authority, as HTTP/2 sends it), then `Host`.
///
/// ```
/// use otel_core::semconv::http::{HostPort, server_address};
/// let mut headers = http::HeaderMap::new();
/// headers.insert("host", "internal:8080".parse().unwrap());
/// headers.insert("x-forwarded-host", "shop.example.com".parse().unwrap());
/// assert_eq!(server_address(&headers, None), Some(HostPort { host: "shop.example.com", port: None }));
/// ```
pub fn server_address<'a>(
    headers: &'a (impl HeaderSource + ?Sized),
    authority: Option<&'a str>,
) -> Option<HostPort<'a>> {
    let [forwarded, forwarded_host, host] = headers.first_of_each(["forwarded", "x-forwarded-host", "host"]);
    server_address_from(
        ProxyHeaders::utf8(forwarded),
        ProxyHeaders::utf8(forwarded_host),
        authority,
        ProxyHeaders::utf8(host),
    )
}

/// [`server_address`] from header values already read.
pub(crate) fn server_address_from<'a>(
    forwarded: Option<&'a str>,
    forwarded_host: Option<&'a str>,
    authority: Option<&'a str>,
    host: Option<&'a str>,
) -> Option<HostPort<'a>> {
    forwarded
        .and_then(|v| forwarded_param(v, "host"))
        .and_then(HostPort::parse)
        .or_else(|| forwarded_host.and_then(first_element).and_then(HostPort::parse))
        .or_else(|| authority.and_then(HostPort::parse))
        .or_else(|| host.and_then(HostPort::parse))
}

/// The request headers the server attributes read, looked up together.
pub(crate) struct ProxyHeaders<'a> {
    pub(crate) forwarded: Option<&'a str>,
    pub(crate) forwarded_host: Option<&'a str>,
    pub(crate) forwarded_for: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) user_agent: Option<&'a [u8]>,
}

impl<'a> ProxyHeaders<'a> {
    pub(crate) fn read(headers: &'a (impl HeaderSource + ?Sized)) -> Self {
        let [forwarded, forwarded_host, forwarded_for, host, user_agent] =
            headers.first_of_each(["forwarded", "x-forwarded-host", "x-forwarded-for", "host", "user-agent"]);
        Self {
            forwarded: Self::utf8(forwarded),
            forwarded_host: Self::utf8(forwarded_host),
            forwarded_for: Self::utf8(forwarded_for),
            host: Self::utf8(host),
            user_agent,
        }
    }

    fn utf8(value: Option<&[u8]>) -> Option<&str> {
        value.and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// `client.address` (and the client's port, when given) from `Forwarded: for=`, else the first
/// address of `X-Forwarded-For`. `None` means no proxy said: the adapter then uses the socket
/// peer's address, as the conventions ask.
///
/// ```
/// use otel_core::semconv::http::client_address;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
/// assert_eq!(client_address(&headers).unwrap().host, "203.0.113.7");
/// ```
pub fn client_address(headers: &(impl HeaderSource + ?Sized)) -> Option<HostPort<'_>> {
    let [forwarded, forwarded_for] = headers.first_of_each(["forwarded", "x-forwarded-for"]);
    client_address_from(ProxyHeaders::utf8(forwarded), ProxyHeaders::utf8(forwarded_for))
}

/// [`client_address`] from header values already read.
pub(crate) fn client_address_from<'a>(
    forwarded: Option<&'a str>,
    forwarded_for: Option<&'a str>,
) -> Option<HostPort<'a>> {
    forwarded
        .and_then(|v| forwarded_param(v, "for"))
        .and_then(HostPort::parse)
        .or_else(|| forwarded_for.and_then(first_element).and_then(HostPort::parse))
}

/// The first comma-separated element of a list header, trimmed.
fn first_element(value: &str) -> Option<&str> {
    let end = value.bytes().position(|b| b == b',').unwrap_or(value.len());
    Some(value[..end].trim_ascii()).filter(|s| !s.is_empty())
}

/// The value of `name` in the first element of an RFC 7239 `Forwarded` header, unquoted.
fn forwarded_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let first = first_forwarded_element(value);
    first.split(';').find_map(|pair| {
        let (key, val) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        let val = val.trim();
        let val = val.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(val);
        // `unknown` and obfuscated identifiers (`_hidden`) are not addresses.
        (!val.is_empty() && !val.eq_ignore_ascii_case("unknown") && !val.starts_with('_')).then_some(val)
    })
}

/// The first element of a `Forwarded` list; commas inside quoted strings do not split.
fn first_forwarded_element(value: &str) -> &str {
    let mut quoted = false;
    for (i, b) in value.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => return &value[..i],
            _ => {}
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn hp(host: &str, port: Option<u16>) -> Option<HostPort<'_>> {
        Some(HostPort { host, port })
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(HostPort::parse("example.com:443"), hp("example.com", Some(443)));
        assert_eq!(HostPort::parse("[2001:db8::1]"), hp("2001:db8::1", None));
        assert_eq!(HostPort::parse("2001:db8::1"), hp("2001:db8::1", None));
        assert_eq!(HostPort::parse("example.com:99999"), None);
        assert_eq!(HostPort::parse("example.com:x"), None);
        assert_eq!(HostPort::parse(":80"), None);
        assert_eq!(HostPort::parse("[::1]x"), None);
        assert_eq!(HostPort::parse(""), None);
    }

    #[test]
    fn server_address_precedence() {
        let all = headers(&[
            ("forwarded", "for=1.2.3.4;host=\"a.example:8443\";proto=https, host=b.example"),
            ("x-forwarded-host", "c.example"),
            ("host", "d.example:8080"),
        ]);
        assert_eq!(server_address(&all, Some("e.example")), hp("a.example", Some(8443)));
        let xfh = headers(&[("x-forwarded-host", "c.example, z.example"), ("host", "d.example:8080")]);
        assert_eq!(server_address(&xfh, Some("e.example")), hp("c.example", None));
        let host = headers(&[("host", "d.example:8080")]);
        assert_eq!(server_address(&host, Some("e.example:1")), hp("e.example", Some(1)));
        assert_eq!(server_address(&host, None), hp("d.example", Some(8080)));
        assert_eq!(server_address(&http::HeaderMap::new(), None), None);
    }

    #[test]
    fn client_address_precedence() {
        let fwd =
            headers(&[("forwarded", "For=\"[2001:db8:cafe::17]:4711\";proto=http"), ("x-forwarded-for", "9.9.9.9")]);
        assert_eq!(client_address(&fwd), hp("2001:db8:cafe::17", Some(4711)));
        let xff = headers(&[("forwarded", "for=unknown"), ("x-forwarded-for", " 9.9.9.9 , 10.0.0.1")]);
        assert_eq!(client_address(&xff), hp("9.9.9.9", None));
        let hidden = headers(&[("forwarded", "for=_hidden, for=1.1.1.1")]);
        assert_eq!(client_address(&hidden), None);
    }
}
