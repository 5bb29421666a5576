//! CLIENT spans for requests sent with awc (feature `awc`).
//!
//! ```no_run
//! use otel_actix::client::{ClientRequestExt, ClientTracing};
//!
//! # async fn run() -> Result<(), awc::error::SendRequestError> {
//! let client = awc::Client::default();
//!
//! // The global tracer provider and propagator:
//! let response = client.get("http://users.internal/users/7").send_traced().await?;
//!
//! // Or configured once (a tracer provider, a propagator, metrics, header capture) and reused:
//! let tracing = ClientTracing::new();
//! let response = client
//!     .post("http://users.internal/users")
//!     .traced(&tracing)
//!     .url_template("/users")
//!     .send_with(|request| request.send_json(&["ada"]))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The span is named `{method}` (or `{method} {template}` with [`TracedClientRequest::url_template`]),
//! starts as a child of the current context, and ends when the response head arrives or the
//! send fails. awc follows redirects inside one send, so one span covers them; build the client
//! with `disable_redirects()` for one span per request on the wire.
//!
//! Hooks add attributes of your own: [`ClientTracingBuilder::request_hook`] sees the request
//! (context headers already added) just before it is sent, [`ClientTracingBuilder::response_hook`]
//! the response head before the span ends. Both run only for spans that record.

use crate::headers::{ActixHeaderInjector, ActixHeaders, protocol_version};
use crate::scope;
use actix_web::body::MessageBody;
use actix_web::http::header::HeaderMap;
use actix_web::http::{StatusCode, Version};
use awc::error::{ConnectError, SendRequestError};
use awc::{ClientRequest, ClientResponse, SendClientRequest};
use opentelemetry::Context;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_core::config::{HttpClientConfig, HttpClientConfigBuilder};
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::internal::span_start::{NewSpan, SamplingHint, Started, start_span};
use otel_core::metrics::{ClientRequestStart, HttpClientMetrics, Instruments, MeterSource};
use otel_core::propagation::Propagation;
use otel_core::semconv::http::{self as semconv_http, client_error_type};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

/// How awc requests are traced: tracer, propagator, configuration and optional metrics.
/// Build it once and reuse it (cloning is cheap).
pub struct ClientTracing<T = GlobalTracer> {
    shared: Arc<ClientShared<T>>,
}

struct ClientShared<T> {
    tracer: T,
    propagator: Propagation,
    config: HttpClientConfig,
    metrics: Instruments<HttpClientMetrics>,
    sampling: SamplingHint,
    hooks: Hooks,
}

/// The response head an awc response hook sees: awc's `ClientResponse` is generic over its
/// payload stream (and each send method gives another), so the hook gets the part they share.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ClientResponseHead<'a> {
    /// The status code.
    pub status: StatusCode,
    /// The HTTP version.
    pub version: Version,
    /// The response headers.
    pub headers: &'a HeaderMap,
}

type RequestHookFn = Arc<dyn RequestHook<ClientRequest>>;
type ResponseHookFn = Arc<dyn for<'a> ResponseHook<ClientResponseHead<'a>>>;

/// The hooks of a [`ClientTracing`]: boxed, so a configured `ClientTracing` keeps a type an
/// application can name in its state.
#[derive(Clone, Default)]
struct Hooks {
    request: Option<RequestHookFn>,
    response: Option<ResponseHookFn>,
}

impl<T> Clone for ClientTracing<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> fmt::Debug for ClientTracing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTracing")
            .field("config", &self.shared.config)
            .field("propagator", &self.shared.propagator)
            .field("metrics", &self.shared.metrics)
            .finish_non_exhaustive()
    }
}

impl ClientTracing {
    /// The global tracer provider (as installed when each span starts) and propagator, configuration from the
    /// environment (`OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_*`, ...).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder starting from the same defaults as [`ClientTracing::new`].
    pub fn builder() -> ClientTracingBuilder {
        ClientTracingBuilder {
            tracer: GlobalTracer::new(scope()),
            propagator: Propagation::Global,
            config: HttpClientConfig::builder(),
            metrics: MeterSource::Global,
            hooks: Hooks::default(),
        }
    }

    /// What `send_traced` uses: the global providers and propagator (one [`GlobalTracer`] and one
    /// set of instruments for the process, which follow the providers), with the environment's
    /// configuration read once per process.
    fn global() -> Self {
        static CONFIG: OnceLock<HttpClientConfig> = OnceLock::new();
        static TRACER: OnceLock<GlobalTracer> = OnceLock::new();
        static METRICS: OnceLock<Instruments<HttpClientMetrics>> = OnceLock::new();
        Self {
            shared: Arc::new(ClientShared {
                tracer: TRACER.get_or_init(|| GlobalTracer::new(scope())).clone(),
                propagator: Propagation::Global,
                config: CONFIG.get_or_init(HttpClientConfig::from_env).clone(),
                metrics: METRICS
                    .get_or_init(|| MeterSource::Global.instruments(scope(), HttpClientMetrics::new))
                    .clone(),
                sampling: SamplingHint::new(false),
                hooks: Hooks::default(),
            }),
        }
    }
}

impl Default for ClientTracing {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`ClientTracing`].
pub struct ClientTracingBuilder<T = GlobalTracer> {
    tracer: T,
    propagator: Propagation,
    config: HttpClientConfigBuilder,
    metrics: MeterSource,
    hooks: Hooks,
}

impl<T> fmt::Debug for ClientTracingBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTracingBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<T> ClientTracingBuilder<T> {
    /// Starts spans with a tracer of `provider` instead of the global provider.
    pub fn tracer_provider<P: TracerProvider>(self, provider: &P) -> ClientTracingBuilder<P::Tracer> {
        ClientTracingBuilder {
            tracer: provider.tracer_with_scope(scope()),
            propagator: self.propagator,
            config: self.config,
            metrics: self.metrics,
            hooks: self.hooks,
        }
    }

    /// Injects the context with `propagator` instead of the global propagator.
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Propagation::new(propagator);
        self
    }

    /// The shared HTTP client configuration (header capture, known methods, sensitive query
    /// parameters); its environment variables are read by [`ClientTracingBuilder::build`].
    pub fn config(mut self, config: HttpClientConfigBuilder) -> Self {
        self.config = config;
        self
    }

    /// Records `http.client.request.duration` with the global meter provider (`true`, the
    /// default; nothing is recorded while no meter provider is installed), or not at all
    /// (`false`: no metric work per request).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = MeterSource::enabled(enabled);
        self
    }

    /// Records the metric with `provider`'s meter (and turns it on).
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.metrics = MeterSource::provider(provider, scope());
        self
    }

    /// Called with each recording span and its request, after the context headers were added,
    /// just before sending. See [`RequestHook`].
    pub fn request_hook(mut self, hook: impl RequestHook<ClientRequest>) -> Self {
        self.hooks.request = Some(Arc::new(hook));
        self
    }

    /// Called with each recording span and its response head, before the span ends; not when
    /// the send fails. See [`ResponseHook`].
    pub fn response_hook(mut self, hook: impl for<'a> ResponseHook<ClientResponseHead<'a>>) -> Self {
        self.hooks.response = Some(Arc::new(hook));
        self
    }

    /// Builds it, reading the environment once.
    pub fn build(self) -> ClientTracing<T> {
        ClientTracing {
            shared: Arc::new(ClientShared {
                tracer: self.tracer,
                propagator: self.propagator,
                config: self.config.build(),
                metrics: self.metrics.instruments(scope(), HttpClientMetrics::new),
                sampling: SamplingHint::new(false),
                hooks: self.hooks,
            }),
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for awc::ClientRequest {}
}

/// Traced sending for [`awc::ClientRequest`].
///
/// The span's context goes into the request headers, except that a request that already
/// carries a `traceparent` (set on purpose) gets nothing injected, and no header the caller set
/// is replaced: the rule every client adapter of this workspace follows.
pub trait ClientRequestExt: sealed::Sealed + Sized {
    /// Traces this request with `tracing`; send it with one of [`TracedClientRequest`]'s methods.
    fn traced<T>(self, tracing: &ClientTracing<T>) -> TracedClientRequest<T>;

    /// Sends the request without a body, traced with the global provider and propagator.
    fn send_traced(self) -> TracedResponse<SendClientRequest> {
        self.traced(&ClientTracing::global()).send()
    }

    /// Sends the request with `body`, traced with the global provider and propagator.
    fn send_body_traced<B: MessageBody + 'static>(self, body: B) -> TracedResponse<SendClientRequest> {
        self.traced(&ClientTracing::global()).send_body(body)
    }
}

impl ClientRequestExt for ClientRequest {
    fn traced<T>(self, tracing: &ClientTracing<T>) -> TracedClientRequest<T> {
        TracedClientRequest { request: self, tracing: tracing.clone(), template: None }
    }
}

/// An awc request to be sent inside a CLIENT span.
pub struct TracedClientRequest<T = GlobalTracer> {
    request: ClientRequest,
    tracing: ClientTracing<T>,
    template: Option<Cow<'static, str>>,
}

impl<T> fmt::Debug for TracedClientRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedClientRequest").field("request", &self.request).finish_non_exhaustive()
    }
}

impl<T> TracedClientRequest<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// The URL template this request fills (`/users/{id}`): recorded as `url.template` and
    /// used in the span name (`GET /users/{id}`).
    pub fn url_template(mut self, template: impl Into<Cow<'static, str>>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// Sends the request without a body.
    pub fn send(self) -> TracedResponse<SendClientRequest> {
        self.send_with(ClientRequest::send)
    }

    /// Sends the request with `body`.
    pub fn send_body<B: MessageBody + 'static>(self, body: B) -> TracedResponse<SendClientRequest> {
        self.send_with(|request| request.send_body(body))
    }

    /// Sends the request with any of awc's send methods (`send_json`, `send_form`,
    /// `send_stream`, ...), after the span started and the context headers were added.
    pub fn send_with<F>(self, send: impl FnOnce(ClientRequest) -> F) -> TracedResponse<F> {
        let Self { mut request, tracing, template } = self;
        let span = ClientSpan::start(&mut request, tracing.shared.as_ref(), template.as_deref());
        TracedResponse { inner: send(request), span: Some(span) }
    }
}

/// One request's span and metrics.
struct ClientSpan {
    cx: Context,
    recording: bool,
    config: HttpClientConfig,
    metrics: Option<(HttpClientMetrics, ClientRequestStart)>,
    response_hook: Option<ResponseHookFn>,
}

impl ClientSpan {
    fn start<T>(request: &mut ClientRequest, shared: &ClientShared<T>, template: Option<&str>) -> Self
    where
        T: Tracer,
        T::Span: Send + Sync + 'static,
    {
        let config = &shared.config;
        let parent = Context::current();
        let uri = request.get_uri();
        let method = config.known_methods().normalize(request.get_method().as_str());
        let host = uri.host().unwrap_or_default();
        // `server.address` of an IPv6 literal is the address without its URL brackets.
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let scheme = uri.scheme_str().unwrap_or("http");

        let span = NewSpan::new(semconv_http::span_name(method, template), SpanKind::Client);
        let Started { cx, recording } = start_span(&shared.tracer, span, &parent, &shared.sampling, || {
            let url = uri.to_string();
            semconv_http::ClientRequest {
                method: request.get_method().as_str(),
                url: &url,
                scheme,
                host,
                port: uri.port_u16(),
                template,
                resend_count: 0,
                headers: &ActixHeaders(request.headers()),
            }
            .attributes(config)
        });
        let metrics = shared
            .metrics
            .with(HttpClientMetrics::clone)
            .map(|metrics| (metrics, ClientRequestStart::now(method.as_str(), host, uri.port_u16(), scheme)));
        shared.propagator.inject_into(&cx, &mut ActixHeaderInjector(request.headers_mut()));
        let mut response_hook = None;
        if recording {
            if let Some(hook) = &shared.hooks.request {
                hook.on_request(&cx.span(), request);
            }
            response_hook = shared.hooks.response.clone();
        }
        Self { cx, recording, config: config.clone(), metrics, response_hook }
    }

    fn finish(mut self, status: Option<u16>, version: Option<&'static str>, error_type: Option<Cow<'static, str>>) {
        if let Some((metrics, request)) = self.metrics.take() {
            metrics.finish(request, status, error_type, version);
        }
        // The span ends when `self` drops, here.
    }
}

impl Drop for ClientSpan {
    fn drop(&mut self) {
        // Finished, or dropped before it finished: cancelled by its caller, not an error.
        if self.recording {
            self.cx.span().end();
        }
    }
}

pin_project! {
    /// The response future of a traced awc request: the CLIENT span ends with it.
    pub struct TracedResponse<F> {
        #[pin]
        inner: F,
        span: Option<ClientSpan>,
    }
}

impl<F> fmt::Debug for TracedResponse<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedResponse").field("finished", &self.span.is_none()).finish_non_exhaustive()
    }
}

impl<F, S> Future for TracedResponse<F>
where
    F: Future<Output = Result<ClientResponse<S>, SendRequestError>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let current = this.span.as_ref().map(|span| span.cx.clone().attach());
        let Poll::Ready(output) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        drop(current);
        if let Some(span) = this.span.take() {
            match &output {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let version = protocol_version(response.version());
                    if span.recording {
                        let span_ref = span.cx.span();
                        let headers = response.headers();
                        let config = &span.config;
                        semconv_http::record_client_response(
                            &span_ref,
                            status,
                            version,
                            Some(&ActixHeaders(headers)),
                            config,
                        );
                        if let Some(hook) = &span.response_hook {
                            let head =
                                ClientResponseHead { status: response.status(), version: response.version(), headers };
                            hook.on_response(&span_ref, &head);
                        }
                    }
                    span.finish(Some(status), version, client_error_type(status));
                }
                Err(error) => {
                    let error_type = send_error_type(error);
                    if span.recording {
                        semconv_http::record_client_failure(&span.cx.span(), error_type, &error.to_string());
                    }
                    span.finish(None, None, Some(Cow::Borrowed(error_type)));
                }
            }
        }
        Poll::Ready(output)
    }
}

/// A low-cardinality `error.type` for an awc send error.
///
/// ```
/// use awc::error::{ConnectError, SendRequestError};
/// use otel_actix::client::send_error_type;
/// assert_eq!(send_error_type(&SendRequestError::Timeout), "timeout");
/// assert_eq!(send_error_type(&SendRequestError::Connect(ConnectError::Timeout)), "connect_timeout");
/// ```
pub fn send_error_type(error: &SendRequestError) -> &'static str {
    match error {
        SendRequestError::Url(_) => "invalid_url",
        SendRequestError::Connect(ConnectError::Timeout) => "connect_timeout",
        SendRequestError::Connect(ConnectError::Resolver(_) | ConnectError::NoRecords | ConnectError::Unresolved) => {
            "name_resolution"
        }
        SendRequestError::Connect(_) => "connect",
        SendRequestError::Send(_) => "send",
        SendRequestError::Response(_) => "invalid_response",
        SendRequestError::Http(_) => "invalid_request",
        SendRequestError::H2(_) => "h2",
        SendRequestError::Timeout => "timeout",
        SendRequestError::TunnelNotSupported => "tunnel_not_supported",
        SendRequestError::Body(_) => "request_body",
        _ => semconv_http::ERROR_TYPE_OTHER,
    }
}
