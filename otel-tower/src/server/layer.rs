//! The server layer, its builder and its service: one SERVER span per request.

use super::body_mode::{BodyMode, Wrapped};
use super::future::ResponseFuture;
use super::guard::{Scope, SpanGuard};
use super::route::{DefaultRoute, RouteExtractor};
use crate::scope::scope;
use http::{Request, Response};
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_core::config::{HttpServerConfig, HttpServerConfigBuilder};
use otel_core::hooks::{DefaultSpanName, RequestHook, ResponseHook, SpanNameFormatter};
use otel_core::intern::{RouteNames, RouteTemplate};
use otel_core::metrics::HttpServerMetrics;
use otel_core::propagation::Propagation;
use otel_core::semconv::http::{ServerRequest, protocol_version};
use otel_core::span_start::{NewSpan, SamplingHint, start_span_named};
use std::any::TypeId;
use std::cell::OnceCell;
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
///     .layer(OtelLayer::new());
/// ```
///
/// [`OtelLayer::new`] uses the global tracer provider and propagator (read when the layer is
/// built, and per request, respectively) and the configuration from the environment;
/// [`OtelLayer::builder`] sets each of them.
///
/// `M` is the response body type's [`BodyMode`]: [`Wrapped`] for any service, or
/// [`AxumBody`](super::AxumBody) (`OtelLayerBuilder::axum_body`) for an axum router.
pub struct OtelLayer<T = BoxedTracer, H = Hooks, M = Wrapped> {
    shared: Arc<Shared<T, H>>,
    mode: PhantomData<fn() -> M>,
}

impl<T, H, M> Clone for OtelLayer<T, H, M> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared), mode: PhantomData }
    }
}

impl<T, H, M> fmt::Debug for OtelLayer<T, H, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayer").field("config", &self.shared.config).finish_non_exhaustive()
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
            tracer: global::tracer_provider().tracer_with_scope(scope()),
            config: HttpServerConfig::builder(),
            propagation: Propagation::Global,
            hooks: Hooks::default(),
            metrics: None,
            traceresponse: false,
            attributes_at_start: false,
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

/// The extension points plugged into a layer: route extractor, request hook, response hook and
/// span-name formatter. Named only in type signatures; set them with [`OtelLayerBuilder`].
#[derive(Clone, Debug, Default)]
pub struct Hooks<R = DefaultRoute, Q = (), P = (), N = DefaultSpanName> {
    pub(crate) route: R,
    pub(crate) request: Q,
    pub(crate) response: P,
    pub(crate) span_name: N,
}

/// What every service of one layer shares, built once.
pub(crate) struct Shared<T, H> {
    pub(crate) tracer: T,
    pub(crate) config: HttpServerConfig,
    pub(crate) propagation: Propagation,
    pub(crate) hooks: H,
    pub(crate) metrics: Option<Arc<HttpServerMetrics>>,
    pub(crate) traceresponse: bool,
    pub(crate) sampling: SamplingHint,
    pub(crate) default_scheme: &'static str,
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
pub struct OtelLayerBuilder<T = BoxedTracer, H = Hooks, M = Wrapped> {
    tracer: T,
    config: HttpServerConfigBuilder,
    propagation: Propagation,
    hooks: H,
    metrics: Option<HttpServerMetrics>,
    traceresponse: bool,
    attributes_at_start: bool,
    https: bool,
    mode: PhantomData<fn() -> M>,
}

impl<T, H: fmt::Debug, M> fmt::Debug for OtelLayerBuilder<T, H, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayerBuilder")
            .field("config", &self.config)
            .field("propagation", &self.propagation)
            .field("hooks", &self.hooks)
            .field("metrics", &self.metrics.is_some())
            .field("traceresponse", &self.traceresponse)
            .field("attributes_at_start", &self.attributes_at_start)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl<T, R, Q, P, N, M> OtelLayerBuilder<T, Hooks<R, Q, P, N>, M> {
    /// Uses `provider`'s tracer instead of the global one. The layer is generic over the tracer,
    /// so an SDK tracer is called without the global API's extra box.
    pub fn tracer_provider<TP>(self, provider: &TP) -> OtelLayerBuilder<TP::Tracer, Hooks<R, Q, P, N>, M>
    where
        TP: TracerProvider,
    {
        self.retyped(|_| provider.tracer_with_scope(scope()), |hooks| hooks)
    }

    /// The shared configuration (exclusion, public endpoint, known methods, header capture,
    /// sensitive query parameters). The layer builds it once, under the adapter name `tower`
    /// (so `OTEL_RUST_TOWER_EXCLUDED_URLS` applies) unless the builder names another.
    pub fn config(mut self, config: HttpServerConfigBuilder) -> Self {
        self.config = config;
        self
    }

    /// Uses `propagator` instead of the global one (which is otherwise read per request).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagation = Propagation::new(propagator);
        self
    }

    /// Reads the route template with `route` instead of axum's `MatchedPath`: for other routers.
    /// See [`RouteExtractor`].
    pub fn route<R2>(self, route: R2) -> OtelLayerBuilder<T, Hooks<R2, Q, P, N>, M> {
        self.map_hooks(|Hooks { route: _, request, response, span_name }| Hooks { route, request, response, span_name })
    }

    /// Calls `hook` with the span and the request after the span starts, when it records (the
    /// sampler kept it). See [`RequestHook`].
    pub fn request_hook<Q2>(self, hook: Q2) -> OtelLayerBuilder<T, Hooks<R, Q2, P, N>, M> {
        self.map_hooks(|Hooks { route, request: _, response, span_name }| Hooks {
            route,
            request: hook,
            response,
            span_name,
        })
    }

    /// Calls `hook` with the span and the response head when it arrives, when the span records.
    /// See [`ResponseHook`].
    pub fn response_hook<P2>(self, hook: P2) -> OtelLayerBuilder<T, Hooks<R, Q, P2, N>, M> {
        self.map_hooks(|Hooks { route, request, response: _, span_name }| Hooks {
            route,
            request,
            response: hook,
            span_name,
        })
    }

    /// Names spans with `formatter` instead of `{method} {route}`. See [`SpanNameFormatter`].
    pub fn span_name<N2>(self, formatter: N2) -> OtelLayerBuilder<T, Hooks<R, Q, P, N2>, M> {
        self.map_hooks(|Hooks { route, request, response, span_name: _ }| Hooks {
            route,
            request,
            response,
            span_name: formatter,
        })
    }

    fn map_hooks<H2>(self, f: impl FnOnce(Hooks<R, Q, P, N>) -> H2) -> OtelLayerBuilder<T, H2, M> {
        self.retyped(|tracer| tracer, f)
    }
}

impl<T, H, M> OtelLayerBuilder<T, H, M> {
    /// Records `http.server.request.duration` and `http.server.active_requests` with the global
    /// meter provider (`true`), or not at all (`false`, the default: no metric work per request).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled.then(|| HttpServerMetrics::new(&global::meter_with_scope(scope())));
        self
    }

    /// Records the metrics with `provider`'s meter.
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.metrics = Some(HttpServerMetrics::new(&provider.meter_with_scope(scope())));
        self
    }

    /// Writes `traceresponse: 00-<trace-id>-<span-id>-<flags>` (W3C Trace Context Level 2) on
    /// every response of a request with a span, so clients can find the trace. Off by default:
    /// it tells callers your trace ids.
    pub fn traceresponse(mut self, enabled: bool) -> Self {
        self.traceresponse = enabled;
        self
    }

    /// Gives the request attributes to the sampler in the span builder on every request.
    ///
    /// Off by default: the layer then gives them when the sampler kept the previous span with
    /// the same kind of parent (none, sampled, not sampled), and otherwise computes them only
    /// for a span that turns out to record. For the SDK's samplers (which decide from the parent
    /// and the trace id) that means a dropped request does no attribute work, and a kept one
    /// gives its sampler every attribute. Turn it on for a sampler that reads attributes
    /// (`url.path`, ...).
    pub fn attributes_for_sampler(mut self, enabled: bool) -> Self {
        self.attributes_at_start = enabled;
        self
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
    pub fn axum_body(self) -> OtelLayerBuilder<T, H, super::AxumBody> {
        self.retyped(|tracer| tracer, |hooks| hooks)
    }

    /// The same settings in a builder of other types: what the type-changing methods share.
    fn retyped<T2, H2, M2>(
        self,
        tracer: impl FnOnce(T) -> T2,
        hooks: impl FnOnce(H) -> H2,
    ) -> OtelLayerBuilder<T2, H2, M2> {
        OtelLayerBuilder {
            tracer: tracer(self.tracer),
            config: self.config,
            propagation: self.propagation,
            hooks: hooks(self.hooks),
            metrics: self.metrics,
            traceresponse: self.traceresponse,
            attributes_at_start: self.attributes_at_start,
            https: self.https,
            mode: PhantomData,
        }
    }

    /// Builds the layer, reading the environment once.
    pub fn build(self) -> OtelLayer<T, H, M> {
        OtelLayer {
            shared: Arc::new(Shared {
                tracer: self.tracer,
                config: self.config.default_adapter("tower").build(),
                propagation: self.propagation,
                hooks: self.hooks,
                metrics: self.metrics.map(Arc::new),
                traceresponse: self.traceresponse,
                sampling: SamplingHint::new(self.attributes_at_start),
                default_scheme: if self.https { "https" } else { "http" },
            }),
            mode: PhantomData,
        }
    }
}

impl<S, T, H, M> Layer<S> for OtelLayer<T, H, M> {
    type Service = OtelService<S, T, H, M>;

    fn layer(&self, inner: S) -> Self::Service {
        OtelService { inner, shared: Arc::clone(&self.shared), mode: PhantomData }
    }
}

/// The service an [`OtelLayer`] wraps around another.
pub struct OtelService<S, T = BoxedTracer, H = Hooks, M = Wrapped> {
    inner: S,
    shared: Arc<Shared<T, H>>,
    mode: PhantomData<fn() -> M>,
}

impl<S: Clone, T, H, M> Clone for OtelService<S, T, H, M> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: Arc::clone(&self.shared), mode: PhantomData }
    }
}

impl<S: fmt::Debug, T, H, M> fmt::Debug for OtelService<S, T, H, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S, T, R, Q, P, N, B, ResBody, M> Service<Request<B>> for OtelService<S, T, Hooks<R, Q, P, N>, M>
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
    type Future = ResponseFuture<S::Future, T, Hooks<R, Q, P, N>, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let target = request_target(request.uri());
        let config = &shared.config;
        if config.excludes(request.method().as_str(), target) {
            let Some(context) = config.context_policy().excluded_context(&shared.propagation, request.headers()) else {
                return ResponseFuture::new(self.inner.call(request), Scope::Empty, None);
            };
            let future = {
                let _attached = context.clone().attach();
                self.inner.call(request)
            };
            return ResponseFuture::new(future, Scope::Context(context), None);
        }
        let parent = config.context_policy().apply(shared.propagation.extract(request.headers()));
        let method = config.known_methods().normalize(request.method().as_str());
        let scheme = url_scheme(request.uri(), shared.default_scheme);
        let matched = shared.hooks.route.route(&request);
        // Interned only when a span records or metrics need it: an unsampled request skips it.
        let route = OnceCell::new();
        let route = || route.get_or_init(|| matched.as_deref().map(|r| ROUTES.with(|routes| routes.route(r)))).as_ref();
        let mut span = NewSpan::new(method.span_name_prefix(), SpanKind::Server);
        if let Some(link) = parent.link {
            span = span.with_links(vec![Link::with_context(link)]);
        }
        let name = || match route() {
            Some(route) if TypeId::of::<N>() == TypeId::of::<DefaultSpanName>() => {
                ROUTES.with(|routes| routes.span_name(route, method.span_name_prefix()))
            }
            route => shared.hooks.span_name.span_name(method, route.map(RouteTemplate::as_str), &request),
        };
        let started = start_span_named(&shared.tracer, span, &parent.context, &shared.sampling, Some(name), || {
            server_request(&request, target, scheme).attributes(&shared.config, route().map(RouteTemplate::to_static))
        });
        if started.recording {
            shared.hooks.request.on_request(&started.cx.span(), &request);
        }
        let active = shared.metrics.as_ref().map(|metrics| {
            let mut active = metrics.start(method.as_str(), scheme, protocol_version(request.version()));
            if let Some(route) = route() {
                active.set_route(route.to_static());
            }
            active
        });
        let guard = SpanGuard::new(started.cx, started.recording, active);
        let future = {
            let _attached = guard.context().clone().attach();
            self.inner.call(request)
        };
        ResponseFuture::new(future, Scope::Span(guard), Some(Arc::clone(&self.shared)))
    }
}

thread_local! {
    /// This thread's interned route templates and span names.
    static ROUTES: RouteNames = RouteNames::default();
}

/// Path and query as received; the path alone when the URI has no path (`CONNECT`).
fn request_target(uri: &http::Uri) -> &str {
    uri.path_and_query().map_or_else(|| uri.path(), http::uri::PathAndQuery::as_str)
}

/// `url.scheme`: the URI's scheme when it names one (HTTP/2, absolute-form), else the default.
fn url_scheme(uri: &http::Uri, default: &'static str) -> &'static str {
    match uri.scheme_str() {
        Some("https") => "https",
        Some("http") => "http",
        _ => default,
    }
}

/// The request as otel-core's attribute rules see it.
fn server_request<'a, B>(
    request: &'a Request<B>,
    target: &'a str,
    scheme: &'static str,
) -> ServerRequest<'a, http::HeaderMap> {
    ServerRequest {
        method: request.method().as_str(),
        target,
        scheme,
        protocol_version: protocol_version(request.version()),
        authority: request.uri().authority().map(http::uri::Authority::as_str),
        headers: request.headers(),
        peer: peer(request),
    }
}

/// The connection's remote address: axum's `ConnectInfo<SocketAddr>` when the app was served
/// with `into_make_service_with_connect_info` (feature `axum`), or tonic's `TcpConnectInfo`, which
/// a tonic server gives every request (feature `tonic`).
fn peer<B>(request: &Request<B>) -> Option<std::net::SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(info.0);
    }
    #[cfg(feature = "tonic")]
    if let Some(info) = request.extensions().get::<tonic::transport::server::TcpConnectInfo>() {
        return info.remote_addr();
    }
    let _ = request;
    None
}
