//! A tower request as the server lifecycle reads it.

use super::route::RouteExtractor;
use http::Request;
use otel_core::semconv::http::protocol_version;
use otel_core::server::ServerRequest;
use std::borrow::Cow;
use std::net::SocketAddr;

/// An `http::Request` with what the layer knows beside it: how to read its route, and the
/// scheme of a request whose URI names none.
pub(crate) struct TowerRequest<'a, B, R> {
    pub(crate) request: &'a Request<B>,
    pub(crate) route: &'a R,
    pub(crate) default_scheme: &'static str,
}

impl<B, R: RouteExtractor<B>> ServerRequest for TowerRequest<'_, B, R> {
    type Headers = http::HeaderMap;
    type Native = Request<B>;

    #[inline]
    fn method(&self) -> &str {
        self.request.method().as_str()
    }

    /// Path and query as received; the path alone when the URI has no path (`CONNECT`).
    #[inline]
    fn target(&self) -> &str {
        let uri = self.request.uri();
        uri.path_and_query().map_or_else(|| uri.path(), http::uri::PathAndQuery::as_str)
    }

    #[inline]
    fn headers(&self) -> &http::HeaderMap {
        self.request.headers()
    }

    /// The URI's scheme when it names one (HTTP/2, absolute-form), else the layer's default.
    fn scheme(&self) -> &'static str {
        match self.request.uri().scheme_str() {
            Some("https") => "https",
            Some("http") => "http",
            _ => self.default_scheme,
        }
    }

    fn protocol_version(&self) -> Option<&'static str> {
        protocol_version(self.request.version())
    }

    fn authority(&self) -> Option<&str> {
        self.request.uri().authority().map(http::uri::Authority::as_str)
    }

    /// axum's `ConnectInfo<SocketAddr>` when the app was served with
    /// `into_make_service_with_connect_info` (feature `axum`), or tonic's `TcpConnectInfo`, which
    /// a tonic server gives every request (feature `tonic`).
    fn peer(&self) -> Option<SocketAddr> {
        let extensions = self.request.extensions();
        #[cfg(feature = "axum")]
        if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
            return Some(info.0);
        }
        #[cfg(feature = "tonic")]
        if let Some(info) = extensions.get::<tonic::transport::server::TcpConnectInfo>() {
            return info.remote_addr();
        }
        let _ = extensions;
        None
    }

    #[inline]
    fn route(&self) -> Option<Cow<'_, str>> {
        self.route.route(self.request)
    }

    #[inline]
    fn native(&self) -> &Request<B> {
        self.request
    }
}
