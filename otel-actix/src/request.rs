//! An actix-web request and its answer as the server lifecycle reads them.

use crate::headers::{ActixHeaders, protocol_version};
use actix_web::HttpRequest;
use actix_web::dev::ServiceResponse;
use otel_core::server::{ServerRequest, ServerResponse};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;

/// An actix-web request, before or after the router ran.
pub(crate) struct ActixRequest<'a> {
    request: &'a HttpRequest,
    headers: ActixHeaders<'a>,
    /// The router ran: the matched resource's pattern is the route.
    routed: bool,
}

impl<'a> ActixRequest<'a> {
    /// A request as the middleware receives it.
    pub(crate) fn arriving(request: &'a HttpRequest) -> Self {
        Self { request, headers: ActixHeaders(request.headers()), routed: false }
    }

    /// The request a response answers: the router ran.
    pub(crate) fn routed(request: &'a HttpRequest) -> Self {
        Self { routed: true, ..Self::arriving(request) }
    }
}

impl<'a> ServerRequest for ActixRequest<'a> {
    type Headers = ActixHeaders<'a>;
    type Native = HttpRequest;

    #[inline]
    fn method(&self) -> &str {
        self.request.method().as_str()
    }

    #[inline]
    fn headers(&self) -> &Self::Headers {
        &self.headers
    }

    #[inline]
    fn target(&self) -> &str {
        let uri = self.request.uri();
        uri.path_and_query().map_or_else(|| uri.path(), |pq| pq.as_str())
    }

    fn scheme(&self) -> &'static str {
        match self.request.uri().scheme_str() {
            Some("https") => "https",
            Some("http") => "http",
            _ if self.request.app_config().secure() => "https",
            _ => "http",
        }
    }

    fn protocol_version(&self) -> Option<&'static str> {
        protocol_version(self.request.version())
    }

    fn authority(&self) -> Option<&str> {
        self.request.uri().authority().map(|a| a.as_str())
    }

    fn peer(&self) -> Option<SocketAddr> {
        self.request.peer_addr()
    }

    /// The matched resource's pattern: after routing, or before it when the middleware wraps a
    /// single resource (the router already matched: nothing of the path is left). Wrapping an
    /// app or a scope, it is known only after routing.
    fn route(&self) -> Option<Cow<'_, str>> {
        if self.routed || self.request.match_info().unprocessed().is_empty() {
            return self.request.match_pattern().map(Cow::Owned);
        }
        None
    }

    #[inline]
    fn native(&self) -> &HttpRequest {
        self.request
    }
}

/// What the wrapped service answered: a response, or an error actix-web turns into a response
/// (with the error's status) after the middleware.
pub(crate) enum Answer<'a, B> {
    /// A response, whose head is recorded and handed to the response hook.
    Response(&'a ServiceResponse<B>, ActixHeaders<'a>),
    /// An error: its status and, for a 5xx, its message; no response hook.
    Error(&'a actix_web::Error, PhantomData<B>),
}

impl<'a, B> Answer<'a, B> {
    pub(crate) fn response(response: &'a ServiceResponse<B>) -> Self {
        Self::Response(response, ActixHeaders(response.headers()))
    }

    pub(crate) fn error(error: &'a actix_web::Error) -> Self {
        Self::Error(error, PhantomData)
    }
}

impl<'a, B> ServerResponse for Answer<'a, B> {
    type Headers = ActixHeaders<'a>;
    type Native = ServiceResponse<B>;

    fn status(&self) -> u16 {
        match self {
            Self::Response(response, _) => response.status().as_u16(),
            Self::Error(error, _) => error.as_response_error().status_code().as_u16(),
        }
    }

    fn headers(&self) -> Option<&Self::Headers> {
        match self {
            Self::Response(_, headers) => Some(headers),
            Self::Error(..) => None,
        }
    }

    /// The handler's error behind a response (actix-web errors carry no type name: the message
    /// as the handler's author wrote it).
    fn error(&self) -> Option<&dyn fmt::Display> {
        match self {
            Self::Response(response, _) => response.response().error().map(|e| e as &dyn fmt::Display),
            Self::Error(error, _) => Some(*error),
        }
    }

    fn native(&self) -> Option<&ServiceResponse<B>> {
        match self {
            Self::Response(response, _) => Some(response),
            Self::Error(..) => None,
        }
    }
}
