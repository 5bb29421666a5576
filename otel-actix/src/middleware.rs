//! The actix-web middleware: its builder, the `Transform`, and the translation of a request onto
//! otel-core's server lifecycle.

use crate::future::OtelFuture;
use crate::request::ActixRequest;
use crate::scope;
use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use opentelemetry::trace::Tracer;
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook, SpanNameFormatter};
use otel_core::server::{ServerHooks, ServerTelemetry, ServerTelemetryBuilder};
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
/// [`OtelMiddleware::new`] uses the global tracer provider and propagator, as installed when each
/// request starts, and reads its configuration from the environment;
/// [`OtelMiddleware::builder`] sets any of them in code. Cloning is cheap: build it once and
/// clone it into the `HttpServer` factory.
pub struct OtelMiddleware<T = GlobalTracer, H = ServerHooks> {
    server: Arc<ServerTelemetry<T, H>>,
}

impl<T, H> Clone for OtelMiddleware<T, H> {
    fn clone(&self) -> Self {
        Self { server: Arc::clone(&self.server) }
    }
}

impl<T, H> fmt::Debug for OtelMiddleware<T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelMiddleware").field("server", &self.server).finish()
    }
}

impl OtelMiddleware {
    /// The middleware with the global tracer provider and propagator and the configuration
    /// from the environment (`OTEL_RUST_ACTIX_EXCLUDED_URLS`, ...).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder starting from the same defaults as [`OtelMiddleware::new`].
    pub fn builder() -> OtelMiddlewareBuilder {
        OtelMiddlewareBuilder { server: ServerTelemetry::builder(scope()) }
    }
}

impl Default for OtelMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures an [`OtelMiddleware`]. Plugging in a hook or formatter changes the builder's type,
/// so that nothing is boxed. Hooks and span-name formatters receive actix-web's `HttpRequest`
/// and `ServiceResponse`.
///
/// ```
/// use actix_web::HttpRequest;
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
///     .request_hook(|span: &SpanRef<'_>, request: &HttpRequest| {
///         if let Some(tenant) = request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
///             span.set_attribute(KeyValue::new("tenant.id", tenant.to_owned()));
///         }
///     })
///     .build();
/// # let _ = middleware;
/// ```
pub struct OtelMiddlewareBuilder<T = GlobalTracer, H = ServerHooks> {
    server: ServerTelemetryBuilder<T, H>,
}

impl<T, H> fmt::Debug for OtelMiddlewareBuilder<T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelMiddlewareBuilder").field("server", &self.server).finish()
    }
}

otel_core::server_builder_options!(OtelMiddlewareBuilder);

impl<T, H> OtelMiddlewareBuilder<T, H> {
    fn map_server<T2, H2>(
        self,
        f: impl FnOnce(ServerTelemetryBuilder<T, H>) -> ServerTelemetryBuilder<T2, H2>,
    ) -> OtelMiddlewareBuilder<T2, H2> {
        OtelMiddlewareBuilder { server: f(self.server) }
    }

    /// Builds the middleware; this reads the environment once (`OTEL_RUST_ACTIX_EXCLUDED_URLS`
    /// is this adapter's own exclusion variable).
    pub fn build(self) -> OtelMiddleware<T, H> {
        OtelMiddleware { server: Arc::new(self.server.build("actix")) }
    }
}

impl<S, B, T, Q, P, N> Transform<S, ServiceRequest> for OtelMiddleware<T, ServerHooks<Q, P, N>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    Q: RequestHook<HttpRequest>,
    P: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = OtelService<S, T, ServerHooks<Q, P, N>>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let worker = Worker { service, server: Arc::clone(&self.server) };
        std::future::ready(Ok(OtelService { worker: Rc::new(worker) }))
    }
}

/// The service [`OtelMiddleware`] puts around the wrapped one (one per worker).
pub struct OtelService<S, T, H> {
    worker: Rc<Worker<S, T, H>>,
}

/// The wrapped service and the middleware's shared state on one worker, shared with the request
/// futures (which call the service in their first poll).
pub(crate) struct Worker<S, T, H> {
    pub(crate) service: S,
    pub(crate) server: Arc<ServerTelemetry<T, H>>,
}

impl<S, T, H> fmt::Debug for OtelService<S, T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelService").finish_non_exhaustive()
    }
}

impl<S, B, T, Q, P, N> Service<ServiceRequest> for OtelService<S, T, ServerHooks<Q, P, N>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    Q: RequestHook<HttpRequest>,
    P: ResponseHook<ServiceResponse<B>>,
    N: SpanNameFormatter<HttpRequest>,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = OtelFuture<S, T, ServerHooks<Q, P, N>>;

    fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.worker.service.poll_ready(cx)
    }

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let telemetry = self.worker.server.start(&ActixRequest::arriving(request.request()));
        if telemetry.passes_through() {
            return OtelFuture::passed(self.worker.service.call(request), Rc::clone(&self.worker));
        }
        // Inner middleware and the router do work in `call` too: the future calls the service in
        // its first poll, where the request's context is current (one attachment, not two).
        OtelFuture::traced(request, telemetry, Rc::clone(&self.worker))
    }
}
