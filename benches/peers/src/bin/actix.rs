//! actix-web: the same `GET /users/42` (with `Host`, a sampled `traceparent` and a peer address)
//! through `actix_web::test::init_service` in process, body read to the end, for every
//! instrumentation. See `src/lib.rs` for the commands.
//!
//! Cases: `bare`; `reference-{sampled,unsampled}` (the hand-written minimal middleware below);
//! `ours-{sampled,unsampled,excluded}` (otel-actix); `otel-instrumentation-actix-{sampled,unsampled}`
//! (opentelemetry-instrumentation-actix-web); `tracing-actix-web-{sampled,unsampled}` (with
//! tracing-opentelemetry, OpenTelemetry 0.32). `ours-unsampled00`: always-off, the caller's flags 00.

use actix_web::body::{MessageBody, to_bytes};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test, web};
use opentelemetry::trace::TracerProvider as _;
use peers_bench::{Command, drive, sdk32, sdk33, traceparent};

/// The reference: the least an OpenTelemetry server middleware can do. Strict `traceparent`
/// parse, static strings, the SDK span started as a child of the caller and ended with the
/// response head. No context made current, no route, no other attribute.
mod reference {
    use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
    use actix_web::http::Method;
    use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::{Span, Tracer};
    use std::future::{Future, Ready, ready};
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    #[derive(Clone)]
    pub struct Middleware(pub Tracer);

    impl<S, B> Transform<S, ServiceRequest> for Middleware
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    {
        type Response = ServiceResponse<B>;
        type Error = actix_web::Error;
        type Transform = Traced<S>;
        type InitError = ();
        type Future = Ready<Result<Traced<S>, ()>>;

        fn new_transform(&self, service: S) -> Self::Future {
            ready(Ok(Traced { service, tracer: self.0.clone() }))
        }
    }

    pub struct Traced<S> {
        service: S,
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

    impl<S, B> Service<ServiceRequest> for Traced<S>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    {
        type Response = ServiceResponse<B>;
        type Error = actix_web::Error;
        type Future = ResponseFuture<S::Future>;

        actix_web::dev::forward_ready!(service);

        fn call(&self, request: ServiceRequest) -> Self::Future {
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
            ResponseFuture { inner: self.service.call(request), span: Some(span) }
        }
    }

    pin_project_lite::pin_project! {
        pub struct ResponseFuture<F> {
            #[pin]
            inner: F,
            span: Option<Span>,
        }
    }

    impl<F, B> Future for ResponseFuture<F>
    where
        F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    {
        type Output = F::Output;
        fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
            let this = self.project();
            let result = std::task::ready!(this.inner.poll(cx));
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

async fn user(id: web::Path<u32>) -> String {
    format!("user {id}")
}

async fn requests<S, B>(service: &S, n: u64, traceparent: &str)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let peer: std::net::SocketAddr = "10.0.0.7:51234".parse().unwrap();
    for _ in 0..n {
        let request = test::TestRequest::get()
            .uri("/users/42")
            .insert_header(("host", "api.example.com"))
            .insert_header(("traceparent", traceparent))
            .peer_addr(peer)
            .to_request();
        let response = service.call(request).await.unwrap_or_else(|_| unreachable!("the handler cannot fail"));
        assert!(response.status().is_success());
        let body = to_bytes(response.into_body()).await.unwrap_or_else(|_| unreachable!("a string body"));
        std::hint::black_box(body);
    }
}

/// Installs tracing-opentelemetry 0.33 over an SDK 0.32 `provider` as the global subscriber
/// (INFO and up, as in production), and the W3C propagator 0.32 as the global one.
fn tracing_subscriber_032(provider: &opentelemetry_sdk_032::trace::SdkTracerProvider) {
    use opentelemetry_032::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let layer = tracing_opentelemetry_033::layer().with_tracer(provider.tracer("bench"));
    let subscriber =
        tracing_subscriber::registry().with(layer).with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");
    opentelemetry_032::global::set_text_map_propagator(
        opentelemetry_sdk_032::propagation::TraceContextPropagator::new(),
    );
}

/// The app's one route, on whatever `App` the case built.
macro_rules! routes {
    ($app:expr) => {
        $app.route("/users/{id}", web::get().to(user))
    };
}

/// Builds the case's app (`$app` is an app factory) inside `$system` and drives it, or serves
/// it on one worker for `wrk` (a macro: every app is its own type).
macro_rules! run_app {
    ($command:expr, $system:expr, $app:expr, $flush:expr) => {{
        if let Command::Serve { .. } = $command {
            let app = $app;
            $system.block_on(async move {
                let server = actix_web::HttpServer::new(app).workers(1).bind(("127.0.0.1", 0)).unwrap();
                println!("{}", server.addrs()[0]);
                server.run().await.unwrap();
            });
        } else {
            let service = $system.block_on(test::init_service(($app)()));
            drive($command, |n| $system.block_on(requests(&service, n, traceparent($command.case()))), $flush);
        }
    }};
}

fn main() {
    let command = Command::from_args().expect("usage: actix <case> <requests> | actix time <case> <requests> <passes>");
    let system = actix_web::rt::System::new();
    let case = command.case().to_owned();
    if case == "bare" {
        run_app!(&command, system, move || routes!(App::new()), || {});
        return;
    }
    let (kind, mode) = case.rsplit_once('-').expect("a case: <kind>-<mode>");
    assert!(matches!(mode, "sampled" | "unsampled" | "unsampled00" | "excluded"), "unknown mode {mode:?}");
    let sampled = mode == "sampled";
    if kind == "tracing-actix-web" {
        let provider = sdk32::provider(sampled);
        tracing_subscriber_032(&provider);
        let flush = || {
            let _ = provider.force_flush();
        };
        run_app!(&command, system, move || routes!(App::new().wrap(tracing_actix_web::TracingLogger::default())), flush);
        let _ = provider.shutdown();
        return;
    }
    let provider = sdk33::provider(sampled);
    let flush = || {
        let _ = provider.force_flush();
    };
    match kind {
        "reference" => {
            let middleware = reference::Middleware(provider.tracer("reference"));
            run_app!(&command, system, move || routes!(App::new().wrap(middleware.clone())), flush);
        }
        "ours" => {
            let mut config = otel_core::config::HttpServerConfig::builder().environment(|_| None);
            if mode == "excluded" {
                config = config.exclude_prefix("/users/");
            }
            let middleware = otel_actix::OtelMiddleware::builder()
                .tracer_provider(&provider)
                .propagator(otel_core::propagation::StrictTraceContextPropagator::new())
                .config(config)
                .build();
            run_app!(&command, system, move || routes!(App::new().wrap(middleware.clone())), flush);
        }
        "otel-instrumentation-actix" => {
            // The middleware reads the global provider and propagator.
            opentelemetry::global::set_tracer_provider(provider.clone());
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            // Not `Clone`: one per app (the factory runs once per worker).
            let middleware = opentelemetry_instrumentation_actix_web::RequestTracing::new;
            run_app!(&command, system, move || routes!(App::new().wrap(middleware())), flush);
        }
        other => panic!("unknown case {other:?}"),
    }
    let _ = provider.shutdown();
}
