//! The server layer, its builder and its service: one SERVER span per request.

use super::body_mode::{BodyMode, Wrapped};
use super::future::ResponseFuture;
use super::request::TowerRequest;
use super::route::{DefaultRoute, RouteExtractor};
use crate::scope;
use http::{Request, Response};
use opentelemetry::trace::Tracer;
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook, SpanNameFormatter};
use otel_core::server::{ServerHooks, ServerTelemetry, ServerTelemetryBuilder};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// A `tower::Layer` that gives every HTTP request a SERVER span, continuing the caller's trace.
///
/// ```
/// use axum::{Router, routing::get};
/// use otel_tower::OtelLayer;
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "hello" }))
///     .layer(OtelLayer::axum());
/// ```
///
/// [`OtelLayer::new`] (any service) and [`OtelLayer::axum`] (an axum `Router`) use the global
/// tracer provider and propagator (as installed when each request starts) and the configuration
/// from the environment; [`OtelLayer::builder`] sets each of them.
///
/// `R` reads the route ([`RouteExtractor`]); `M` is the response body type's [`BodyMode`]:
/// [`Wrapped`] for any service, or [`AxumBody`](super::AxumBody)
/// (`OtelLayerBuilder::axum_body`) for an axum router.
pub struct OtelLayer<T = GlobalTracer, H = ServerHooks, R = DefaultRoute, M = Wrapped> {
    shared: Arc<Shared<T, H, R>>,
    mode: PhantomData<fn() -> M>,
}

impl<T, H, R, M> Clone for OtelLayer<T, H, R, M> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared), mode: PhantomData }
    }
}

impl<T, H, R, M> fmt::Debug for OtelLayer<T, H, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayer").field("server", &self.shared.server).finish_non_exhaustive()
    }
}

impl OtelLayer {
    /// A layer with the global tracer provider and propagator and the configuration from the
    /// environment.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set the tracer provider, propagator, configuration, hooks and options.
    pub fn builder() -> OtelLayerBuilder {
        OtelLayerBuilder {
            server: ServerTelemetry::builder(scope()).grpc(true),
            route: DefaultRoute,
            https: false,
            mode: PhantomData,
        }
    }
}

impl Default for OtelLayer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "axum")]
impl OtelLayer<GlobalTracer, ServerHooks, DefaultRoute, super::AxumBody> {
    /// The layer for an axum `Router`: [`OtelLayer::new`] answering with axum's own body type
    /// ([`OtelLayerBuilder::axum_body`]), so a request it passes through is not boxed again by
    /// axum.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use otel_tower::OtelLayer;
    ///
    /// let app: Router = Router::new().route("/users/{id}", get(|| async { "hello" })).layer(OtelLayer::axum());
    /// ```
    pub fn axum() -> Self {
        OtelLayer::builder().axum_body().build()
    }
}

/// What every service of one layer shares, built once.
pub(crate) struct Shared<T, H, R> {
    pub(crate) server: ServerTelemetry<T, H>,
    route: R,
    default_scheme: &'static str,
}

/// Builds an [`OtelLayer`]. Its type changes as extension points are plugged in, so the layer
/// calls them without boxing.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanRef;
/// use otel_core::config::HttpServerConfig;
/// use otel_core::propagation::StrictTraceContextPropagator;
/// use otel_tower::OtelLayer;
///
/// let layer = OtelLayer::builder()
///     .config(HttpServerConfig::builder().exclude_path("/health").capture_request_headers(["x-request-id"]))
///     .propagator(StrictTraceContextPropagator::new())
///     .request_hook(|span: &SpanRef<'_>, request: &http::Request<axum::body::Body>| {
///         if let Some(id) = request.headers().get("x-user-id").and_then(|v| v.to_str().ok()) {
///             span.set_attribute(KeyValue::new("user.id", id.to_owned()));
///         }
///     })
///     .traceresponse(true)
///     .build();
/// let app: axum::Router = axum::Router::new().layer(layer);
/// ```
pub struct OtelLayerBuilder<T = GlobalTracer, H = ServerHooks, R = DefaultRoute, M = Wrapped> {
    server: ServerTelemetryBuilder<T, H>,
    route: R,
    https: bool,
    mode: PhantomData<fn() -> M>,
}

impl<T, H, R, M> fmt::Debug for OtelLayerBuilder<T, H, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayerBuilder")
            .field("server", &self.server)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

otel_core::server_builder_options!(OtelLayerBuilder<R, M>);

impl<T, H, R, M> OtelLayerBuilder<T, H, R, M> {
    fn map_server<T2, H2>(
        self,
        f: impl FnOnce(ServerTelemetryBuilder<T, H>) -> ServerTelemetryBuilder<T2, H2>,
    ) -> OtelLayerBuilder<T2, H2, R, M> {
        OtelLayerBuilder { server: f(self.server), route: self.route, https: self.https, mode: PhantomData }
    }

    /// Reads the route template with `route` instead of axum's `MatchedPath`: for other routers.
    /// See [`RouteExtractor`].
    pub fn route<R2>(self, route: R2) -> OtelLayerBuilder<T, H, R2, M> {
        OtelLayerBuilder { server: self.server, route, https: self.https, mode: PhantomData }
    }

    /// Gives gRPC calls (`content-type: application/grpc*`) the RPC conventions: a span named
    /// `{rpc.method}` (`package.Service/Method`) with `rpc.system.name` = `grpc`, its status and
    /// `error.type` from the `grpc-status` the service sends in the response headers or
    /// trailers, and `rpc.server.call.duration` when metrics are on; every other request keeps
    /// HTTP's, so one layer serves a router mixing gRPC and REST. On by default; `false` makes
    /// gRPC calls plain HTTP requests.
    pub fn grpc(self, enabled: bool) -> Self {
        self.map_server(|server| server.grpc(enabled))
    }

    /// The server is reached over TLS: `url.scheme` is `https` for requests whose URI does not
    /// name a scheme (HTTP/1.1 requests never do).
    pub fn https(mut self, enabled: bool) -> Self {
        self.https = enabled;
        self
    }

    /// Answers with axum's `Body` instead of [`OtelBody`](super::OtelBody), for layering an
    /// axum `Router` (whose responses carry axum's `Body`). axum boxes any other body type, so
    /// this spares a request the layer passes through (an excluded URL without trace context)
    /// that box and the wrapper's polls; traced bodies are boxed here instead of in axum.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use otel_core::config::HttpServerConfig;
    /// use otel_tower::OtelLayer;
    ///
    /// let layer = OtelLayer::builder()
    ///     .config(HttpServerConfig::builder().exclude_path("/health"))
    ///     .axum_body()
    ///     .build();
    /// let app: Router = Router::new().route("/health", get(|| async { "ok" })).layer(layer);
    /// ```
    #[cfg(feature = "axum")]
    pub fn axum_body(self) -> OtelLayerBuilder<T, H, R, super::AxumBody> {
        OtelLayerBuilder { server: self.server, route: self.route, https: self.https, mode: PhantomData }
    }

    /// Builds the layer, reading the environment once (`OTEL_RUST_TOWER_EXCLUDED_URLS` is this
    /// adapter's own exclusion variable).
    pub fn build(self) -> OtelLayer<T, H, R, M> {
        OtelLayer {
            shared: Arc::new(Shared {
                server: self.server.build("tower"),
                route: self.route,
                default_scheme: if self.https { "https" } else { "http" },
            }),
            mode: PhantomData,
        }
    }
}

impl<S, T, H, R, M> Layer<S> for OtelLayer<T, H, R, M> {
    type Service = OtelService<S, T, H, R, M>;

    fn layer(&self, inner: S) -> Self::Service {
        OtelService { inner, shared: Arc::clone(&self.shared), mode: PhantomData }
    }
}

/// The service an [`OtelLayer`] wraps around another.
pub struct OtelService<S, T = GlobalTracer, H = ServerHooks, R = DefaultRoute, M = Wrapped> {
    inner: S,
    shared: Arc<Shared<T, H, R>>,
    mode: PhantomData<fn() -> M>,
}

impl<S: Clone, T, H, R, M> Clone for OtelService<S, T, H, R, M> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: Arc::clone(&self.shared), mode: PhantomData }
    }
}

impl<S: fmt::Debug, T, H, R, M> fmt::Debug for OtelService<S, T, H, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S, T, Q, P, N, R, B, ResBody, M> Service<Request<B>> for OtelService<S, T, ServerHooks<Q, P, N>, R, M>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
    M: BodyMode<ResBody>,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    R: RouteExtractor<B>,
    Q: RequestHook<Request<B>>,
    P: ResponseHook<Response<ResBody>>,
    N: SpanNameFormatter<Request<B>>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, T, ServerHooks<Q, P, N>, R, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let described = TowerRequest { request: &request, route: &shared.route, default_scheme: shared.default_scheme };
        let telemetry = shared.server.start(&described);
        let future = {
            let _current = telemetry.attach();
            self.inner.call(request)
        };
        ResponseFuture::new(future, telemetry, Arc::clone(&self.shared))
    }
}
