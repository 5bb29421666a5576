//! Header carriers: reading every value of a repeated header, and writing the propagated ones.

use opentelemetry::propagation::{Extractor, Injector};

/// Read access to request or response headers, whatever HTTP crate they come from.
///
/// Implemented here for [`http::HeaderMap`] (http 1: axum, hyper, reqwest, tonic); an adapter for a
/// framework on other header types (actix-web on http 0.2) implements it for its own map and gets
/// the propagation carrier, the address rules and header capture of this crate for free.
pub trait HeaderSource {
    /// Every value of the header `name` (lowercase), in the order received, as raw bytes.
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>
    where
        Self: 'a;

    /// Every header name present, lowercase; a repeated name may appear more than once.
    fn names(&self) -> impl Iterator<Item = &str>;

    /// The first value of the header `name`, if any.
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// The first value of each header of `names` (lowercase), in their order.
    ///
    /// A map that can walk its entries cheaply answers in one pass instead of one lookup per
    /// name: the server span reads five headers of every request.
    #[doc(hidden)]
    fn first_of_each<const N: usize>(&self, names: [&str; N]) -> [Option<&[u8]>; N] {
        names.map(|name| self.first(name))
    }

    /// The first value of the header `name`, when it is valid UTF-8.
    fn first_str(&self, name: &str) -> Option<&str> {
        self.first(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The `traceparent` value when there is exactly one (two make the context invalid), and
    /// whether a `tracestate` is present: what extraction reads from every request.
    ///
    /// A map that can walk its entries cheaply answers in one pass: see [`trace_headers`].
    #[doc(hidden)]
    fn trace_headers(&self) -> Option<(&[u8], bool)> {
        trace_headers_by_lookup(self)
    }
}

/// [`HeaderSource::trace_headers`] by one lookup per name.
fn trace_headers_by_lookup<H: HeaderSource + ?Sized>(headers: &H) -> Option<(&[u8], bool)> {
    let mut values = headers.values(super::TRACEPARENT_HEADER);
    let (Some(traceparent), None) = (values.next(), values.next()) else {
        return None;
    };
    Some((traceparent, headers.first(super::TRACESTATE_HEADER).is_some()))
}

/// Up to this many header values, one walk over a map's entries finds the trace-context headers
/// for less than two hashed lookups cost (hashing a custom name goes byte by byte; comparing
/// rejects a name on its length or first bytes).
pub const SCAN_LIMIT: usize = 16;

/// [`HeaderSource::trace_headers`] over a map's `(name, value)` entries, in one pass;
/// `is_traceparent` and `is_tracestate` recognize a name as the map gives it.
#[inline]
pub fn trace_headers<'a, N: ?Sized + 'a>(
    entries: impl Iterator<Item = (&'a N, &'a [u8])>,
    is_traceparent: impl Fn(&N) -> bool,
    is_tracestate: impl Fn(&N) -> bool,
) -> Option<(&'a [u8], bool)> {
    let mut traceparent = None;
    let mut tracestate = false;
    for (name, value) in entries {
        if is_traceparent(name) {
            if traceparent.replace(value).is_some() {
                return None;
            }
        } else if is_tracestate(name) {
            tracestate = true;
        }
    }
    traceparent.map(|value| (value, tracestate))
}

impl HeaderSource for http::HeaderMap {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>
    where
        Self: 'a,
    {
        match known_header(name) {
            Some(name) => self.get_all(name),
            None => self.get_all(name),
        }
        .iter()
        .map(http::HeaderValue::as_bytes)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.keys().map(http::HeaderName::as_str)
    }

    fn first_of_each<const N: usize>(&self, names: [&str; N]) -> [Option<&[u8]>; N] {
        first_of_each(self.iter().map(|(name, value)| (name.as_str(), value.as_bytes())), names)
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        match known_header(name) {
            Some(name) => self.get(name),
            None => self.get(name),
        }
        .map(http::HeaderValue::as_bytes)
    }

    fn trace_headers(&self) -> Option<(&[u8], bool)> {
        if self.len() > SCAN_LIMIT {
            return trace_headers_by_lookup(self);
        }
        trace_headers(
            self.iter().map(|(name, value)| (name.as_str(), value.as_bytes())),
            |name| name == super::TRACEPARENT_HEADER,
            |name| name == super::TRACESTATE_HEADER,
        )
    }
}

/// [`HeaderSource::first_of_each`] over a map's `(name, value)` entries, in one pass: a request has
/// few headers, and comparing a name's length first rejects almost every pair at once.
pub fn first_of_each<'a, const N: usize>(
    entries: impl Iterator<Item = (&'a str, &'a [u8])>,
    names: [&str; N],
) -> [Option<&'a [u8]>; N] {
    let mut found = [None; N];
    let mut missing = N;
    for (name, value) in entries {
        for (slot, wanted) in found.iter_mut().zip(names) {
            if slot.is_none() && name.len() == wanted.len() && name == wanted {
                *slot = Some(value);
                missing -= 1;
                if missing == 0 {
                    return found;
                }
            }
        }
    }
    found
}

/// `traceparent` and `tracestate` as `HeaderName`s, for lookups and for writing them.
pub(crate) static TRACEPARENT: http::HeaderName = http::HeaderName::from_static(super::TRACEPARENT_HEADER);
pub(crate) static TRACESTATE: http::HeaderName = http::HeaderName::from_static(super::TRACESTATE_HEADER);

/// The names the propagation and address rules read on every request, as `HeaderName`s built
/// once: looking a map up by `&str` validates and lowercases the name each time.
fn known_header(name: &str) -> Option<&'static http::HeaderName> {
    static BAGGAGE: http::HeaderName = http::HeaderName::from_static("baggage");
    static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
    static X_FORWARDED_HOST: http::HeaderName = http::HeaderName::from_static("x-forwarded-host");
    static HOST: http::HeaderName = http::header::HOST;
    static USER_AGENT: http::HeaderName = http::header::USER_AGENT;
    static FORWARDED: http::HeaderName = http::header::FORWARDED;
    Some(match name {
        "traceparent" => &TRACEPARENT,
        "tracestate" => &TRACESTATE,
        "baggage" => &BAGGAGE,
        "host" => &HOST,
        "user-agent" => &USER_AGENT,
        "forwarded" => &FORWARDED,
        "x-forwarded-for" => &X_FORWARDED_FOR,
        "x-forwarded-host" => &X_FORWARDED_HOST,
        _ => return None,
    })
}

/// Stands in for a header value that is not valid UTF-8, so that the propagator sees the header
/// as present (a repeated `traceparent` stays invalid) and rejects its value.
pub(crate) const UNDECODABLE: &str = "\u{fffd}";

/// An [`Extractor`] over any [`HeaderSource`] that reports every value of a repeated header.
///
/// ```
/// use opentelemetry::propagation::TextMapPropagator;
/// use otel_core::propagation::{HeaderExtractor, StrictTraceContextPropagator};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
/// let cx = StrictTraceContextPropagator::new().extract(&HeaderExtractor(&headers));
/// ```
#[derive(Debug)]
pub struct HeaderExtractor<'a, H: ?Sized>(pub &'a H);

impl<H: HeaderSource + ?Sized> Extractor for HeaderExtractor<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.first(key).map(|v| std::str::from_utf8(v).unwrap_or(UNDECODABLE))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.names().collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self.0.values(key).map(|v| std::str::from_utf8(v).unwrap_or(UNDECODABLE)).collect();
        (!values.is_empty()).then_some(values)
    }
}

/// An [`Injector`] for [`http::HeaderMap`]: each propagated header replaces any value of the same
/// name. Names or values that are not valid in HTTP are skipped, never a panic.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (header_name(key), http::HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

impl ByteInjector for HeaderInjector<'_> {
    fn set_bytes(&mut self, key: &str, value: &[u8]) {
        if let (Ok(name), Ok(value)) = (header_name(key), http::HeaderValue::from_bytes(value)) {
            self.0.insert(name, value);
        }
    }
}

/// A carrier that copies the header values it is given (Kafka record headers, for one): the
/// strict propagator writes into it from bytes on the stack, without a `String` per header. See
/// [`Propagation::inject_span_into`](super::Propagation::inject_span_into).
pub trait ByteInjector: Injector + HeaderSource {
    /// Adds the header `key` with `value`.
    fn set_bytes(&mut self, key: &str, value: &[u8]);
}

/// Reads the headers an injector writes to, so that injection can respect what is already there.
impl HeaderSource for HeaderInjector<'_> {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>
    where
        Self: 'a,
    {
        HeaderSource::values(&*self.0, name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        HeaderSource::names(&*self.0)
    }
}

/// The propagation headers' names are static: a custom name built from bytes would cost an
/// allocation per request, and another when the client clones the header map.
fn header_name(key: &str) -> Result<http::HeaderName, http::header::InvalidHeaderName> {
    static NAMES: [http::HeaderName; 3] = [
        http::HeaderName::from_static(super::TRACEPARENT_HEADER),
        http::HeaderName::from_static(super::TRACESTATE_HEADER),
        http::HeaderName::from_static("baggage"),
    ];
    match NAMES.iter().find(|name| name.as_str() == key) {
        Some(name) => Ok(name.clone()),
        None => http::HeaderName::from_bytes(key.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_of_each_reads_the_first_value_of_each_name_in_one_pass() {
        let mut map = http::HeaderMap::new();
        map.append("x-forwarded-for", "1.2.3.4".parse().unwrap());
        map.append("x-forwarded-for", "5.6.7.8".parse().unwrap());
        map.append("host", "example.com".parse().unwrap());
        let expected: [Option<&[u8]>; 3] = [Some(b"example.com"), None, Some(b"1.2.3.4")];
        assert_eq!(map.first_of_each(["host", "forwarded", "x-forwarded-for"]), expected);
        let by_lookup = ["host", "forwarded", "x-forwarded-for"].map(|name| map.first(name));
        assert_eq!(by_lookup, expected);
    }

    use super::*;

    /// The walk (small maps) and the lookups (large maps, and the default method) agree.
    #[test]
    fn trace_headers_by_walk_and_by_lookup_agree() {
        struct ByLookup<'a>(&'a http::HeaderMap);
        impl HeaderSource for ByLookup<'_> {
            fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>
            where
                Self: 'a,
            {
                HeaderSource::values(self.0, name)
            }
            fn names(&self) -> impl Iterator<Item = &str> {
                HeaderSource::names(self.0)
            }
        }
        type Headers = &'static [(&'static str, &'static [u8])];
        type Found = Option<(&'static [u8], bool)>;
        const TP: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let cases: [(Headers, Found); 5] = [
            (&[("host", b"a")], None),
            (&[("traceparent", TP)], Some((TP, false))),
            (&[("tracestate", b"a=1"), ("host", b"a"), ("traceparent", TP)], Some((TP, true))),
            (&[("traceparent", TP), ("traceparent", TP)], None),
            (&[("traceparent", b"\xff")], Some((b"\xff", false))),
        ];
        for (headers, expected) in cases {
            for padding in [0, SCAN_LIMIT + 1] {
                let mut map = http::HeaderMap::new();
                for i in 0..padding {
                    map.append(http::HeaderName::try_from(format!("x-pad-{i}")).unwrap(), "1".parse().unwrap());
                }
                for (name, value) in headers {
                    map.append(*name, http::HeaderValue::from_bytes(value).unwrap());
                }
                assert_eq!(map.trace_headers(), expected, "{headers:?} padded by {padding}");
                assert_eq!(ByLookup(&map).trace_headers(), expected, "{headers:?} padded by {padding}");
            }
        }
    }

    #[test]
    fn extractor_reads_every_value_in_order() {
        let mut headers = http::HeaderMap::new();
        headers.append("tracestate", "a=1".parse().unwrap());
        headers.append("tracestate", "b=2".parse().unwrap());
        let extractor = HeaderExtractor(&headers);
        assert_eq!(extractor.get("tracestate"), Some("a=1"));
        assert_eq!(extractor.get_all("tracestate"), Some(vec!["a=1", "b=2"]));
        assert_eq!(extractor.get_all("traceparent"), None);
    }

    #[test]
    fn known_and_other_names_read_the_same_values() {
        let mut map = http::HeaderMap::new();
        map.append("x-forwarded-for", "1.2.3.4".parse().unwrap());
        map.append("x-forwarded-for", "5.6.7.8".parse().unwrap());
        map.append("x-other", "v".parse().unwrap());
        assert_eq!(HeaderSource::values(&map, "x-forwarded-for").collect::<Vec<_>>(), [b"1.2.3.4", b"5.6.7.8"]);
        assert_eq!(HeaderSource::first(&map, "x-other"), Some(&b"v"[..]));
        assert_eq!(HeaderSource::first(&map, "host"), None);
        assert_eq!(HeaderSource::first(&map, "Bad Name"), None);
    }

    #[test]
    fn undecodable_values_are_present_but_invalid() {
        let mut headers = http::HeaderMap::new();
        headers.append("traceparent", http::HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        let extractor = HeaderExtractor(&headers);
        assert_eq!(extractor.get("traceparent"), Some(UNDECODABLE));
    }

    #[test]
    fn injector_replaces_and_skips_invalid_values() {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", "old".parse().unwrap());
        let mut injector = HeaderInjector(&mut headers);
        injector.set("traceparent", "new".into());
        injector.set("tracestate", "bad\nvalue".into());
        assert_eq!(headers.get("traceparent").unwrap(), "new");
        assert!(headers.get("tracestate").is_none());
    }
}
