//! A real HTTP server on 127.0.0.1 that records the headers it received, and clients built
//! around the middleware under test.
#![allow(dead_code, unreachable_pub)] // each test binary uses part of this module

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry_sdk::propagation::BaggagePropagator;
use opentelemetry_sdk::trace::SdkTracer;
use otel_core::config::HttpClientConfig;
use otel_core::propagation::{StrictTraceContextPropagator, Traceparent};
use otel_core::testing::SpanRecorder;
use otel_reqwest::{OtelMiddleware, OtelMiddlewareBuilder};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

impl Received {
    /// The `traceparent` the server received, parsed.
    #[track_caller]
    pub fn traceparent(&self) -> (TraceId, SpanId, TraceFlags) {
        let value = self.headers.get("traceparent").expect("a traceparent header").to_str().unwrap();
        let parsed = Traceparent::parse(value).expect("a valid traceparent");
        (parsed.trace_id, parsed.span_id, parsed.flags)
    }
}

#[derive(Default)]
struct ServerState {
    received: Mutex<Vec<Received>>,
    flaky_calls: AtomicUsize,
}

/// The server. Paths: `/missing` 404, `/fail` 500, `/slow` answers after 10 s, `/flaky` 503
/// twice then 200, `/redirect` 302 to `/ok`; anything else 200 with `x-request-id: req-1`.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
}

impl TestServer {
    pub async fn start() -> Self {
        let state = Arc::new(ServerState::default());
        let app = Router::new().fallback(handle).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub fn port(&self) -> i64 {
        i64::from(self.addr.port())
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn handle(State(state): State<Arc<ServerState>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    state.received.lock().unwrap().push(Received { method, path: uri.path().to_owned(), headers });
    match uri.path() {
        "/missing" => StatusCode::NOT_FOUND.into_response(),
        "/fail" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            StatusCode::OK.into_response()
        }
        "/flaky" if state.flaky_calls.fetch_add(1, Ordering::SeqCst) < 2 => {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        "/redirect" => (StatusCode::FOUND, [("location", "/ok")]).into_response(),
        _ => (StatusCode::OK, [("x-request-id", "req-1")], "ok").into_response(),
    }
}

/// A port on 127.0.0.1 with no listener.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The middleware under test: the recorder's provider, the strict W3C propagator with baggage,
/// and a configuration that ignores the developer's environment.
pub fn middleware(recorder: &SpanRecorder) -> OtelMiddlewareBuilder<SdkTracer> {
    OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(TextMapCompositePropagator::new(vec![
            Box::new(StrictTraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]))
        .config(HttpClientConfig::builder().environment(|_| None))
}

/// A reqwest client (no proxy from the environment) with `middlewares` in order.
pub fn client(middlewares: Vec<Arc<dyn Middleware>>) -> ClientWithMiddleware {
    client_from(reqwest::Client::builder().no_proxy().build().unwrap(), middlewares)
}

/// `client`, around a given reqwest client.
pub fn client_from(inner: reqwest::Client, middlewares: Vec<Arc<dyn Middleware>>) -> ClientWithMiddleware {
    middlewares.into_iter().fold(ClientBuilder::new(inner), ClientBuilder::with_arc).build()
}
