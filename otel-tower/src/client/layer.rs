//! The client layer, its builder and its service: one CLIENT span per call, its context in the
//! request headers.

use super::body::OtelClientBody;
use super::error::{DefaultErrorType, ErrorType};
use super::future::{ClientGuard, ClientResponseFuture};
use crate::scope;
use http::Request;
use opentelemetry::Context;
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::config::{HttpClientConfig, HttpClientConfigBuilder};
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::internal::span_start::{NewSpan, SamplingHint, Started, start_span};
use otel_core::metrics::{
    ClientRequestStart, HttpClientMetrics, Instruments, MeterSource, RpcCallMetrics, RpcCallStart,
};
use otel_core::propagation::Propagation;
use otel_core::semconv::http::{ClientRequest, HostPort, span_name};
use otel_core::semconv::rpc::{self, GrpcCall, RpcMethod, Side};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::Poll;
use tower::{Layer, Service};

/// A per-request URL template (`/users/{id}`), put in the request's extensions: the span is then
/// named `{method} {template}` and records `url.template`.
///
/// ```
/// let mut request = http::Request::get("http://api.example/users/7").body(()).unwrap();
/// request.extensions_mut().insert(otel_tower::client::UrlTemplate::new("/users/{id}"));
/// ```
#[derive(Clone, Debug)]
pub struct UrlTemplate(pub Cow<'static, str>);

impl UrlTemplate {
    /// A template.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self(template.into())
    }
}

/// A `tower::Layer` that gives every outgoing HTTP call a CLIENT span, a child of the current
/// context, and writes the span's context into the request headers. A gRPC call (a request
/// with `content-type: application/grpc*`, as a tonic client sends through its `Channel`) gets
/// the RPC conventions instead: see [When the span ends](#when-the-span-ends).
///
/// ```
/// use http_body_util::Full;
/// use bytes::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use otel_tower::OtelClientLayer;
/// use tower::ServiceBuilder;
///
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
/// let client = ServiceBuilder::new().layer(OtelClientLayer::new()).service(client);
/// ```
///
/// # Propagation headers the caller set
/// A request that already carries a `traceparent` (set on purpose, to continue a trace of your
/// choosing) gets nothing injected at all: its `tracestate` and `baggage` belong to that context.
/// Otherwise no header the caller set is replaced (a hand-set `baggage` stays). The span is still
/// recorded, as a child of the current context. (The rule is otel-core's
/// `Propagation::inject_into`, shared by every client adapter.)
///
/// # When the span ends
/// When the response head arrives (status code and headers recorded; 4xx and 5xx are Error), or
/// when the call fails (Error, `error.type` from [`ErrorType`]). Reading the response body is not
/// part of the span. A call dropped before its response (the caller cancelled) ends the span
/// without Error.
///
/// A gRPC call's span is named `{rpc.method}` (`package.Service/Method`) and covers the whole
/// call: it ends with the `grpc-status` of a trailers-only response head, or else when the
/// response stream ends with its trailers. Every status but `OK` is an error (`error.type` is
/// the status name, e.g. `NOT_FOUND`); a call or stream dropped before its status is
/// `CANCELLED`. `server.address`/`server.port` come from the request's URI, or from
/// [`origin`](OtelClientLayerBuilder::origin) for a tonic `Channel`.
///
/// # Hooks
/// [`request_hook`](OtelClientLayerBuilder::request_hook) is called with a recording span and
/// the request (`http::Request<B>`, the client's body type), after the context headers were
/// added, just before the request is sent;
/// [`response_hook`](OtelClientLayerBuilder::response_hook) with the span and the response head
/// (`http::Response<B>`), before the span ends (a gRPC call's span goes on to its trailers).
/// Neither is called for a span that does not record; the response hook is not called when the
/// call fails or is dropped before its response.
pub struct OtelClientLayer<T = GlobalTracer, E = DefaultErrorType, H = ClientHooks> {
    shared: Arc<ClientShared<T, E, H>>,
}

impl<T, E, H> Clone for OtelClientLayer<T, E, H> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T, E, H> fmt::Debug for OtelClientLayer<T, E, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelClientLayer").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

pub(crate) struct ClientShared<T, E, H> {
    tracer: T,
    pub(crate) hooks: H,
    pub(crate) config: HttpClientConfig,
    propagation: Propagation,
    pub(crate) error_type: E,
    pub(crate) metrics: Instruments<ClientMetrics>,
    sampling: SamplingHint,
    origin: Option<Origin>,
}

/// A client's instruments: `http.client.request.duration` and `rpc.client.call.duration`.
pub(crate) struct ClientMetrics {
    pub(crate) http: HttpClientMetrics,
    rpc: RpcCallMetrics,
}

/// The request and response hooks of an [`OtelClientLayer`]: `()` for none (the default, which
/// costs nothing), else a closure or any [`RequestHook`] / [`ResponseHook`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientHooks<Q = (), P = ()> {
    pub(crate) request: Q,
    pub(crate) response: P,
}

/// The scheme and authority of requests whose URI names none.
#[derive(Clone, Debug)]
struct Origin {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
}

impl OtelClientLayer {
    /// A layer with the global tracer provider and propagator and the configuration from the
    /// environment.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set the tracer provider, propagator, configuration and options.
    pub fn builder() -> OtelClientLayerBuilder {
        OtelClientLayerBuilder {
            tracer: GlobalTracer::new(scope()),
            config: HttpClientConfig::builder(),
            propagation: Propagation::Global,
            error_type: DefaultErrorType,
            metrics: MeterSource::Global,
            attributes_at_start: false,
            origin: None,
            hooks: ClientHooks::default(),
        }
    }
}

impl Default for OtelClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds an [`OtelClientLayer`].
pub struct OtelClientLayerBuilder<T = GlobalTracer, E = DefaultErrorType, H = ClientHooks> {
    tracer: T,
    config: HttpClientConfigBuilder,
    propagation: Propagation,
    error_type: E,
    /// Where the metrics go.
    metrics: MeterSource,
    attributes_at_start: bool,
    origin: Option<Origin>,
    hooks: H,
}

impl<T, E, H> fmt::Debug for OtelClientLayerBuilder<T, E, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelClientLayerBuilder")
            .field("config", &self.config)
            .field("propagation", &self.propagation)
            .field("metrics", &self.metrics)
            .field("attributes_at_start", &self.attributes_at_start)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl<T, E, H> OtelClientLayerBuilder<T, E, H> {
    /// Uses `provider`'s tracer instead of the global one.
    pub fn tracer_provider<TP: TracerProvider>(self, provider: &TP) -> OtelClientLayerBuilder<TP::Tracer, E, H> {
        OtelClientLayerBuilder {
            tracer: provider.tracer_with_scope(scope()),
            config: self.config,
            propagation: self.propagation,
            error_type: self.error_type,
            metrics: self.metrics,
            attributes_at_start: self.attributes_at_start,
            origin: self.origin,
            hooks: self.hooks,
        }
    }

    /// Names transport errors with `error_type` (for errors that are not `std::error::Error`,
    /// such as `tower::BoxError`, or to name them better).
    pub fn error_type<E2>(self, error_type: E2) -> OtelClientLayerBuilder<T, E2, H> {
        OtelClientLayerBuilder {
            tracer: self.tracer,
            config: self.config,
            propagation: self.propagation,
            error_type,
            metrics: self.metrics,
            attributes_at_start: self.attributes_at_start,
            origin: self.origin,
            hooks: self.hooks,
        }
    }

    /// The shared client configuration (known methods, header capture, sensitive query
    /// parameters), built once.
    pub fn config(mut self, config: HttpClientConfigBuilder) -> Self {
        self.config = config;
        self
    }

    /// Uses `propagator` instead of the global one (which is otherwise read per request).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagation = Propagation::new(propagator);
        self
    }

    /// Records `http.client.request.duration` (and for gRPC calls `rpc.client.call.duration`)
    /// with the global meter provider (`true`, the default; nothing is recorded while no meter
    /// provider is installed), or not at all (`false`: no metric work per request).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = MeterSource::enabled(enabled);
        self
    }

    /// Records the metrics with `provider`'s meter (and turns them on).
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.metrics = MeterSource::provider(provider, scope());
        self
    }

    /// Gives the request attributes to the sampler in the span builder (see
    /// [`crate::OtelLayerBuilder::attributes_for_sampler`]). Off by default.
    pub fn attributes_for_sampler(mut self, enabled: bool) -> Self {
        self.attributes_at_start = enabled;
        self
    }

    /// The scheme and authority (`http://orders:50051`) for requests whose URI names none: a
    /// tonic `Channel` adds its origin below this layer, so the layer sees only the path.
    /// Ignored unless `origin` has both a scheme and an authority.
    pub fn origin(mut self, origin: http::Uri) -> Self {
        let parts = origin.into_parts();
        self.origin = parts.scheme.zip(parts.authority).map(|(scheme, authority)| Origin { scheme, authority });
        self
    }

    /// Builds the layer, reading the environment once.
    pub fn build(self) -> OtelClientLayer<T, E, H> {
        let metrics = self.metrics.instruments(scope(), |meter| ClientMetrics {
            http: HttpClientMetrics::new(meter),
            rpc: RpcCallMetrics::client(meter),
        });
        OtelClientLayer {
            shared: Arc::new(ClientShared {
                tracer: self.tracer,
                hooks: self.hooks,
                config: self.config.build(),
                propagation: self.propagation,
                error_type: self.error_type,
                metrics,
                sampling: SamplingHint::new(self.attributes_at_start),
                origin: self.origin,
            }),
        }
    }
}

impl<T, E, Q, P> OtelClientLayerBuilder<T, E, ClientHooks<Q, P>> {
    /// Called with each recording span and its request (`http::Request<B>`), after the context
    /// headers were added, just before sending. See [`RequestHook`].
    pub fn request_hook<Q2>(self, hook: Q2) -> OtelClientLayerBuilder<T, E, ClientHooks<Q2, P>> {
        self.with_hooks(|hooks| ClientHooks { request: hook, response: hooks.response })
    }

    /// Called with each recording span and its response head (`http::Response<B>`), before the
    /// span ends; not when the call fails. See [`ResponseHook`].
    pub fn response_hook<P2>(self, hook: P2) -> OtelClientLayerBuilder<T, E, ClientHooks<Q, P2>> {
        self.with_hooks(|hooks| ClientHooks { request: hooks.request, response: hook })
    }

    fn with_hooks<H2>(self, change: impl FnOnce(ClientHooks<Q, P>) -> H2) -> OtelClientLayerBuilder<T, E, H2> {
        OtelClientLayerBuilder {
            hooks: change(self.hooks),
            tracer: self.tracer,
            config: self.config,
            propagation: self.propagation,
            error_type: self.error_type,
            metrics: self.metrics,
            attributes_at_start: self.attributes_at_start,
            origin: self.origin,
        }
    }
}

impl<S, T, E, H> Layer<S> for OtelClientLayer<T, E, H> {
    type Service = OtelClientService<S, T, E, H>;

    fn layer(&self, inner: S) -> Self::Service {
        OtelClientService { inner, shared: Arc::clone(&self.shared) }
    }
}

/// The service an [`OtelClientLayer`] wraps around a client.
pub struct OtelClientService<S, T = GlobalTracer, E = DefaultErrorType, H = ClientHooks> {
    inner: S,
    shared: Arc<ClientShared<T, E, H>>,
}

impl<S: Clone, T, E, H> Clone for OtelClientService<S, T, E, H> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<S: fmt::Debug, T, E, H> fmt::Debug for OtelClientService<S, T, E, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelClientService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S, T, E, Q, P, B, ResBody> Service<Request<B>> for OtelClientService<S, T, E, ClientHooks<Q, P>>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    E: ErrorType<S::Error>,
    Q: RequestHook<Request<B>>,
    P: ResponseHook<http::Response<ResBody>>,
{
    type Response = http::Response<OtelClientBody<ResBody>>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future, T, E, ClientHooks<Q, P>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let parent = Context::current();
        let destination = Destination::of(&request, shared.origin.as_ref());
        let content_type = request.headers().get(http::header::CONTENT_TYPE);
        let grpc = request.method() == http::Method::POST && content_type.is_some_and(|v| rpc::is_grpc(v.as_bytes()));
        let guard = if grpc {
            let (started, call) = shared.start_call(&request, &parent, &destination);
            ClientGuard::new(started.cx, started.recording, None, call)
        } else {
            let (started, metric) = shared.start_request(&request, &parent, &destination);
            ClientGuard::new(started.cx, started.recording, metric, None)
        };
        shared.propagation.inject_span_into_headers(
            &parent,
            guard.context().span().span_context(),
            request.headers_mut(),
        );
        if guard.recording() {
            shared.hooks.request.on_request(&guard.context().span(), &request);
        }
        let future = {
            let _attached = guard.context().clone().attach();
            self.inner.call(request)
        };
        ClientResponseFuture::new(future, guard, Arc::clone(&self.shared))
    }
}

impl<T, E, H> ClientShared<T, E, H>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// The CLIENT span of an HTTP request, and its metric's start.
    fn start_request<B>(
        &self,
        request: &Request<B>,
        parent: &Context,
        destination: &Destination<'_>,
    ) -> (Started, Option<ClientRequestStart>) {
        let method = self.config.known_methods().normalize(request.method().as_str());
        let template = request.extensions().get::<UrlTemplate>().map(|t| t.0.clone());
        let span = NewSpan::new(span_name(method, template.as_deref()), SpanKind::Client);
        let started = start_span(&self.tracer, span, parent, &self.sampling, || {
            let url = destination.url(request);
            ClientRequest {
                method: request.method().as_str(),
                url: &url,
                scheme: destination.scheme,
                host: destination.host.host,
                port: destination.host.port,
                template: template.as_deref(),
                resend_count: 0,
                headers: request.headers(),
            }
            .attributes(&self.config)
        });
        let metric = self.metrics.active().then(|| {
            let port = destination.host.port.or_else(|| default_port(destination.scheme));
            ClientRequestStart::now(method.as_str(), destination.host.host, port, destination.scheme)
        });
        (started, metric)
    }

    /// The CLIENT span of a gRPC call, named `{rpc.method}`, and the call it ends with (none when
    /// neither a span nor a metric would record its end).
    fn start_call<B>(
        &self,
        request: &Request<B>,
        parent: &Context,
        destination: &Destination<'_>,
    ) -> (Started, Option<GrpcCall>) {
        let method = RpcMethod::client(request.uri().path());
        let span = NewSpan::new(method.span_name(), SpanKind::Client);
        let host = destination.host.host;
        let port = destination.host.port.or_else(|| default_port(destination.scheme));
        let started = start_span(&self.tracer, span, parent, &self.sampling, || {
            let mut attributes = Vec::with_capacity(4);
            method.attributes(&mut attributes);
            if !host.is_empty() {
                attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
                if let Some(port) = port {
                    attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
            }
            attributes
        });
        let metric = self.metrics.with(|metrics| {
            let server = (!host.is_empty()).then(|| (host.to_owned().into(), port));
            (metrics.rpc.clone(), RpcCallStart::now(server))
        });
        if !started.recording && metric.is_none() {
            return (started, None);
        }
        (started, Some(GrpcCall::new(Side::Client, method, metric)))
    }
}

/// Where a request goes, from its URI, else the configured origin, else its `Host` header.
struct Destination<'a> {
    scheme: &'a str,
    host: HostPort<'a>,
    /// Whether the URI itself is absolute (then it is `url.full` as is).
    absolute: bool,
    authority: &'a str,
}

impl<'a> Destination<'a> {
    fn of<B>(request: &'a Request<B>, origin: Option<&'a Origin>) -> Self {
        let uri = request.uri();
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            let host = HostPort { host: authority.host(), port: authority.port_u16() };
            return Self { scheme, host, absolute: true, authority: authority.as_str() };
        }
        if let Some(origin) = origin {
            let host = HostPort { host: origin.authority.host(), port: origin.authority.port_u16() };
            return Self {
                scheme: origin.scheme.as_str(),
                host,
                absolute: false,
                authority: origin.authority.as_str(),
            };
        }
        let authority = request.headers().get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let host = HostPort::parse(authority).unwrap_or(HostPort { host: "", port: None });
        Self { scheme: uri.scheme_str().unwrap_or("http"), host, absolute: false, authority }
    }

    /// The URL as sent (redacted later by otel-core); empty when the destination is unknown.
    fn url<B>(&self, request: &Request<B>) -> String {
        let uri = request.uri();
        if self.absolute {
            return uri.to_string();
        }
        if self.authority.is_empty() {
            return String::new();
        }
        let path = uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
        let mut url = String::with_capacity(self.scheme.len() + 3 + self.authority.len() + path.len());
        url.push_str(self.scheme);
        url.push_str("://");
        url.push_str(self.authority);
        url.push_str(path);
        url
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}
