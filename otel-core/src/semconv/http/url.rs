//! Redaction of `url.query` and `url.full`: credentials and sensitive query values never leave.

use std::borrow::Cow;

/// The query parameters whose values the conventions ask to redact by default.
pub const DEFAULT_SENSITIVE_QUERY_PARAMETERS: [&str; 7] = [
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];

const REDACTED: &str = "REDACTED";

/// Query parameter names whose values are replaced by `REDACTED` (case-sensitive, the key kept).
///
/// A configured list replaces the default one whole, as the conventions specify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensitiveQueryParameters {
    names: Cow<'static, [Cow<'static, str>]>,
}

impl Default for SensitiveQueryParameters {
    fn default() -> Self {
        const DEFAULTS: [Cow<'static, str>; 7] = {
            let d = DEFAULT_SENSITIVE_QUERY_PARAMETERS;
            [
                Cow::Borrowed(d[0]),
                Cow::Borrowed(d[1]),
                Cow::Borrowed(d[2]),
                Cow::Borrowed(d[3]),
                Cow::Borrowed(d[4]),
                Cow::Borrowed(d[5]),
                Cow::Borrowed(d[6]),
            ]
        };
        Self { names: Cow::Borrowed(&DEFAULTS) }
    }
}

impl SensitiveQueryParameters {
    /// Replaces the default list. An empty list turns redaction of query values off.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<Cow<'static, str>> = names.into_iter().map(|n| Cow::Owned(n.into())).collect();
        Self { names: Cow::Owned(names) }
    }

    /// Whether `name` is sensitive.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The names, in the order configured.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| n.as_ref())
    }
}

/// `url.query` with sensitive values replaced by `REDACTED`; borrowed when nothing changes.
///
/// ```
/// use otel_core::semconv::http::{SensitiveQueryParameters, redact_query};
/// let sensitive = SensitiveQueryParameters::default();
/// assert_eq!(redact_query("q=rust&sig=abc", &sensitive), "q=rust&sig=REDACTED");
/// ```
pub fn redact_query<'a>(query: &'a str, sensitive: &SensitiveQueryParameters) -> Cow<'a, str> {
    let needs_redaction = |pair: &str| match pair.split_once('=') {
        Some((key, value)) => !value.is_empty() && value != REDACTED && sensitive.contains(key),
        None => false,
    };
    if !query.split('&').any(needs_redaction) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if needs_redaction(pair) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// `url.full` without credentials: user and password become `REDACTED`, sensitive query values
/// too. Borrowed when nothing changes.
///
/// ```
/// use otel_core::semconv::http::{SensitiveQueryParameters, redact_url};
/// let sensitive = SensitiveQueryParameters::default();
/// assert_eq!(
///     redact_url("https://alice:secret@api.example.com/v1?X-Amz-Signature=abc", &sensitive),
///     "https://REDACTED:REDACTED@api.example.com/v1?X-Amz-Signature=REDACTED",
/// );
/// ```
pub fn redact_url<'a>(url: &'a str, sensitive: &SensitiveQueryParameters) -> Cow<'a, str> {
    // Without an `@` or a `?` there is neither userinfo nor a query: one cheap pass settles it.
    if !url.bytes().any(|b| b == b'@' || b == b'?') {
        return Cow::Borrowed(url);
    }
    // A scheme holds no `/`, `?` or `#`: a `://` after one (`/cb?next=http://a@b`) is in the path,
    // query or fragment of a URL without a scheme, and starts no authority.
    let authority_start = match url.find("://") {
        Some(i) if !url[..i].contains(['/', '?', '#']) => i + 3,
        _ => 0,
    };
    let after_scheme = &url[authority_start..];
    let authority_len = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let userinfo = after_scheme[..authority_len].rfind('@').map(|at| &after_scheme[..at]);

    // The query runs from the first `?` to the fragment; a `?` inside the fragment is not one.
    let fragment = url.find('#').unwrap_or(url.len());
    let query_range = url[..fragment].find('?').map(|q| (q + 1, fragment));
    let redacted_query = query_range.map(|(s, e)| redact_query(&url[s..e], sensitive));

    let query_changed = matches!(redacted_query, Some(Cow::Owned(_)));
    if userinfo.is_none() && !query_changed {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(&url[..authority_start]);
    let mut rest_start = authority_start;
    if let Some(info) = userinfo {
        out.push_str(if info.contains(':') { "REDACTED:REDACTED" } else { REDACTED });
        rest_start = authority_start + info.len();
    }
    match (query_range, redacted_query) {
        (Some((s, e)), Some(query)) => {
            out.push_str(&url[rest_start..s]);
            out.push_str(&query);
            out.push_str(&url[e..]);
        }
        _ => out.push_str(&url[rest_start..]),
    }
    Cow::Owned(out)
}

/// Decodes `%XX` escapes (a URL's parts, percent-encoded environment values); `None` for a broken
/// escape or a result that is not UTF-8.
pub fn percent_decode(value: &str) -> Option<String> {
    if !value.contains('%') {
        return Some(value.to_owned());
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly: `from_str_radix` alone would also take a sign (`%+f`).
            let &[high, low] = bytes.get(i + 1..i + 3)? else { return None };
            let digit = |b: u8| char::from(b).to_digit(16);
            out.push((digit(high)? * 16 + digit(low)?) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An escape is `%` and two hex digits, nothing else (`%+f` would be a signed number).
    #[test]
    fn percent_decode_takes_two_hex_digits_only() {
        assert_eq!(percent_decode("a%20b%2Fc%c3%A9"), Some("a b/cé".into()));
        for broken in ["%+f", "%-1", "%g0", "%0", "%", "a%2", "%\u{e9}"] {
            assert_eq!(percent_decode(broken), None, "{broken}");
        }
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    /// The `env` fuzz target's crash (issue 27): a `://` after the `?` was taken for the scheme's,
    /// and the userinfo found after it made the query start before the rest of the URL: a slice
    /// out of order, and a panic.
    #[test]
    fn a_scheme_separator_inside_the_query_starts_no_authority() {
        let sensitive = SensitiveQueryParameters::default();
        assert_eq!(redact_url("?:/://H@%", &sensitive), "?:/://H@%");
        assert_eq!(redact_url("/cb?next=http://alice@example.com", &sensitive), "/cb?next=http://alice@example.com");
        assert_eq!(redact_url("/cb?sig=abc&next=http://a:b@c", &sensitive), "/cb?sig=REDACTED&next=http://a:b@c");
        assert_eq!(
            redact_url("https://alice@example.com/?next=http://a@b", &sensitive),
            "https://REDACTED@example.com/?next=http://a@b"
        );
    }

    #[test]
    fn query_values_are_redacted_keys_kept() {
        let s = SensitiveQueryParameters::default();
        assert_eq!(
            redact_query("a=1&X-Amz-Credential=k&sig=&Signature", &s),
            "a=1&X-Amz-Credential=REDACTED&sig=&Signature"
        );
        assert!(matches!(redact_query("a=1&SIG=x", &s), Cow::Borrowed(_)), "matching is case-sensitive");
        let custom = SensitiveQueryParameters::new(["token"]);
        assert_eq!(redact_query("token=t&sig=x", &custom), "token=REDACTED&sig=x");
        assert!(matches!(
            redact_query("sig=x", &SensitiveQueryParameters::new(Vec::<String>::new())),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn url_credentials_and_query_are_redacted() {
        let s = SensitiveQueryParameters::default();
        assert_eq!(redact_url("http://u@h:8080/p?sig=1#f", &s), "http://REDACTED@h:8080/p?sig=REDACTED#f");
        assert_eq!(redact_url("http://u:p@h", &s), "http://REDACTED:REDACTED@h");
        assert_eq!(redact_url("http://h/p@x?y=1", &s), "http://h/p@x?y=1", "an @ in the path is not userinfo");
        assert!(matches!(redact_url("https://h/p?q=1#sig=2", &s), Cow::Borrowed(_)));
        assert_eq!(redact_url("https://h/?a=1&sig=2#x?sig=3", &s), "https://h/?a=1&sig=REDACTED#x?sig=3");
        assert_eq!(redact_url("https://h/p#frag?sig=3", &s), "https://h/p#frag?sig=3");
        assert_eq!(redact_url("", &s), "");
        assert_eq!(redact_url("u:p@h/x", &s), "REDACTED:REDACTED@h/x");
    }
}
