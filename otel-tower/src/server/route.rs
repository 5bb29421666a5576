//! The route template of a request (`/users/{id}`), which names the span and becomes `http.route`.
//!
//! Only a router knows the template; the raw path is never used in its place, since it would
//! give every user id its own span name.

use std::borrow::Cow;

/// Gives the route template a router matched for a request.
///
/// Implemented by [`DefaultRoute`] (axum's `MatchedPath`), by [`NoRoute`], and by closures, for
/// other routers:
///
/// ```
/// use std::borrow::Cow;
/// use otel_tower::server::RouteExtractor;
///
/// /// What a custom router stores in the request's extensions.
/// #[derive(Clone)]
/// struct MatchedTemplate(&'static str);
///
/// let route = |request: &http::Request<()>| -> Option<Cow<'static, str>> {
///     request.extensions().get::<MatchedTemplate>().map(|t| Cow::Borrowed(t.0))
/// };
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(MatchedTemplate("/users/{id}"));
/// assert_eq!(route.route(&request).as_deref(), Some("/users/{id}"));
/// ```
pub trait RouteExtractor<B>: Send + Sync + 'static {
    /// The matched route template, or `None` when no route matched (the span is then named after
    /// the method alone).
    fn route<'a>(&self, request: &'a http::Request<B>) -> Option<Cow<'a, str>>;
}

/// The route from axum's `MatchedPath` (feature `axum`), present when the layer is added with
/// `Router::layer` or `Router::route_layer`. Without the feature, no route.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRoute;

impl<B> RouteExtractor<B> for DefaultRoute {
    #[inline]
    fn route<'a>(&self, request: &'a http::Request<B>) -> Option<Cow<'a, str>> {
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Some(Cow::Borrowed(matched.as_str()));
        }
        let _ = request;
        None
    }
}

/// No route: every span is named after the method alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRoute;

impl<B> RouteExtractor<B> for NoRoute {
    #[inline]
    fn route<'a>(&self, _: &'a http::Request<B>) -> Option<Cow<'a, str>> {
        None
    }
}

impl<B, F> RouteExtractor<B> for F
where
    F: Fn(&http::Request<B>) -> Option<Cow<'static, str>> + Send + Sync + 'static,
{
    fn route<'a>(&self, request: &'a http::Request<B>) -> Option<Cow<'a, str>> {
        self(request)
    }
}
