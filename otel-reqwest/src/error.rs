//! Failed requests as `error.type` and an exception message that leaks nothing.
//!
//! `error.type` must be a low-cardinality name, so it comes from `reqwest::Error`'s `is_*`
//! predicates, never from a `Debug` dump. The message names the error and its causes; reqwest's
//! own `Display` writes the URL as sent, credentials and signatures included, so that URL is
//! redacted first.

use otel_core::semconv::http::{ERROR_TYPE_OTHER, SensitiveQueryParameters, redact_url};
use std::error::Error as _;
use std::fmt::Write as _;

/// The `error.type` of a request that failed before a response arrived.
pub(crate) fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match reqwest_error(error) {
        Some(error) => reqwest_error_type(error),
        None => ERROR_TYPE_OTHER,
    }
}

/// The `exception.message` of a failed request: the error and its causes, with any URL in it
/// redacted.
pub(crate) fn error_message(error: &reqwest_middleware::Error, sensitive: &SensitiveQueryParameters) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    match reqwest_error(error).and_then(reqwest::Error::url) {
        Some(url) => {
            let redacted = redact_url(url.as_str(), sensitive);
            if redacted != url.as_str() { message.replace(url.as_str(), &redacted) } else { message }
        }
        None => message,
    }
}

/// The reqwest error inside, also when another middleware wrapped it.
fn reqwest_error(error: &reqwest_middleware::Error) -> Option<&reqwest::Error> {
    match error {
        reqwest_middleware::Error::Reqwest(error) => Some(error),
        reqwest_middleware::Error::Middleware(error) => error.downcast_ref::<reqwest::Error>(),
    }
}

/// The most specific kind first: a connect timeout is a `timeout`, a failed DNS lookup a `dns`
/// error rather than a `connect` one.
fn reqwest_error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_dns() {
        "dns"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect"
    } else if error.is_body() {
        "body"
    } else if error.is_decode() {
        "decode"
    } else if error.is_upgrade() {
        "upgrade"
    } else if error.is_builder() {
        "builder"
    } else if error.is_request() {
        "request"
    } else {
        ERROR_TYPE_OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_from_other_middlewares_are_other() {
        let error = reqwest_middleware::Error::middleware(std::io::Error::other("rate limited locally"));
        assert_eq!(error_type(&error), "_OTHER");
        assert_eq!(error_message(&error, &SensitiveQueryParameters::default()), "rate limited locally");
    }
}
