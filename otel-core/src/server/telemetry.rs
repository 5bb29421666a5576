//! What a server adapter builds once and every request of it shares, and the steps of a
//! request's life that need it: start, respond, a route matched late, `traceresponse`.

use super::request_telemetry::RequestTelemetry;
use super::routes::{self, RouteTemplate};
use super::{ServerRequest, ServerResponse};
use crate::config::{ContextPolicy, HttpServerConfig};
use crate::global::GlobalTracer;
use crate::hooks::{DefaultSpanName, RequestHook, ResponseHook, SpanNameFormatter};
use crate::internal::span_start::{NewSpan, SamplingHint, start_span_named};
use crate::metrics::bound::INLINE_TEXT_LEN;
use crate::metrics::{HttpServerMetrics, Instruments, RpcCallMetrics, RpcCallStart};
use crate::propagation::{HeaderSource, Propagation, Traceparent};
use crate::semconv::http::{HttpMethod, server_error_type};
use crate::semconv::rpc::{self, GrpcCall, RpcMethod, Side};
use opentelemetry::trace::{Link, SpanContext, SpanKind, SpanRef, Status, TraceContextExt, TraceFlags, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use std::any::TypeId;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::sync::Arc;

/// The extension points of a server adapter: request hook, response hook and span-name
/// formatter. Named only in type signatures; adapters' builders set them.
#[derive(Clone, Debug, Default)]
pub struct ServerHooks<Q = (), P = (), N = DefaultSpanName> {
    pub(crate) request: Q,
    pub(crate) response: P,
    pub(crate) span_name: N,
}

/// A server's instruments: HTTP always, RPC when gRPC calls get the RPC conventions.
pub(crate) struct ServerMetrics {
    pub(crate) http: Arc<HttpServerMetrics>,
    pub(crate) rpc: Option<RpcCallMetrics>,
}

/// Everything one server layer or middleware shares across its requests, built once by
/// [`ServerTelemetryBuilder`](super::ServerTelemetryBuilder): tracer, configuration,
/// propagator, hooks, metrics.
pub struct ServerTelemetry<T = GlobalTracer, H = ServerHooks> {
    pub(crate) tracer: T,
    pub(crate) config: HttpServerConfig,
    pub(crate) propagation: Propagation,
    pub(crate) hooks: H,
    pub(crate) metrics: Instruments<ServerMetrics>,
    /// Whether gRPC calls get the RPC conventions.
    pub(crate) grpc: bool,
    pub(crate) sampling: SamplingHint,
    pub(crate) traceresponse: bool,
}

impl<T, H> fmt::Debug for ServerTelemetry<T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTelemetry")
            .field("config", &self.config)
            .field("propagation", &self.propagation)
            .field("metrics", &self.metrics)
            .field("traceresponse", &self.traceresponse)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl<T, H> ServerTelemetry<T, H> {
    /// The configuration, as built from code and the environment.
    pub fn config(&self) -> &HttpServerConfig {
        &self.config
    }

    /// The context an excluded request's handler runs in: the caller's (so that downstream calls
    /// keep its trace), or `None` when the request carries none or the policy refuses it, and the
    /// request passes through with no context work at all (a health probe sends no
    /// `traceparent`).
    fn excluded_context(&self, headers: &(impl HeaderSource + ?Sized)) -> Option<Context> {
        match self.config.context_policy() {
            ContextPolicy::Continue => self.propagation.extract_carried(headers),
            ContextPolicy::PublicEndpoint => None,
        }
    }

    /// The span's parent, and for a public endpoint the incoming span context to link to instead.
    #[inline]
    pub(super) fn parent(&self, headers: &(impl HeaderSource + ?Sized)) -> (Context, Option<SpanContext>) {
        let extracted = self.propagation.extract(headers);
        match self.config.context_policy() {
            ContextPolicy::Continue => (extracted, None),
            // A new trace that links to the caller's, without the caller's baggage.
            ContextPolicy::PublicEndpoint => {
                let incoming = extracted.span().span_context().clone();
                (Context::new(), incoming.is_valid().then_some(incoming))
            }
        }
    }

    /// The SERVER span's [`parent`](Self::parent), and the span as it starts, named `name` and
    /// linked to the incoming context when the policy starts a new trace.
    #[inline]
    fn server_span(&self, headers: &(impl HeaderSource + ?Sized), name: &'static str) -> (Context, NewSpan) {
        let (parent, link) = self.parent(headers);
        let span = NewSpan::new(name, SpanKind::Server);
        match link {
            Some(link) => (parent, span.with_links(vec![Link::with_context(link)])),
            None => (parent, span),
        }
    }

    /// The `traceresponse` header value (W3C Trace Context Level 2) for a request whose span has
    /// not ended, when the adapter was built with `traceresponse(true)`.
    #[inline]
    pub fn traceresponse(&self, telemetry: &RequestTelemetry) -> Option<String> {
        if !self.traceresponse {
            return None;
        }
        traceresponse_of(telemetry)
    }
}

/// The `traceresponse` value of the request's span, if it has not ended.
fn traceresponse_of(telemetry: &RequestTelemetry) -> Option<String> {
    let span = telemetry.span_context()?;
    let flags = TraceFlags::new(span.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8());
    Some(Traceparent::format(span.trace_id(), span.span_id(), flags))
}

impl<T, Q, P, N> ServerTelemetry<T, ServerHooks<Q, P, N>> {
    /// Starts a request's telemetry: an excluded request gets no span (only the caller's context,
    /// when it carries one); any other a SERVER span under the extracted context (or, for a
    /// public endpoint, a new trace linking to it), named `{method} {route}`, with the request's
    /// attributes, the request hook called, and the request counted as active.
    #[inline]
    pub fn start<R>(&self, request: &R) -> RequestTelemetry
    where
        R: ServerRequest + ?Sized,
        T: Tracer,
        T::Span: Send + Sync + 'static,
        Q: RequestHook<R::Native>,
        N: SpanNameFormatter<R::Native>,
    {
        if self.config.excludes(request.method(), request.target()) {
            return RequestTelemetry::excluded(self.excluded_context(request.headers()));
        }
        // A gRPC call is always a POST: other requests skip the header lookup.
        if self.grpc && request.method() == "POST" && request.headers().first("content-type").is_some_and(rpc::is_grpc)
        {
            return self.start_call(request);
        }
        self.start_span(request)
    }

    /// [`start`](Self::start) for a gRPC call: a SERVER span named `{rpc.method}` with the RPC
    /// attributes, the request hook called, the call timed for `rpc.server.call.duration`.
    fn start_call<R>(&self, request: &R) -> RequestTelemetry
    where
        R: ServerRequest + ?Sized,
        T: Tracer,
        T::Span: Send + Sync + 'static,
        Q: RequestHook<R::Native>,
    {
        let (parent, span) = self.server_span(request.headers(), rpc::GRPC);
        let path = request.target();
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        // Read only when a span records or a metric needs it: an unsampled call skips it.
        let method = OnceCell::new();
        let method_of = || method.get_or_init(|| RpcMethod::server(path));
        let name = || method_of().span_name();
        let started = start_span_named(&self.tracer, span, &parent, &self.sampling, Some(name), || {
            rpc::server_attributes(request, method_of())
        });
        if started.recording {
            self.hooks.request.on_request(&started.cx.span(), request.native());
        }
        let metric =
            self.metrics.with(|metrics| metrics.rpc.clone()).flatten().map(|rpc| (rpc, RpcCallStart::now(None)));
        if !started.recording && metric.is_none() {
            // Nothing will record the call's end: only its context is carried.
            return RequestTelemetry::started(started.cx, false, None, true);
        }
        let method = method.into_inner().unwrap_or_else(|| RpcMethod::server(path));
        RequestTelemetry::call(started.cx, started.recording, GrpcCall::new(Side::Server, method, metric))
    }

    /// [`start`](Self::start) for a request that is not excluded. Apart, so that an excluded
    /// request (a health probe) does not pay for this function's frame.
    fn start_span<R>(&self, request: &R) -> RequestTelemetry
    where
        R: ServerRequest + ?Sized,
        T: Tracer,
        T::Span: Send + Sync + 'static,
        Q: RequestHook<R::Native>,
        N: SpanNameFormatter<R::Native>,
    {
        let config = &self.config;
        let method = config.known_methods().normalize(request.method());
        let (parent, span) = self.server_span(request.headers(), method.span_name_prefix());
        let matched = request.route().filter(|route| !route.is_empty());
        // Interned only when a span records or metrics need it: an unsampled request skips it.
        let route = OnceCell::new();
        let route = || route.get_or_init(|| matched.as_deref().map(routes::route)).as_ref();
        let name = || self.span_name(method, route(), request.native());
        let started = start_span_named(&self.tracer, span, &parent, &self.sampling, Some(name), || {
            crate::semconv::http::server_attributes(request, method, config, route().map(RouteTemplate::to_static))
        });
        if started.recording {
            self.hooks.request.on_request(&started.cx.span(), request.native());
        }
        let metrics = self.metrics.with(|metrics| {
            let mut active = metrics.http.start(method.as_str(), request.scheme(), request.protocol_version());
            if let Some(route) = route() {
                active.set_route(route.to_static());
            }
            active
        });
        RequestTelemetry::started(started.cx, started.recording, metrics, matched.is_some())
    }

    /// The span name; with the default formatter a static string, interned per route.
    fn span_name<Req: ?Sized>(
        &self,
        method: HttpMethod<'_>,
        route: Option<&RouteTemplate>,
        request: &Req,
    ) -> Cow<'static, str>
    where
        N: SpanNameFormatter<Req>,
    {
        if TypeId::of::<N>() == TypeId::of::<DefaultSpanName>() {
            return match route {
                Some(route) => routes::span_name(route, method.span_name_prefix()),
                None => Cow::Borrowed(method.span_name_prefix()),
            };
        }
        self.hooks.span_name.span_name(method, route.map(RouteTemplate::as_str), request)
    }

    /// For a router that matches inside the wrapped service (actix-web), once it ran: records the
    /// route `request` now tells (`http.route`, the span's final name, the metrics' route). The
    /// route is read only when still unknown and a span or a metric needs it.
    #[inline]
    pub fn route_matched<R>(&self, telemetry: &mut RequestTelemetry, request: &R)
    where
        R: ServerRequest + ?Sized,
        N: SpanNameFormatter<R::Native>,
    {
        if telemetry.wants_route() {
            self.record_route(telemetry, request);
        }
    }

    /// [`route_matched`](Self::route_matched) once the route is wanted.
    fn record_route<R>(&self, telemetry: &mut RequestTelemetry, request: &R)
    where
        R: ServerRequest + ?Sized,
        N: SpanNameFormatter<R::Native>,
    {
        let Some(template) = request.route().filter(|route| !route.is_empty()) else { return };
        let Some(span) = telemetry.recording_span() else {
            // Only the metric wants it: a short route the router handed over owned is keyed by
            // value, so it is not interned.
            let route = match template {
                Cow::Owned(route) if route.len() <= INLINE_TEXT_LEN => Cow::Owned(route),
                template => routes::route(&template).to_static(),
            };
            return telemetry.set_route(route);
        };
        let route = routes::route(&template);
        let method = self.config.known_methods().normalize(request.method());
        span.update_name(self.span_name(method, Some(&route), request.native()));
        span.set_attribute(KeyValue::new(semconv::HTTP_ROUTE, route.to_static()));
        telemetry.set_route(route.to_static());
    }

    /// Records the response head on the request's span: `http.response.status_code`, the
    /// allow-listed response headers, Error with `error.type` for a 5xx (a 4xx leaves the span
    /// Unset) and the response's error as an `exception` event, then the response hook. From
    /// now on, dropping `telemetry` ends the span normally: the status stands. For a gRPC call,
    /// only the status a trailers-only response (or a non-200 HTTP status) gives is noted; the
    /// span ends with the body, whose trailers carry the status otherwise.
    #[inline]
    pub fn respond<R>(&self, telemetry: &mut RequestTelemetry, response: &R)
    where
        R: ServerResponse + ?Sized,
        P: ResponseHook<R::Native>,
    {
        let status = response.status();
        if let Some(call) = telemetry.grpc_mut() {
            call.response_head(status, response.headers());
            if let (Some(span), Some(native)) = (telemetry.recording_span(), response.native()) {
                self.hooks.response.on_response(&span, native);
            }
        } else if let Some(span) = telemetry.recording_span() {
            self.record_response(&span, status, response);
        }
        telemetry.responded(status);
    }

    /// [`respond`](Self::respond) for a span that records.
    fn record_response<R>(&self, span: &SpanRef<'_>, status: u16, response: &R)
    where
        R: ServerResponse + ?Sized,
        P: ResponseHook<R::Native>,
    {
        span.set_attribute(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
        let capture = self.config.response_headers();
        if let Some(headers) = response.headers().filter(|_| !capture.is_empty()) {
            let mut captured = Vec::new();
            capture.record(headers, &mut captured);
            span.set_attributes(captured);
        }
        if let Some(error_type) = server_error_type(status) {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
            span.set_status(Status::error(""));
            if let Some(error) = response.error() {
                span.add_event("exception", vec![KeyValue::new(semconv::EXCEPTION_MESSAGE, error.to_string())]);
            }
        }
        if let Some(native) = response.native() {
            self.hooks.response.on_response(span, native);
        }
    }
}
