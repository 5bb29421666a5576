//! The middleware: a CLIENT span per attempt, its context in the request's headers.

use crate::attempt::Attempt;
use crate::extensions::{NoPropagation, UrlTemplate, record_attempt, resend_count};
use http::{Extensions, HeaderMap};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope};
use otel_core::config::{HttpClientConfig, HttpClientConfigBuilder};
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::metrics::ClientRequestStart;
use otel_core::metrics::{HttpClientMetrics, Instruments, MeterSource};
use otel_core::propagation::Propagation;
use otel_core::semconv::http::{ClientRequest, span_name};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};
use std::future::Future;
use std::pin::Pin;

/// The instrumentation scope of every span and metric of this crate.
fn scope() -> InstrumentationScope {
    otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// A `reqwest_middleware::Middleware` that gives every attempt a CLIENT span and sends its
/// context along with the request.
///
/// ```
/// use otel_reqwest::OtelMiddleware;
/// use reqwest_middleware::ClientBuilder;
///
/// let client = ClientBuilder::new(reqwest::Client::new()).with(OtelMiddleware::default()).build();
/// ```
///
/// `T` is the tracer (the global one by default), `Req` and `Res` the request and response
/// hooks (`()`, no hook, by default). See the [crate documentation](crate) for what each span
/// holds and when it ends.
pub struct OtelMiddleware<T = GlobalTracer, Req = (), Res = ()> {
    tracer: T,
    propagator: Propagation,
    config: HttpClientConfig,
    request_hook: Req,
    response_hook: Res,
    metrics: Instruments<HttpClientMetrics>,
}

impl Default for OtelMiddleware {
    /// The global tracer provider and propagator, and the configuration from the environment.
    fn default() -> Self {
        Self::builder().build()
    }
}

impl OtelMiddleware {
    /// A builder, starting from the global tracer provider and propagator.
    pub fn builder() -> OtelMiddlewareBuilder {
        OtelMiddlewareBuilder {
            tracer: GlobalTracer::new(scope()),
            propagator: Propagation::Global,
            config: HttpClientConfig::builder(),
            request_hook: (),
            response_hook: (),
            metrics: MeterSource::Global,
        }
    }
}

impl<T, Req, Res> std::fmt::Debug for OtelMiddleware<T, Req, Res> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMiddleware")
            .field("propagator", &self.propagator)
            .field("config", &self.config)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// Builds an [`OtelMiddleware`]. Each method that plugs in a tracer provider or a hook changes
/// the builder's type, so the middleware calls them directly, without boxing.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanRef;
/// use otel_core::config::HttpClientConfig;
/// use otel_core::propagation::StrictTraceContextPropagator;
/// use otel_reqwest::OtelMiddleware;
///
/// let middleware = OtelMiddleware::builder()
///     .propagator(StrictTraceContextPropagator::new())
///     .config(HttpClientConfig::builder().capture_response_headers(["x-request-id"]))
///     .request_hook(|span: &SpanRef<'_>, request: &reqwest::Request| {
///         span.set_attribute(KeyValue::new("app.outbound.path", request.url().path().to_owned()));
///     })
///     .metrics(true)
///     .build();
/// ```
pub struct OtelMiddlewareBuilder<T = GlobalTracer, Req = (), Res = ()> {
    tracer: T,
    propagator: Propagation,
    config: HttpClientConfigBuilder,
    request_hook: Req,
    response_hook: Res,
    metrics: MeterSource,
}

impl<T, Req, Res> std::fmt::Debug for OtelMiddlewareBuilder<T, Req, Res> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMiddlewareBuilder")
            .field("propagator", &self.propagator)
            .field("config", &self.config)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl<T, Req, Res> OtelMiddlewareBuilder<T, Req, Res> {
    /// Creates spans with `provider` instead of the global tracer provider.
    pub fn tracer_provider<P: TracerProvider>(self, provider: &P) -> OtelMiddlewareBuilder<P::Tracer, Req, Res> {
        OtelMiddlewareBuilder {
            tracer: provider.tracer_with_scope(scope()),
            propagator: self.propagator,
            config: self.config,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            metrics: self.metrics,
        }
    }

    /// Injects with `propagator` instead of the global one (which is read on every request).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Propagation::new(propagator);
        self
    }

    /// The shared HTTP client configuration (known methods, header capture, sensitive query
    /// parameters); its environment variables are read by [`OtelMiddlewareBuilder::build`].
    pub fn config(mut self, config: HttpClientConfigBuilder) -> Self {
        self.config = config;
        self
    }

    /// Calls `hook` with each recording span and its request, just before the request is sent
    /// (after the trace context was injected).
    pub fn request_hook<H: RequestHook<Request>>(self, hook: H) -> OtelMiddlewareBuilder<T, H, Res> {
        OtelMiddlewareBuilder {
            tracer: self.tracer,
            propagator: self.propagator,
            config: self.config,
            request_hook: hook,
            response_hook: self.response_hook,
            metrics: self.metrics,
        }
    }

    /// Calls `hook` with each recording span and its response, when the response headers
    /// arrived, before the span ends.
    pub fn response_hook<H: ResponseHook<Response>>(self, hook: H) -> OtelMiddlewareBuilder<T, Req, H> {
        OtelMiddlewareBuilder {
            tracer: self.tracer,
            propagator: self.propagator,
            config: self.config,
            request_hook: self.request_hook,
            response_hook: hook,
            metrics: self.metrics,
        }
    }

    /// Records `http.client.request.duration` with the global meter provider (`true`, the
    /// default; nothing is recorded while no meter provider is installed), or not at all
    /// (`false`: no metric work per request). Every attempt that gets response headers or fails
    /// is recorded, sampled or not.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = MeterSource::enabled(enabled);
        self
    }

    /// Records the metric with `provider`'s meter (and turns it on).
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.metrics = MeterSource::provider(provider, scope());
        self
    }

    /// Builds the middleware.
    pub fn build(self) -> OtelMiddleware<T, Req, Res> {
        OtelMiddleware {
            tracer: self.tracer,
            propagator: self.propagator,
            config: self.config.build(),
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            metrics: self.metrics.instruments(scope(), HttpClientMetrics::new),
        }
    }
}

impl<T, Req, Res> OtelMiddleware<T, Req, Res>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
    Req: RequestHook<Request>,
    Res: ResponseHook<Response>,
{
    async fn send(&self, mut request: Request, extensions: &mut Extensions, next: Next<'_>) -> Result<Response> {
        let resend_count = resend_count(extensions);
        let attempt = self.start(&mut request, extensions, resend_count);
        let result = next.run(request, extensions).await;
        let failed = match &result {
            Ok(response) => response.status().as_u16() >= 400,
            Err(_) => true,
        };
        record_attempt(extensions, resend_count, failed);
        attempt.finish(&result, &self.config, &self.response_hook, &self.metrics);
        result
    }

    /// Starts the attempt's span, injects its context and calls the request hook.
    fn start(&self, request: &mut Request, extensions: &Extensions, resend_count: u32) -> Attempt {
        let parent = Context::current();
        let template = extensions.get::<UrlTemplate>().map(UrlTemplate::as_str);
        let method = self.config.known_methods().normalize(request.method().as_str());
        let mut builder = self.tracer.span_builder(span_name(method, template)).with_kind(SpanKind::Client);
        let for_sampler = sampler_may_sample(&parent);
        if for_sampler {
            builder.attributes = Some(describe(request, template, resend_count).attributes(&self.config));
        }
        let mut span = self.tracer.build_with_context(builder, &parent);
        // After the span: the first span after an installation tells the global meter to look.
        let metric = self.metrics.active().then(|| {
            let described = describe(request, template, resend_count);
            ClientRequestStart::now(method.as_str(), described.host, described.port, described.scheme)
        });

        let propagate = extensions.get::<NoPropagation>().is_none();
        if span.is_recording() {
            if !for_sampler {
                span.set_attributes(describe(request, template, resend_count).attributes(&self.config));
            }
            let cx = parent.with_span(span);
            if propagate {
                self.propagator.inject_span_into_headers(&parent, cx.span().span_context(), request.headers_mut());
            }
            self.request_hook.on_request(&cx.span(), request);
            Attempt::new(Some(cx), metric)
        } else {
            if propagate {
                // Only the ids travel, straight from the span context: no context is built.
                self.propagator.inject_span_into_headers(&parent, span.span_context(), request.headers_mut());
            }
            span.end(); // records nothing: ending it now is ending it at no cost
            Attempt::new(None, metric)
        }
    }
}

/// What the semantic conventions need to know about `request`: built only for a span that may be
/// sampled or records, or for the duration metric, never for a span that records nothing.
fn describe<'a>(request: &'a Request, template: Option<&'a str>, resend_count: u32) -> ClientRequest<'a, HeaderMap> {
    let url = request.url();
    ClientRequest {
        method: request.method().as_str(),
        url: url.as_str(),
        scheme: url.scheme(),
        host: url.host_str().map_or("", without_brackets),
        port: url.port_or_known_default(),
        template,
        resend_count,
        headers: request.headers(),
    }
}

/// Whether the sampler could sample a span under `parent`, and so may want its attributes.
///
/// Not when the parent is a valid, unsampled span: the standard parent-based samplers then
/// decide without looking at attributes, and building them (two strings and a vector) would be
/// wasted on a span that records nothing. If such a span is recorded anyway, it still gets
/// every attribute, right after it starts.
fn sampler_may_sample(parent: &Context) -> bool {
    let span = parent.span();
    let parent = span.span_context();
    !parent.is_valid() || parent.is_sampled()
}

/// `server.address` without the brackets of an IPv6 literal (`[::1]` is `::1`).
fn without_brackets(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

impl<T, Req, Res> Middleware for OtelMiddleware<T, Req, Res>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
    Req: RequestHook<Request>,
    Res: ResponseHook<Response>,
{
    // The trait is declared with `async_trait`; this is its desugared form, so the one box is the
    // trait's own and this crate needs no macro.
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        req: Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Pin<Box<dyn Future<Output = Result<Response>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.send(req, extensions, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        assert_eq!(without_brackets("[::1]"), "::1");
        assert_eq!(without_brackets("example.com"), "example.com");
    }
}
