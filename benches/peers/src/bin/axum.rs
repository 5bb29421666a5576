//! axum: the same `GET /users/7` (with `Host` and a sampled `traceparent`) through `Router::oneshot`
//! in process, body read to the end, for every instrumentation. See `src/lib.rs` for the commands.
//!
//! Cases: `bare`; `reference-{sampled,unsampled}` (the hand-written minimal layer below);
//! `ours-{sampled,unsampled,excluded}` (otel-tower); `otel-instrumentation-tower-{sampled,unsampled}`;
//! `axum-tracing-otel-{sampled,unsampled}`; `tower-http-trace-{sampled,unsampled}` (tower-http's
//! `TraceLayer` with tracing-opentelemetry). `-sampled` is the always-on sampler, `-unsampled` the
//! always-off one; `ours-unsampled00` is always-off with the caller's flags 00.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use peers_bench::{Command, drive, sdk33, traceparent};
use tower::ServiceExt;

/// The reference: the least an OpenTelemetry server layer can do. Strict `traceparent` parse,
/// static strings, the SDK span started as a child of the caller and ended with the response
/// head. No context made current, no route, no other attribute.
mod reference {
    use http::{Method, Request, Response};
    use opentelemetry::trace::{SpanKind, Tracer as _, TraceContextExt as _};
    use opentelemetry::{Context, KeyValue, trace::Span as _};
    use opentelemetry_sdk::trace::{Span, Tracer};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll, ready};

    #[derive(Clone)]
    pub struct Layer(pub Tracer);

    impl<S> tower::Layer<S> for Layer {
        type Service = Service<S>;
        fn layer(&self, inner: S) -> Service<S> {
            Service { inner, tracer: self.0.clone() }
        }
    }

    #[derive(Clone)]
    pub struct Service<S> {
        inner: S,
        tracer: Tracer,
    }

    fn method(method: &Method) -> &'static str {
        match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::PATCH => "PATCH",
            Method::OPTIONS => "OPTIONS",
            _ => "_OTHER",
        }
    }

    impl<S, B, R> tower::Service<Request<B>> for Service<S>
    where
        S: tower::Service<Request<B>, Response = Response<R>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = ResponseFuture<S::Future>;

        fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: Request<B>) -> Self::Future {
            let parent = request
                .headers()
                .get("traceparent")
                .and_then(|v| peers_bench::parse_traceparent(v.as_bytes()))
                .map_or_else(Context::new, |span| Context::new().with_remote_span_context(span));
            let method = method(request.method());
            let span = self
                .tracer
                .span_builder(method)
                .with_kind(SpanKind::Server)
                .with_attributes([KeyValue::new("http.request.method", method)])
                .start_with_context(&self.tracer, &parent);
            ResponseFuture { inner: self.inner.call(request), span: Some(span) }
        }
    }

    pin_project_lite::pin_project! {
        pub struct ResponseFuture<F> {
            #[pin]
            inner: F,
            span: Option<Span>,
        }
    }

    impl<F, R, E> Future for ResponseFuture<F>
    where
        F: Future<Output = Result<Response<R>, E>>,
    {
        type Output = F::Output;
        fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
            let this = self.project();
            let result = ready!(this.inner.poll(cx));
            if let Some(mut span) = this.span.take() {
                if let Ok(response) = &result {
                    if span.is_recording() {
                        span.set_attribute(KeyValue::new(
                            "http.response.status_code",
                            i64::from(response.status().as_u16()),
                        ));
                    }
                }
                span.end();
            }
            Poll::Ready(result)
        }
    }
}

fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// Installs tracing-opentelemetry 0.34 over `provider` as the global subscriber (INFO and up, as
/// in production), and the W3C propagator as the global one.
fn tracing_subscriber(provider: &SdkTracerProvider) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscriber =
        tracing_subscriber::registry().with(layer).with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
}

/// tower-http's `TraceLayer` with its span given the caller as parent, as its users write it.
fn tower_http_trace(router: Router) -> Router {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let make_span = |request: &Request<Body>| {
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            uri = %request.uri(),
            version = ?request.version(),
        );
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        span
    };
    router.layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(make_span))
}

fn app(case: &str) -> (Router, Option<SdkTracerProvider>) {
    let Some((kind, mode)) = case.rsplit_once('-') else {
        assert_eq!(case, "bare", "unknown case {case:?}");
        return (router(), None);
    };
    let provider = sdk33::provider(mode == "sampled");
    let app = match kind {
        "reference" => router().layer(reference::Layer(provider.tracer("reference"))),
        "ours" => {
            let mut config = otel_core::config::HttpServerConfig::builder().environment(|_| None);
            if mode == "excluded" {
                config = config.exclude_prefix("/users/");
            }
            let layer = otel_tower::OtelLayer::builder()
                .tracer_provider(&provider)
                .propagator(otel_core::propagation::StrictTraceContextPropagator::new())
                .config(config)
                .axum_body()
                .build();
            router().layer(layer)
        }
        "otel-instrumentation-tower" => {
            // The layer reads the global provider and propagator; metrics off (tracing only).
            opentelemetry::global::set_tracer_provider(provider.clone());
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            let layer = opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
                .with_metrics(false)
                .build()
                .expect("the layer builds");
            router().layer(layer)
        }
        "axum-tracing-otel" => {
            tracing_subscriber(&provider);
            router().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
        }
        "tower-http-trace" => {
            tracing_subscriber(&provider);
            tower_http_trace(router())
        }
        other => panic!("unknown case {other:?}"),
    };
    assert!(matches!(mode, "sampled" | "unsampled" | "unsampled00" | "excluded"), "unknown mode {mode:?}");
    (app, Some(provider))
}

async fn one(app: &Router, traceparent: &str) {
    let request = Request::get("/users/7")
        .header("host", "api.example.com")
        .header("traceparent", traceparent)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success());
    let body = response.into_body().collect().await.unwrap();
    std::hint::black_box(body);
}

fn main() {
    let command = Command::from_args().expect("usage: axum <case> <requests> | axum time <case> <requests> <passes>");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (app, provider) = app(command.case());
    // As `axum::serve` does: handlers become routes once, not per request.
    let app = app.with_state(());
    if let Command::Serve { .. } = command {
        // One thread, as wrk.sh pins the process to one CPU.
        return runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            axum::serve(listener, app).await.unwrap();
        });
    }
    drive(
        &command,
        |n| {
            runtime.block_on(async {
                for _ in 0..n {
                    one(&app, traceparent(command.case())).await;
                }
            })
        },
        || {
            if let Some(provider) = &provider {
                let _ = provider.force_flush();
            }
        },
    );
    if let Some(provider) = provider {
        let _ = provider.shutdown();
    }
}
