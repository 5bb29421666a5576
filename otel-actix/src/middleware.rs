//! The actix-web middleware: its configuration, the `Transform`, and how a request's span starts.

use crate::future::OtelFuture;
use crate::headers::{ActixHeaders, protocol_version};
use crate::scope::scope;
use crate::telemetry::Telemetry;
use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use opentelemetry::KeyValue;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::Meter;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::config::{HttpServerConfig, HttpServerConfigBuilder};
use otel_core::hooks::{DefaultSpanName, RequestHook, ResponseHook, SpanNameFormatter};
use otel_core::intern::{RouteNames, RouteTemplate};
use otel_core::metrics::HttpServerMetrics;
use otel_core::propagation::Propagation;
use otel_core::semconv::http::{
    HttpMethod, ServerRequest, record_routed_server_response, record_server_response, server_error_type,
};
use otel_core::span_start::{NewSpan, SamplingHint, Started, start_span};
use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// The OpenTelemetry middleware for actix-web: one SERVER span per request, named and
/// attributed by the HTTP semantic conventions, with the incoming trace context continued.
///
/// Wrap an `App`, a `Scope` or a `Resource` with it:
///
/// ```no_run
/// use actix_web::{App, HttpServer, web};
/// use otel_actix::OtelMiddleware;
///
/// # async fn run() -> std::io::Result<()> {
/// HttpServer::new(|| {
///     App::new()
///         .wrap(OtelMiddleware::new())
///         .route("/users/{id}", web::get().to(|| async { "ok" }))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
///
/// [`OtelMiddleware::new`] uses the global tracer provider and propagator, as installed when it
/// is called (install yours first), and reads its configuration from the environment;
/// [`OtelMiddleware::builder`] sets any of them in code. Cloning is cheap: build it once and
/// clone it into the `HttpServer` factory.
pub struct OtelMiddleware<T = BoxedTracer, ReqH = (), ResH = (), N = DefaultSpanName> {
    shared: Arc<Shared<T, ReqH, ResH, N>>,
}

impl<T, ReqH, ResH, N> Clone for OtelMiddleware<T, ReqH, ResH, N> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T, ReqH, ResH, N> fmt::Debug for OtelMiddleware<T, ReqH, ResH, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelMiddleware")
            .field("config", &self.shared.config)
            .field("propagator", &self.shared.propagator)
            .field("metrics", &self.shared.metrics.is_some())
            .field("attributes_for_sampler", &self.shared.attributes_for_sampler)
            .finish_non_exhaustive()
    }
}

/// What every worker's service shares, built once.
pub(crate) struct Shared<T, ReqH, ResH, N> {
    tracer: T,
    propagator: Propagation,
    config: HttpServerConfig,
    metrics: Option<Arc<HttpServerMetrics>>,
    request_hook: ReqH,
    response_hook: ResH,
    span_names: N,
    attributes_for_sampler: bool,
}

impl OtelMiddleware {
    /// The middleware with the global tracer provider and propagator and the configuration
    /// from the environment (`OTEL_RUST_ACTIX_EXCLUDED_URLS`, ...).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder starting from the same defaults as [`OtelMiddleware::new`].
    pub fn builder() -> OtelMiddlewareBuilder {
        OtelMiddlewareBuilder {
            tracer: global::tracer_provider().tracer_with_scope(scope()),
            propagator: Propagation::Global,
            config: HttpServerConfig::builder(),
            metrics: None,
            request_hook: (),
            response_hook: (),
            span_names: DefaultSpanName,
            attributes_for_sampler: false,
        }
    }
}

impl Default for OtelMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures an [`OtelMiddleware`]. Plugging in a hook or formatter changes the builder's type,
/// so that nothing is boxed.
///
/// ```
/// use actix_web::dev::ServiceRequest;
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanRef;
/// use otel_actix::OtelMiddleware;
/// use otel_core::config::HttpServerConfig;
/// use otel_core::propagation::StrictTraceContextPropagator;
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let middleware = OtelMiddleware::builder()
///     .tracer_provider(&provider)
///     .propagator(StrictTraceContextPropagator::new())
///     .config(HttpServerConfig::builder().exclude_path("/health"))
///     .request_hook(|span: &SpanRef<'_>, request: &ServiceRequest| {
///         if let Some(tenant) = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
///             span.set_attribute(KeyValue::new("tenant.id", tenant.to_owned()));
///         }
///     })
///     .build();
/// # let _ = middleware;
/// ```
pub struct OtelMiddlewareBuilder<T = BoxedTracer, ReqH = (), ResH = (), N = DefaultSpanName> {
    tracer: T,
    propagator: Propagation,
    config: HttpServerConfigBuilder,
    metrics: Option<HttpServerMetrics>,
    request_hook: ReqH,
    response_hook: ResH,
    span_names: N,
    attributes_for_sampler: bool,
}

impl<T, ReqH, ResH, N> fmt::Debug for OtelMiddlewareBuilder<T, ReqH, ResH, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelMiddlewareBuilder")
            .field("config", &self.config)
            .field("propagator", &self.propagator)
            .field("metrics", &self.metrics.is_some())
            .field("attributes_for_sampler", &self.attributes_for_sampler)
            .finish_non_exhaustive()
    }
}

impl<T, ReqH, ResH, N> OtelMiddlewareBuilder<T, ReqH, ResH, N> {
    /// Starts spans with a tracer of `provider` instead of the global provider.
    pub fn tracer_provider<P>(self, provider: &P) -> OtelMiddlewareBuilder<P::Tracer, ReqH, ResH, N>
    where
        P: TracerProvider,
    {
        OtelMiddlewareBuilder {
            tracer: provider.tracer_with_scope(scope()),
            propagator: self.propagator,
            config: self.config,
            metrics: self.metrics,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            span_names: self.span_names,
            attributes_for_sampler: self.attributes_for_sampler,
        }
    }

    /// Extracts the incoming context with `propagator` instead of the global propagator (for
    /// example otel-core's `StrictTraceContextPropagator`).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Propagation::new(propagator);
        self
    }

    /// The shared HTTP server configuration (exclusions, header capture, known methods, public
    /// endpoint). Its environment variables are read when the middleware is built, with
    /// `OTEL_RUST_ACTIX_EXCLUDED_URLS` as this adapter's own exclusion variable.
    pub fn config(mut self, config: HttpServerConfigBuilder) -> Self {
        self.config = config;
        self
    }

    /// Records `http.server.request.duration` and `http.server.active_requests` on `meter`.
    pub fn metrics(mut self, meter: &Meter) -> Self {
        self.metrics = Some(HttpServerMetrics::new(meter));
        self
    }

    /// Gives the request's attributes to the sampler in the span builder on every request.
    ///
    /// Off by default: they are then given when the sampler kept the previous span with the
    /// same kind of parent (none, sampled, unsampled), and otherwise computed only for a span
    /// that turns out to record (otel-core's `span_start`), so a request the SDK's samplers
    /// drop does no attribute work. Turn it on for a sampler that reads attributes.
    pub fn attributes_for_sampler(mut self, enabled: bool) -> Self {
        self.attributes_for_sampler = enabled;
        self
    }

    /// Called with the span and the request when a recording span starts.
    pub fn request_hook<H>(self, hook: H) -> OtelMiddlewareBuilder<T, H, ResH, N>
    where
        H: RequestHook<ServiceRequest>,
    {
        OtelMiddlewareBuilder {
            tracer: self.tracer,
            propagator: self.propagator,
            config: self.config,
            metrics: self.metrics,
            request_hook: hook,
            response_hook: self.response_hook,
            span_names: self.span_names,
            attributes_for_sampler: self.attributes_for_sampler,
        }
    }

    /// Called with the span and the response (`ServiceResponse<B>`, `B` being the body type of
    /// the wrapped service, `BoxBody` for an `App`) when the response head is ready.
    pub fn response_hook<H>(self, hook: H) -> OtelMiddlewareBuilder<T, ReqH, H, N> {
        OtelMiddlewareBuilder {
            tracer: self.tracer,
            propagator: self.propagator,
            config: self.config,
            metrics: self.metrics,
            request_hook: self.request_hook,
            response_hook: hook,
            span_names: self.span_names,
            attributes_for_sampler: self.attributes_for_sampler,
        }
    }

    /// Names spans with `formatter` instead of `{method} {route}`. It is called when the span
    /// starts (the route is then `None`, unless the middleware wraps a resource) and again once
    /// the router matched a route.
    pub fn span_name_formatter<F>(self, formatter: F) -> OtelMiddlewareBuilder<T, ReqH, ResH, F>
    where
        F: SpanNameFormatter<HttpRequest>,
    {
        OtelMiddlewareBuilder {
            tracer: self.tracer,
            propagator: self.propagator,
            config: self.config,
            metrics: self.metrics,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            span_names: formatter,
            attributes_for_sampler: self.attributes_for_sampler,
        }
    }

    /// Builds the middleware; this reads the environment once.
    pub fn build(self) -> OtelMiddleware<T, ReqH, ResH, N> {
        OtelMiddleware {
            shared: Arc::new(Shared {
                tracer: self.tracer,
                propagator: self.propagator,
                config: self.config.default_adapter("actix").build(),
                metrics: self.metrics.map(Arc::new),
                request_hook: self.request_hook,
                response_hook: self.response_hook,
                span_names: self.span_names,
                attributes_for_sampler: self.attributes_for_sampler,
            }),
        }
    }
}

impl<S, B, T, ReqH, ResH, N> Transform<S, ServiceRequest> for OtelMiddleware<T, ReqH, ResH, N>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    ReqH: RequestHook<ServiceRequest>,
    ResH: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = OtelService<S, T, ReqH, ResH, N>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let state = ServiceState {
            shared: Arc::clone(&self.shared),
            routes: RouteNames::default(),
            hint: SamplingHint::new(self.shared.attributes_for_sampler),
        };
        std::future::ready(Ok(OtelService { worker: Rc::new(Worker { service, state }) }))
    }
}

/// The service [`OtelMiddleware`] puts around the wrapped one (one per worker).
pub struct OtelService<S, T, ReqH, ResH, N> {
    worker: Rc<Worker<S, T, ReqH, ResH, N>>,
}

/// The wrapped service and this middleware's state on one worker, shared with the request
/// futures (which call the service in their first poll).
pub(crate) struct Worker<S, T, ReqH, ResH, N> {
    pub(crate) service: S,
    pub(crate) state: ServiceState<T, ReqH, ResH, N>,
}

impl<S, T, ReqH, ResH, N> fmt::Debug for OtelService<S, T, ReqH, ResH, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelService").finish_non_exhaustive()
    }
}

/// One worker's view: the shared configuration and this worker's route cache.
pub(crate) struct ServiceState<T, ReqH, ResH, N> {
    shared: Arc<Shared<T, ReqH, ResH, N>>,
    routes: RouteNames,
    hint: SamplingHint,
}

impl<S, B, T, ReqH, ResH, N> Service<ServiceRequest> for OtelService<S, T, ReqH, ResH, N>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    ReqH: RequestHook<ServiceRequest>,
    ResH: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = OtelFuture<S, T, ReqH, ResH, N>;

    fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.worker.service.poll_ready(cx)
    }

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let Some(telemetry) = self.worker.state.start(&request) else {
            return OtelFuture::passed(self.worker.service.call(request), Rc::clone(&self.worker));
        };
        // Inner middleware and the router do work in `call` too: the future calls the service in
        // its first poll, where the request's context is current (one attachment, not two).
        OtelFuture::traced(request, telemetry, Rc::clone(&self.worker))
    }
}

impl<T, ReqH, ResH, N> ServiceState<T, ReqH, ResH, N>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
    ReqH: RequestHook<ServiceRequest>,
    N: SpanNameFormatter<HttpRequest>,
{
    /// Extracts the incoming context and, unless the request is excluded, starts its span.
    /// `None`: an excluded request without trace context, passed through untouched.
    fn start(&self, request: &ServiceRequest) -> Option<Telemetry> {
        let shared = &*self.shared;
        let config = &shared.config;
        let headers = ActixHeaders(request.headers());
        let uri = request.uri();
        let target = uri.path_and_query().map_or_else(|| uri.path(), |pq| pq.as_str());
        let method_str = request.method().as_str();
        if config.excludes(method_str, target) {
            return config.context_policy().excluded_context(&shared.propagator, &headers).map(Telemetry::excluded);
        }
        let parent = config.context_policy().apply(shared.propagator.extract(&headers));

        let method = config.known_methods().normalize(method_str);
        // Read only for attributes and metrics: a request with neither skips them.
        let scheme = || match uri.scheme_str() {
            Some("https") => "https",
            Some("http") => "http",
            _ if request.app_config().secure() => "https",
            _ => "http",
        };
        let version = || protocol_version(request.version());
        // Wrapping a resource, the router already matched (nothing of the path is left): the
        // route is known at start. Wrapping an app or scope, it is read after routing.
        let route = match request.match_info().unprocessed() {
            "" => request.match_pattern().filter(|p| !p.is_empty()).map(|p| self.routes.route(&p)),
            _ => None,
        };
        let attributes = || {
            ServerRequest {
                method: method_str,
                target,
                scheme: scheme(),
                protocol_version: version(),
                authority: uri.authority().map(|a| a.as_str()),
                headers: &headers,
                peer: request.peer_addr(),
            }
            .attributes(config, route.as_ref().map(RouteTemplate::to_static))
        };
        let mut span = NewSpan::new(self.span_name(method, route.as_ref(), request.request()), SpanKind::Server);
        if let Some(link) = parent.link {
            span = span.with_links(vec![Link::with_context(link)]);
        }
        let Started { cx, recording } = start_span(&shared.tracer, span, &parent.context, &self.hint, attributes);
        let metrics = shared.metrics.as_ref().map(|m| {
            let mut active = m.start(method.as_str(), scheme(), version());
            if let Some(route) = &route {
                active.set_route(route.to_static());
            }
            active
        });
        if recording {
            shared.request_hook.on_request(&cx.span(), request);
        }
        Some(Telemetry::new(cx, recording, metrics, route.is_some()))
    }

    /// The span name; with the default formatter a static string, interned per route.
    fn span_name(
        &self,
        method: HttpMethod<'_>,
        route: Option<&RouteTemplate>,
        request: &HttpRequest,
    ) -> Cow<'static, str> {
        if TypeId::of::<N>() == TypeId::of::<DefaultSpanName>() {
            return match route {
                Some(route) => self.routes.span_name(route, method.span_name_prefix()),
                None => Cow::Borrowed(method.span_name_prefix()),
            };
        }
        self.shared.span_names.span_name(method, route.map(RouteTemplate::as_str), request)
    }

    /// Records a response: the route the router matched (and the span's final name), the status,
    /// captured headers, the handler's error for a 5xx, then the response hook.
    #[inline]
    pub(crate) fn respond<B>(&self, telemetry: &mut Telemetry, response: &ServiceResponse<B>)
    where
        ResH: ResponseHook<ServiceResponse<B>>,
    {
        if !telemetry.is_recording() && !telemetry.has_metrics() {
            return; // Only a context to carry (unsampled, excluded): nothing to record.
        }
        let status = response.status().as_u16();
        // `http.route`, when the router matched only now; recorded with the status.
        let mut route_attribute = None;
        if !telemetry.route_known {
            let request = response.request();
            // After routing this reads the matched resource's pattern; no second route matching.
            if let Some(pattern) = request.match_pattern().filter(|p| !p.is_empty()) {
                let route = self.routes.route(&pattern);
                telemetry.route_known = true;
                telemetry.set_metrics_route(route.to_static());
                if telemetry.is_recording() {
                    let method = self.shared.config.known_methods().normalize(request.method().as_str());
                    telemetry.span().update_name(self.span_name(method, Some(&route), request));
                    route_attribute = Some(route.to_static().into());
                }
            }
        }
        if telemetry.is_recording() {
            let span = telemetry.span();
            let headers = ActixHeaders(response.headers());
            record_routed_server_response(&span, status, route_attribute, Some(&headers), &self.shared.config);
            if let Some(error) = response.response().error().filter(|_| server_error_type(status).is_some()) {
                add_exception(&span, error);
            }
            self.shared.response_hook.on_response(&span, response);
        }
        telemetry.responded(status);
    }

    /// Records an error the wrapped service returned instead of a response: actix-web turns it
    /// into a response with the error's status, sent without the middleware's body.
    pub(crate) fn fail(&self, telemetry: &mut Telemetry, error: &actix_web::Error) {
        let status = error.as_response_error().status_code().as_u16();
        if telemetry.is_recording() {
            let span = telemetry.span();
            record_server_response(&span, status, None::<&ActixHeaders<'_>>, &self.shared.config);
            if server_error_type(status).is_some() {
                add_exception(&span, error);
            }
        }
        telemetry.responded(status);
        telemetry.finish(None);
    }
}

/// The `exception` event of a handler error that became a 5xx: its message, as the handler's
/// author wrote it (actix-web errors carry no type name).
fn add_exception(span: &opentelemetry::trace::SpanRef<'_>, error: &actix_web::Error) {
    span.add_event("exception", vec![KeyValue::new(semconv::EXCEPTION_MESSAGE, error.to_string())]);
}
