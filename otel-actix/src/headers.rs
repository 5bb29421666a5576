//! Header carriers for actix-web's own `HeaderMap` (http 0.2 names and values).
//!
//! otel-core's carriers, address rules and header capture read headers through
//! [`HeaderSource`]; implementing it here for actix's map lets this crate reuse all of them.
//! Lookups of the names those rules use go through static [`HeaderName`]s: actix parses a `&str`
//! key into an owned name, which allocates for every non-standard name (`traceparent`).

use actix_web::http::Version;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::Injector;
use otel_core::propagation::HeaderSource;

/// Read access to an actix-web [`HeaderMap`] for otel-core's rules and carriers.
///
/// ```
/// use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
/// use otel_actix::ActixHeaders;
/// use otel_core::propagation::HeaderSource;
///
/// let mut map = HeaderMap::new();
/// map.append(HeaderName::from_static("tracestate"), HeaderValue::from_static("a=1"));
/// map.append(HeaderName::from_static("tracestate"), HeaderValue::from_static("b=2"));
/// let headers = ActixHeaders(&map);
/// let values: Vec<&[u8]> = headers.values("tracestate").collect();
/// assert_eq!(values, [b"a=1".as_slice(), b"b=2".as_slice()]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ActixHeaders<'a>(pub &'a HeaderMap);

/// The names otel-core's rules look up on every request, built at compile time.
const STATIC_NAMES: [HeaderName; 8] = [
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    HeaderName::from_static("baggage"),
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("host"),
    HeaderName::from_static("user-agent"),
];

/// [`STATIC_NAMES`] in one place in memory, so lookups borrow them.
static NAMES: [HeaderName; 8] = STATIC_NAMES;

fn static_name(name: &str) -> Option<&'static HeaderName> {
    // A `match` on the string compiles to a switch on its length, then one comparison.
    let index = match name {
        "traceparent" => 0,
        "tracestate" => 1,
        "baggage" => 2,
        "forwarded" => 3,
        "x-forwarded-host" => 4,
        "x-forwarded-for" => 5,
        "host" => 6,
        "user-agent" => 7,
        _ => return None,
    };
    NAMES.get(index)
}

/// Every value of one header, in the order received.
enum Values<'a, F> {
    /// Looked up by a static name.
    Known(std::slice::Iter<'a, HeaderValue>),
    /// Found by comparing names while iterating (never allocates).
    Other(F),
}

impl<'a, F: Iterator<Item = &'a HeaderValue>> Iterator for Values<'a, F> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Known(values) => values.next(),
            Self::Other(values) => values.next(),
        }
        .map(HeaderValue::as_bytes)
    }
}

fn values_of<'a>(map: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a [u8]> {
    match static_name(name) {
        Some(name) => Values::Known(map.get_all(name)),
        None => Values::Other(map.iter().filter(move |(n, _)| n.as_str() == name).map(|(_, value)| value)),
    }
}

fn first_of<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    match static_name(name) {
        Some(name) => map.get(name).map(HeaderValue::as_bytes),
        None => values_of(map, name).next(),
    }
}

impl HeaderSource for ActixHeaders<'_> {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>
    where
        Self: 'a,
    {
        values_of(self.0, name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(HeaderName::as_str)
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        first_of(self.0, name)
    }

    fn first_of_each<const N: usize>(&self, names: [&str; N]) -> [Option<&[u8]>; N] {
        otel_core::internal::first_of_each(self.0.iter().map(|(n, v)| (n.as_str(), v.as_bytes())), names)
    }

    // Two hashed lookups by the static names: walking actix's map (a hash map of small vectors,
    // whose `len` counts every value) costs more than hashing here.
    fn trace_headers(&self) -> Option<(&[u8], bool)> {
        let [traceparent, tracestate, ..] = &NAMES;
        let mut values = self.0.get_all(traceparent);
        let (Some(value), None) = (values.next(), values.next()) else {
            return None;
        };
        Some((value.as_bytes(), self.0.contains_key(tracestate)))
    }
}

/// Reads the headers the injector writes to, so that injection can keep what the caller set.
impl HeaderSource for ActixHeaderInjector<'_> {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>
    where
        Self: 'a,
    {
        values_of(self.0, name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(HeaderName::as_str)
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        first_of(self.0, name)
    }
}

/// An [`Injector`] for an actix-web (or awc) [`HeaderMap`]: each propagated header replaces any
/// value of the same name. Names or values that are not valid in HTTP are skipped, never a panic.
#[derive(Debug)]
pub struct ActixHeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for ActixHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let name = match static_name(key) {
            Some(name) => Ok(name.clone()),
            None => HeaderName::from_bytes(key.as_bytes()),
        };
        if let (Ok(name), Ok(value)) = (name, HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

/// `network.protocol.version` for actix-web's (http 0.2) [`Version`]: `1.0`, `1.1`, `2`, `3`.
///
/// otel-core's `protocol_version` takes http 1's `Version`; this is the same mapping for the
/// http 0.2 type actix-web and awc use.
pub fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::Extractor;
    use otel_core::propagation::HeaderExtractor;

    fn map(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    #[test]
    fn every_value_of_repeated_headers_in_order() {
        let headers =
            map(&[("tracestate", b"a=1"), ("x-custom", b"one"), ("tracestate", b"b=2"), ("x-custom", b"two")]);
        let source = ActixHeaders(&headers);
        assert_eq!(source.values("tracestate").collect::<Vec<_>>(), [b"a=1".as_slice(), b"b=2"]);
        assert_eq!(source.values("x-custom").collect::<Vec<_>>(), [b"one".as_slice(), b"two"]);
        assert_eq!(source.first("x-custom"), Some(b"one".as_slice()));
        assert_eq!(source.values("absent").count(), 0);
        let extractor = HeaderExtractor(&source);
        assert_eq!(extractor.get_all("tracestate"), Some(vec!["a=1", "b=2"]));
    }

    #[test]
    fn undecodable_values_are_seen_as_present() {
        let headers = map(&[("traceparent", b"\xff\xfe")]);
        let source = ActixHeaders(&headers);
        assert_eq!(HeaderExtractor(&source).get("traceparent"), Some("\u{fffd}"));
    }

    #[test]
    fn injector_replaces_and_skips_invalid() {
        let mut headers = map(&[("traceparent", b"old")]);
        let mut injector = ActixHeaderInjector(&mut headers);
        injector.set("traceparent", "new".into());
        injector.set("tracestate", "bad\nvalue".into());
        injector.set("bad name", "x".into());
        injector.set("x-other", "ok".into());
        assert_eq!(headers.get("traceparent").unwrap(), "new");
        assert!(headers.get("tracestate").is_none());
        assert_eq!(headers.get("x-other").unwrap(), "ok");
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn static_names_match_their_strings() {
        for name in STATIC_NAMES {
            assert_eq!(static_name(name.as_str()), Some(&name));
        }
        assert_eq!(static_name("x-other"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(protocol_version(Version::HTTP_10), Some("1.0"));
        assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
        assert_eq!(protocol_version(Version::HTTP_3), Some("3"));
    }
}
