//! Status codes to span status and `error.type`.

use std::borrow::Cow;

/// `error.type` when the failure has no better low-cardinality name.
pub const ERROR_TYPE_OTHER: &str = "_OTHER";

/// `error.type` of a server span whose handler (or response body) panicked.
pub const ERROR_TYPE_PANIC: &str = "panic";

/// `error.type` of a server span whose request was dropped before a response (the connection
/// closed, or the server shut down, while the handler ran).
pub const ERROR_TYPE_CANCELLED: &str = "cancelled";

/// Three ASCII digits for every code from 100 to 599, so that a status code as a string is
/// always a static slice.
static CODES: [u8; 1500] = {
    let mut out = [0u8; 1500];
    let mut i = 0;
    while i < 500 {
        let code = i + 100;
        out[i * 3] = b'0' + (code / 100) as u8;
        out[i * 3 + 1] = b'0' + (code / 10 % 10) as u8;
        out[i * 3 + 2] = b'0' + (code % 10) as u8;
        i += 1;
    }
    out
};

/// A status code as a string, static for every code from 100 to 599.
pub fn status_code_str(code: u16) -> Cow<'static, str> {
    if (100..=599).contains(&code) {
        let i = usize::from(code - 100) * 3;
        if let Ok(s) = std::str::from_utf8(&CODES[i..i + 3]) {
            return Cow::Borrowed(s);
        }
    }
    Cow::Owned(code.to_string())
}

/// For a server span: `Some(error.type)` (the span's status is then Error) for a 5xx code or a
/// code outside 100-599; `None` otherwise. A 4xx is the client's fault and leaves the span Unset.
///
/// ```
/// use otel_core::semconv::http::server_error_type;
/// assert_eq!(server_error_type(503).as_deref(), Some("503"));
/// assert_eq!(server_error_type(404), None);
/// ```
pub fn server_error_type(code: u16) -> Option<Cow<'static, str>> {
    (!(100..500).contains(&code)).then(|| status_code_str(code))
}

/// For a client span: `Some(error.type)` for a 4xx or 5xx code or one outside 100-599.
pub fn client_error_type(code: u16) -> Option<Cow<'static, str>> {
    (!(100..400).contains(&code)).then(|| status_code_str(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_static_strings_in_range() {
        for code in 100..=599u16 {
            let s = status_code_str(code);
            assert!(matches!(s, Cow::Borrowed(_)));
            assert_eq!(s, code.to_string());
        }
        assert_eq!(status_code_str(42), "42");
        assert_eq!(status_code_str(600), "600");
    }

    #[test]
    fn server_and_client_classification() {
        assert_eq!(server_error_type(200), None);
        assert_eq!(server_error_type(499), None);
        assert_eq!(server_error_type(500).as_deref(), Some("500"));
        assert_eq!(server_error_type(99).as_deref(), Some("99"));
        assert_eq!(server_error_type(600).as_deref(), Some("600"));
        assert_eq!(client_error_type(399), None);
        assert_eq!(client_error_type(404).as_deref(), Some("404"));
        assert_eq!(client_error_type(502).as_deref(), Some("502"));
    }
}
