//! Per-request settings, carried in reqwest-middleware's request [`Extensions`].
//!
//! They change one request without building another client:
//! `client.get(url).with_extension(UrlTemplate::new("/users/{id}"))`. The same map also carries
//! the attempt counter that numbers retries (see [`crate::OtelMiddleware`] for the placement
//! rule).

use http::Extensions;
use std::borrow::Cow;

/// The URL template of one request (`/users/{id}`): the span is named `{method} {template}`
/// and gets `url.template`, so ids in the URL never end up in span names.
///
/// ```
/// use otel_reqwest::UrlTemplate;
/// # async fn call(client: reqwest_middleware::ClientWithMiddleware) -> reqwest_middleware::Result<()> {
/// let response = client
///     .get("http://users.internal/users/42")
///     .with_extension(UrlTemplate::new("/users/{id}"))
///     .send()
///     .await?; // span "GET /users/{id}"
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(Cow<'static, str>);

impl UrlTemplate {
    /// A template such as `/users/{id}`; a literal costs no allocation.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Sends this request without `traceparent`, `tracestate` and `baggage`: for third-party hosts
/// that should learn nothing about your traces. The request still gets its CLIENT span.
///
/// ```
/// use otel_reqwest::NoPropagation;
/// # async fn call(client: reqwest_middleware::ClientWithMiddleware) -> reqwest_middleware::Result<()> {
/// client.get("https://api.partner.example/v1/rates").with_extension(NoPropagation).send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoPropagation;

/// How many attempts of this request this middleware has seen fail.
///
/// Retry middlewares (reqwest-retry) hand the same `Extensions` to every attempt while they
/// clone the request itself afresh from the original, so the count lives here. It is written
/// only after a failed attempt (a transport error or a 4xx/5xx status: what retry strategies
/// retry), so the common request that succeeds at once allocates nothing for it.
#[derive(Clone, Copy, Debug)]
struct FailedAttempts(u32);

/// How many times this request was sent before: the `http.request.resend_count` of this attempt.
pub(crate) fn resend_count(extensions: &Extensions) -> u32 {
    extensions.get::<FailedAttempts>().map_or(0, |failed| failed.0)
}

/// Records the outcome of the attempt numbered `resend_count`: a failure is counted for the
/// next attempt; a success clears the count, so an `Extensions` map reused for another request
/// starts again from 0.
pub(crate) fn record_attempt(extensions: &mut Extensions, resend_count: u32, failed: bool) {
    if failed {
        extensions.insert(FailedAttempts(resend_count.saturating_add(1)));
    } else if resend_count > 0 {
        extensions.remove::<FailedAttempts>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_attempts_are_counted_and_a_success_resets_the_count() {
        let mut extensions = Extensions::new();
        assert_eq!(resend_count(&extensions), 0);
        record_attempt(&mut extensions, 0, true);
        assert_eq!(resend_count(&extensions), 1);
        record_attempt(&mut extensions, 1, true);
        assert_eq!(resend_count(&extensions), 2);
        record_attempt(&mut extensions, 2, false);
        assert_eq!(resend_count(&extensions), 0);
    }

    #[test]
    fn templates_borrow_literals() {
        assert!(matches!(UrlTemplate::new("/users/{id}").0, Cow::Borrowed(_)));
        assert_eq!(UrlTemplate::new(String::from("/a")).as_str(), "/a");
    }
}
