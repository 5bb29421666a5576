//! Building a [`ServerTelemetry`], with the options every server adapter offers under the same
//! names ([`server_builder_options!`](crate::server_builder_options) writes them on each adapter's
//! own builder).

use super::telemetry::ServerMetrics;
use super::telemetry::{ServerHooks, ServerTelemetry};
use crate::config::{HttpServerConfig, HttpServerConfigBuilder};
use crate::global::GlobalTracer;
use crate::internal::span_start::SamplingHint;
use crate::metrics::{HttpServerMetrics, MeterSource, RpcCallMetrics};
use crate::propagation::Propagation;
use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider;
use std::fmt;
use std::sync::Arc;

/// Builds a [`ServerTelemetry`]. Its type changes as hooks are plugged in, so that the lifecycle
/// calls them without boxing.
pub struct ServerTelemetryBuilder<T = GlobalTracer, H = ServerHooks> {
    scope: InstrumentationScope,
    tracer: T,
    config: HttpServerConfigBuilder,
    propagation: Propagation,
    hooks: H,
    /// Where the metrics go.
    metrics: MeterSource,
    traceresponse: bool,
    attributes_for_sampler: bool,
    grpc: bool,
}

impl<T, H> fmt::Debug for ServerTelemetryBuilder<T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTelemetryBuilder")
            .field("scope", &self.scope.name())
            .field("config", &self.config)
            .field("propagation", &self.propagation)
            .field("metrics", &self.metrics)
            .field("traceresponse", &self.traceresponse)
            .field("attributes_for_sampler", &self.attributes_for_sampler)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl ServerTelemetry {
    /// A builder whose spans and metrics carry the adapter's instrumentation `scope`, with the
    /// defaults: the global tracer provider ([`GlobalTracer`]: as installed when each span starts) and propagator (read per request), the
    /// configuration from the environment, no hooks, metrics to the global meter provider.
    pub fn builder(scope: InstrumentationScope) -> ServerTelemetryBuilder {
        ServerTelemetryBuilder {
            tracer: GlobalTracer::new(scope.clone()),
            scope,
            config: HttpServerConfig::builder(),
            propagation: Propagation::Global,
            hooks: ServerHooks::default(),
            metrics: MeterSource::Global,
            traceresponse: false,
            attributes_for_sampler: false,
            grpc: false,
        }
    }
}

impl<T, H> ServerTelemetryBuilder<T, H> {
    /// Starts spans with a tracer of `provider` instead of the global provider's. The adapter is
    /// generic over the tracer, so an SDK tracer is called without the global API's box.
    pub fn tracer_provider<P: TracerProvider>(self, provider: &P) -> ServerTelemetryBuilder<P::Tracer, H> {
        ServerTelemetryBuilder {
            tracer: provider.tracer_with_scope(self.scope.clone()),
            scope: self.scope,
            config: self.config,
            propagation: self.propagation,
            hooks: self.hooks,
            metrics: self.metrics,
            traceresponse: self.traceresponse,
            attributes_for_sampler: self.attributes_for_sampler,
            grpc: self.grpc,
        }
    }

    /// Extracts the incoming context with `propagator` instead of the global one (which is
    /// otherwise read per request).
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagation = Propagation::new(propagator);
        self
    }

    /// The shared HTTP server configuration (exclusion, public endpoint, known methods, header
    /// capture, sensitive query parameters), built once with the adapter's name.
    pub fn config(mut self, config: HttpServerConfigBuilder) -> Self {
        self.config = config;
        self
    }

    /// Records `http.server.request.duration` and `http.server.active_requests` (and for gRPC
    /// calls `rpc.server.call.duration`) with the global meter provider (`true`, the default;
    /// nothing is recorded while no meter provider is installed), or not at all (`false`: no
    /// metric work per request).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = MeterSource::enabled(enabled);
        self
    }

    /// Records the metrics with `provider`'s meter (and turns them on).
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.metrics = MeterSource::provider(provider, self.scope.clone());
        self
    }

    /// Gives gRPC calls (`content-type: application/grpc`, `application/grpc+proto`, ...) the
    /// RPC conventions instead of HTTP's: a span named `{rpc.method}`, the call's status from
    /// `grpc-status` in the response headers or trailers, `rpc.server.call.duration`. Other
    /// requests keep HTTP's. Off unless the adapter turns it on: only an adapter whose response
    /// bodies carry trailers can read a streamed call's status (it then calls
    /// [`RequestTelemetry::trailers`](super::RequestTelemetry::trailers)).
    pub fn grpc(mut self, enabled: bool) -> Self {
        self.grpc = enabled;
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
    /// Off by default: they are then given when the sampler kept the previous span with the
    /// same kind of parent (none, sampled, not sampled), and otherwise computed only for a span
    /// that turns out to record. For the SDK's samplers (which decide from the parent and the
    /// trace id) a dropped request does no attribute work, and a kept one gives its sampler
    /// every attribute. Turn it on for a sampler that reads attributes (`url.path`, ...).
    pub fn attributes_for_sampler(mut self, enabled: bool) -> Self {
        self.attributes_for_sampler = enabled;
        self
    }

    /// Builds the shared state, reading the environment once; `adapter` selects the adapter's
    /// own `OTEL_RUST_<ADAPTER>_EXCLUDED_URLS` unless the configuration names another.
    pub fn build(self, adapter: &str) -> ServerTelemetry<T, H> {
        let grpc = self.grpc;
        let metrics = self.metrics.instruments(self.scope, move |meter| ServerMetrics {
            http: Arc::new(HttpServerMetrics::new(meter)),
            rpc: grpc.then(|| RpcCallMetrics::server(meter)),
        });
        ServerTelemetry {
            tracer: self.tracer,
            config: self.config.default_adapter(adapter).build(),
            propagation: self.propagation,
            hooks: self.hooks,
            metrics,
            grpc: self.grpc,
            sampling: SamplingHint::new(self.attributes_for_sampler),
            traceresponse: self.traceresponse,
        }
    }
}

impl<T, Q, P, N> ServerTelemetryBuilder<T, ServerHooks<Q, P, N>> {
    /// Calls `hook` with the span and the framework's request after the span starts, when it
    /// records. See [`RequestHook`](crate::hooks::RequestHook).
    pub fn request_hook<Q2>(self, hook: Q2) -> ServerTelemetryBuilder<T, ServerHooks<Q2, P, N>> {
        self.with_hooks(|ServerHooks { request: _, response, span_name }| ServerHooks {
            request: hook,
            response,
            span_name,
        })
    }

    /// Calls `hook` with the span and the framework's response when its head is ready, when the
    /// span records. See [`ResponseHook`](crate::hooks::ResponseHook).
    pub fn response_hook<P2>(self, hook: P2) -> ServerTelemetryBuilder<T, ServerHooks<Q, P2, N>> {
        self.with_hooks(|ServerHooks { request, response: _, span_name }| ServerHooks {
            request,
            response: hook,
            span_name,
        })
    }

    /// Names spans with `formatter` instead of `{method} {route}`. See
    /// [`SpanNameFormatter`](crate::hooks::SpanNameFormatter).
    pub fn span_name<N2>(self, formatter: N2) -> ServerTelemetryBuilder<T, ServerHooks<Q, P, N2>> {
        self.with_hooks(|ServerHooks { request, response, span_name: _ }| ServerHooks {
            request,
            response,
            span_name: formatter,
        })
    }
}

impl<T, H> ServerTelemetryBuilder<T, H> {
    fn with_hooks<H2>(self, hooks: impl FnOnce(H) -> H2) -> ServerTelemetryBuilder<T, H2> {
        ServerTelemetryBuilder {
            tracer: self.tracer,
            scope: self.scope,
            config: self.config,
            propagation: self.propagation,
            hooks: hooks(self.hooks),
            metrics: self.metrics,
            traceresponse: self.traceresponse,
            attributes_for_sampler: self.attributes_for_sampler,
            grpc: self.grpc,
        }
    }
}

/// Writes, on a server adapter's builder, the options every server adapter offers, with the same
/// names and documentation: `tracer_provider`, `propagator`, `config`, `metrics`,
/// `meter_provider`, `traceresponse`, `attributes_for_sampler`, `request_hook`, `response_hook`
/// and `span_name`. Each delegates to the [`ServerTelemetryBuilder`] the adapter's builder holds.
///
/// The adapter's builder takes the tracer and the hooks as its first two type parameters and
/// writes `fn map_server<T2, H2>(self, f: impl FnOnce(ServerTelemetryBuilder<T, H>) ->
/// ServerTelemetryBuilder<T2, H2>) -> Builder<T2, H2, ..>`; the macro is given the builder's name
/// and its other type parameters (none of them named `T`, `H`, `Q`, `P` or `N`):
///
/// ```text
/// otel_core::server_builder_options!(OtelLayerBuilder<R, M>);
/// otel_core::server_builder_options!(OtelMiddlewareBuilder); // no other type parameters
/// ```
#[macro_export]
macro_rules! server_builder_options {
    ($builder:ident) => {
        $crate::server_builder_options!($builder<>);
    };
    ($builder:ident < $($rest:ident),* >) => {
        impl<T, H, $($rest),*> $builder<T, H, $($rest),*> {
            /// Starts spans with a tracer of `provider` instead of the global provider's (taken
            /// when the builder is made). The adapter is generic over the tracer, so an SDK
            /// tracer is called without the global API's box.
            pub fn tracer_provider<TP: opentelemetry::trace::TracerProvider>(
                self,
                provider: &TP,
            ) -> $builder<TP::Tracer, H, $($rest),*> {
                self.map_server(|server| server.tracer_provider(provider))
            }

            /// Extracts the incoming context with `propagator` instead of the global one (which
            /// is otherwise read per request).
            pub fn propagator(
                self,
                propagator: impl opentelemetry::propagation::TextMapPropagator + Send + Sync + 'static,
            ) -> Self {
                self.map_server(|server| server.propagator(propagator))
            }

            /// The shared HTTP server configuration (exclusion, public endpoint, known methods,
            /// header capture, sensitive query parameters). Its environment variables are read
            /// when the adapter is built, with the adapter's own
            /// `OTEL_RUST_<ADAPTER>_EXCLUDED_URLS` unless the configuration names another.
            pub fn config(self, config: $crate::config::HttpServerConfigBuilder) -> Self {
                self.map_server(|server| server.config(config))
            }

            /// Records `http.server.request.duration` and `http.server.active_requests` with the
            /// global meter provider (`true`, the default; nothing is recorded while no meter
            /// provider is installed), or not at all (`false`: no metric work per request).
            pub fn metrics(self, enabled: bool) -> Self {
                self.map_server(|server| server.metrics(enabled))
            }

            /// Records the metrics with `provider`'s meter (and turns them on).
            pub fn meter_provider(self, provider: &impl opentelemetry::metrics::MeterProvider) -> Self {
                self.map_server(|server| server.meter_provider(provider))
            }

            /// Writes `traceresponse: 00-<trace-id>-<span-id>-<flags>` (W3C Trace Context Level
            /// 2) on every response of a request with a span, so clients can find the trace. Off
            /// by default: it tells callers your trace ids.
            pub fn traceresponse(self, enabled: bool) -> Self {
                self.map_server(|server| server.traceresponse(enabled))
            }

            /// Gives the request attributes to the sampler in the span builder on every request.
            ///
            /// Off by default: they are then given when the sampler kept the previous span with
            /// the same kind of parent (none, sampled, not sampled), and otherwise computed only
            /// for a span that turns out to record. For the SDK's samplers (which decide from
            /// the parent and the trace id) a dropped request does no attribute work, and a kept
            /// one gives its sampler every attribute. Turn it on for a sampler that reads
            /// attributes (`url.path`, ...).
            pub fn attributes_for_sampler(self, enabled: bool) -> Self {
                self.map_server(|server| server.attributes_for_sampler(enabled))
            }
        }

        impl<T, Q, P, N, $($rest),*> $builder<T, $crate::server::ServerHooks<Q, P, N>, $($rest),*> {
            /// Calls `hook` with the span and the framework's request after the span starts,
            /// when it records (the sampler kept it). See [`RequestHook`]($crate::hooks::RequestHook).
            pub fn request_hook<Q2>(self, hook: Q2) -> $builder<T, $crate::server::ServerHooks<Q2, P, N>, $($rest),*> {
                self.map_server(|server| server.request_hook(hook))
            }

            /// Calls `hook` with the span and the framework's response when its head is ready,
            /// when the span records. See [`ResponseHook`]($crate::hooks::ResponseHook).
            pub fn response_hook<P2>(self, hook: P2) -> $builder<T, $crate::server::ServerHooks<Q, P2, N>, $($rest),*> {
                self.map_server(|server| server.response_hook(hook))
            }

            /// Names spans with `formatter` instead of `{method} {route}`. See
            /// [`SpanNameFormatter`]($crate::hooks::SpanNameFormatter). A router that matches
            /// only inside the wrapped service calls it twice: when the span starts (the route
            /// is then `None`) and once the route is known.
            pub fn span_name<N2>(self, formatter: N2) -> $builder<T, $crate::server::ServerHooks<Q, P, N2>, $($rest),*> {
                self.map_server(|server| server.span_name(formatter))
            }
        }
    };
}
