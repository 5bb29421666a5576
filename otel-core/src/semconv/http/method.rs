//! HTTP method normalization and span names.

use std::borrow::Cow;

/// The methods of RFC 9110 and RFC 5789 that semantic conventions know by default.
const DEFAULT_METHODS: [&str; 9] = ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"];

/// `http.request.method` for a method outside the known set.
pub const OTHER_METHOD: &str = "_OTHER";

/// The set of HTTP methods recorded as themselves; any other becomes `_OTHER`.
///
/// The default is the nine standard methods. `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` (read by
/// [`crate::config`]) or [`KnownMethods::new`] replaces the whole set. Matching is case-sensitive,
/// as the conventions require: `get` is not `GET`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownMethods {
    /// `None`: the standard nine, matched without a lookup table.
    custom: Option<Box<[&'static str]>>,
}

impl KnownMethods {
    /// Replaces the known set. Names are kept as given (case-sensitive).
    ///
    /// ```
    /// use otel_core::semconv::http::KnownMethods;
    /// let methods = KnownMethods::new(["GET", "PROPFIND"]);
    /// assert_eq!(methods.normalize("PROPFIND").as_str(), "PROPFIND");
    /// assert_eq!(methods.normalize("POST").as_str(), "_OTHER");
    /// ```
    pub fn new<I, S>(methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<&'static str> = methods.into_iter().map(|m| intern(m.as_ref())).collect();
        Self { custom: Some(list.into_boxed_slice()) }
    }

    /// Normalizes a request method for `http.request.method`.
    #[inline]
    pub fn normalize<'a>(&self, method: &'a str) -> HttpMethod<'a> {
        let known = match &self.custom {
            None => default_method(method),
            Some(list) => custom_method(list, method),
        };
        match known {
            Some(name) => HttpMethod { name, original: None },
            None => HttpMethod { name: OTHER_METHOD, original: Some(method) },
        }
    }

    /// The known methods, in the order configured.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.custom.as_deref().unwrap_or(&DEFAULT_METHODS).iter().copied()
    }
}

/// The name among [`DEFAULT_METHODS`].
#[inline]
fn default_method(method: &str) -> Option<&'static str> {
    default_method_index(method).map(|index| DEFAULT_METHODS[index])
}

/// Where `method` is in [`DEFAULT_METHODS`]. Byte patterns compile to a decision tree on the
/// length and the bytes, inline; string patterns would call `memcmp` (every request does this).
#[inline]
fn default_method_index(method: &str) -> Option<usize> {
    Some(match method.as_bytes() {
        [b'G', b'E', b'T'] => 2,
        [b'P', b'O', b'S', b'T'] => 6,
        [b'P', b'U', b'T'] => 7,
        [b'D', b'E', b'L', b'E', b'T', b'E'] => 1,
        [b'H', b'E', b'A', b'D'] => 3,
        [b'O', b'P', b'T', b'I', b'O', b'N', b'S'] => 4,
        [b'P', b'A', b'T', b'C', b'H'] => 5,
        [b'C', b'O', b'N', b'N', b'E', b'C', b'T'] => 0,
        [b'T', b'R', b'A', b'C', b'E'] => 8,
        _ => return None,
    })
}

/// Methods [`standard_method_index`] numbers: the nine standard ones and `_OTHER`.
pub(crate) const STANDARD_METHODS: usize = DEFAULT_METHODS.len() + 1;

/// A number below [`STANDARD_METHODS`] for a normalized method that is one of the nine standard
/// methods or `_OTHER`; `None` for a configured one outside them.
#[inline]
pub(crate) fn standard_method_index(method: &str) -> Option<usize> {
    default_method_index(method).or_else(|| (method == OTHER_METHOD).then_some(DEFAULT_METHODS.len()))
}

/// The name among a configured set (out of line: the default set's check is inlined).
#[inline(never)]
fn custom_method(list: &[&'static str], method: &str) -> Option<&'static str> {
    list.iter().find(|m| **m == method).copied()
}

/// Custom method names live for the whole program so that a normalized method is always a
/// `&'static str`. Only configuration calls this. Past the interner's bound (never reached by a
/// sane configuration) a name is known as `_OTHER`.
fn intern(name: &str) -> &'static str {
    if let Some(m) = DEFAULT_METHODS.iter().find(|m| **m == name) {
        return m;
    }
    crate::internal::intern::intern(name).unwrap_or(OTHER_METHOD)
}

/// A request method as the semantic conventions record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpMethod<'a> {
    name: &'static str,
    original: Option<&'a str>,
}

impl<'a> HttpMethod<'a> {
    /// The `http.request.method` value: a known method, or `_OTHER`.
    pub fn as_str(&self) -> &'static str {
        self.name
    }

    /// The `http.request.method_original` value: the method as received, only when it was not
    /// known.
    pub fn original(&self) -> Option<&'a str> {
        self.original
    }

    /// The method as it starts a span name: the method, or `HTTP` when it was not known.
    pub fn span_name_prefix(&self) -> &'static str {
        if self.original.is_some() { "HTTP" } else { self.name }
    }
}

/// The span name for an HTTP server or client span: `{method} {target}`, or `{method}` alone.
///
/// `target` is the server's matched route template (`http.route`) or the client's URL template;
/// never a raw path. Without one, the name is a static string and nothing is allocated.
///
/// ```
/// use otel_core::semconv::http::{KnownMethods, span_name};
/// let methods = KnownMethods::default();
/// assert_eq!(span_name(methods.normalize("GET"), Some("/users/{id}")), "GET /users/{id}");
/// assert_eq!(span_name(methods.normalize("GET"), None), "GET");
/// assert_eq!(span_name(methods.normalize("FOO"), None), "HTTP");
/// ```
pub fn span_name(method: HttpMethod<'_>, target: Option<&str>) -> Cow<'static, str> {
    let prefix = method.span_name_prefix();
    match target {
        Some(target) if !target.is_empty() => {
            let mut name = String::with_capacity(prefix.len() + 1 + target.len());
            name.push_str(prefix);
            name.push(' ');
            name.push_str(target);
            Cow::Owned(name)
        }
        _ => Cow::Borrowed(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_are_numbered_by_their_place() {
        for (index, method) in DEFAULT_METHODS.iter().enumerate() {
            assert_eq!(standard_method_index(method), Some(index));
        }
        assert_eq!(standard_method_index(OTHER_METHOD), Some(STANDARD_METHODS - 1));
        assert_eq!(standard_method_index("PROPFIND"), None);
        assert_eq!(standard_method_index("get"), None);
    }

    #[test]
    fn standard_methods_are_known_and_case_sensitive() {
        let methods = KnownMethods::default();
        for m in DEFAULT_METHODS {
            let n = methods.normalize(m);
            assert_eq!((n.as_str(), n.original()), (m, None));
        }
        let lower = methods.normalize("get");
        assert_eq!((lower.as_str(), lower.original()), ("_OTHER", Some("get")));
        for other in ["GETS", "GE", "", "Get", "PROPFIND", "OPTIONS "] {
            assert_eq!(methods.normalize(other).as_str(), "_OTHER", "{other:?}");
        }
        assert_eq!(lower.span_name_prefix(), "HTTP");
    }

    #[test]
    fn a_custom_set_replaces_the_default() {
        let methods = KnownMethods::new(["GET", "QUERY"]);
        assert_eq!(methods.normalize("QUERY").as_str(), "QUERY");
        assert_eq!(methods.normalize("POST").as_str(), "_OTHER");
        assert_eq!(methods.iter().collect::<Vec<_>>(), ["GET", "QUERY"]);
        // Interned: the same name twice is the same static string.
        assert!(std::ptr::eq(intern("QUERY"), intern("QUERY")));
    }

    #[test]
    fn span_names_follow_the_conventions() {
        let methods = KnownMethods::default();
        assert_eq!(span_name(methods.normalize("POST"), Some("/items")), "POST /items");
        assert_eq!(span_name(methods.normalize("BREW"), Some("/pot")), "HTTP /pot");
        assert!(matches!(span_name(methods.normalize("GET"), None), Cow::Borrowed("GET")));
        assert!(matches!(span_name(methods.normalize("GET"), Some("")), Cow::Borrowed("GET")));
    }
}
