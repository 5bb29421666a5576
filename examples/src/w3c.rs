//! A service for the official W3C Trace Context test suite (<https://github.com/w3c/trace-context>),
//! built from this workspace's adapters: otel-tower on the server side, otel-reqwest on the client
//! side, and otel-core's [`StrictTraceContextPropagator`] on both.
//!
//! The suite's harness POSTs a JSON list of `{"url": ..., "arguments": ...}` to the service with
//! some `traceparent` / `tracestate` headers; for each element the service POSTs `arguments` as
//! JSON to `url` (one CLIENT span per call, carrying the propagated context), then answers 200.
//! The harness checks the headers its callback endpoint received.
//!
//! The binary `w3c-service` serves [`router`]; [`Callbacks`] and [`self_test`] play the harness's
//! part, so the service can check itself without Python (`--self-test`, and the crate's tests).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_core::propagation::{StrictTraceContextPropagator, Traceparent};
use otel_reqwest::OtelMiddleware;
use otel_tower::OtelLayer;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where the suite's documentation expects the service (`PORT` overrides the port in the binary).
pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";

/// The path the harness posts its instructions to: `python test.py http://127.0.0.1:5000/test`.
pub const TEST_PATH: &str = "/test";

/// The harness waits 5 s per test case by default; a callback must not take longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One element of the harness's list: POST `arguments` (any JSON) to `url`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Where to send the request (the harness's callback endpoint, or another test service).
    pub url: String,
    /// The JSON body to send; usually a further list of calls for the next service.
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// The test service: `POST /test` makes the calls it is given, each traced and with the
/// request's context propagated, and answers 200 when all were made.
///
/// Spans go to `provider` (the suite needs a real SDK: a no-op tracer would forward the caller's
/// parent id instead of a new one).
pub fn router(provider: &SdkTracerProvider) -> Router {
    let reqwest = reqwest::Client::builder().timeout(CALL_TIMEOUT).build().expect("a plain HTTP client builds");
    let client = ClientBuilder::new(reqwest)
        .with(
            OtelMiddleware::builder().tracer_provider(provider).propagator(StrictTraceContextPropagator::new()).build(),
        )
        .build();
    let otel = OtelLayer::builder().tracer_provider(provider).propagator(StrictTraceContextPropagator::new()).build();
    Router::new().route(TEST_PATH, post(make_calls)).with_state(client).layer(otel)
}

/// The handler: runs inside the SERVER span otel-tower started, so every client call is its child.
async fn make_calls(State(client): State<ClientWithMiddleware>, body: Bytes) -> (StatusCode, String) {
    // The body is parsed whatever its content type says: the harness is the only caller.
    let Ok(calls) = serde_json::from_slice::<Vec<Call>>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected a JSON list of {\"url\", \"arguments\"}\n".to_owned());
    };
    let mut failed = 0;
    // One after the other, in the harness's order.
    for call in &calls {
        match client.post(&call.url).json(&call.arguments).send().await {
            Ok(response) if response.status().is_success() => {}
            _ => failed += 1,
        }
    }
    // 200 either way: the harness judges the callbacks it received, not this answer.
    (StatusCode::OK, format!("{} calls made, {failed} failed\n", calls.len()))
}

/// A stand-in for the harness's callback endpoint: records the headers of every request to
/// `/callback/{id}` and answers 200.
#[derive(Clone, Debug, Default)]
pub struct Callbacks {
    received: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Callbacks {
    /// Serves the endpoint on `127.0.0.1` (a free port) in a background task; returns its address.
    pub async fn serve(&self) -> std::io::Result<SocketAddr> {
        let received = Arc::clone(&self.received);
        let record = move |headers: HeaderMap| async move {
            received.lock().unwrap_or_else(PoisonError::into_inner).push(headers);
            StatusCode::OK
        };
        let app = Router::new().route("/callback/{id}", post(record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(addr)
    }

    /// The headers of every callback received so far, in arrival order.
    pub fn received(&self) -> Vec<HeaderMap> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The `traceparent` the self-test sends, as the harness would.
pub const SELF_TEST_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What the harness does in its simplest test case: POSTs two calls to the service at `service`
/// with [`SELF_TEST_TRACEPARENT`] and a `tracestate`, then checks that each callback carried
/// exactly one valid `traceparent` with the same trace id, a new parent id, and the `tracestate`.
///
/// Returns a one-line summary, or what went wrong.
pub async fn self_test(service: SocketAddr) -> Result<String, String> {
    let callbacks = Callbacks::default();
    let harness = callbacks.serve().await.map_err(|e| format!("cannot start the callback endpoint: {e}"))?;
    let calls =
        [0, 1].map(|i| Call { url: format!("http://{harness}/callback/{i}"), arguments: serde_json::json!([]) });
    let response = reqwest::Client::new()
        .post(format!("http://{service}{TEST_PATH}"))
        .header("traceparent", SELF_TEST_TRACEPARENT)
        .header("tracestate", "harness=1")
        .json(&calls)
        .send()
        .await
        .map_err(|e| format!("the service did not answer: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("the service answered {}", response.status()));
    }
    let incoming = Traceparent::parse(SELF_TEST_TRACEPARENT).expect("a valid constant");
    let received = callbacks.received();
    if received.len() != calls.len() {
        return Err(format!("{} callbacks received, {} expected", received.len(), calls.len()));
    }
    for headers in &received {
        let values: Vec<_> = headers.get_all("traceparent").iter().collect();
        let [value] = values[..] else { return Err(format!("{} traceparent headers in a callback", values.len())) };
        let parent = value.to_str().ok().and_then(Traceparent::parse).ok_or("an invalid traceparent")?;
        if parent.trace_id != incoming.trace_id || parent.span_id == incoming.span_id {
            return Err(format!("traceparent {value:?}: wrong trace id, or the caller's parent id reused"));
        }
        if headers.get("tracestate").and_then(|v| v.to_str().ok()) != Some("harness=1") {
            return Err("the tracestate was not passed on".to_owned());
        }
    }
    Ok(format!("{} callbacks, each with trace id {} and a new parent id", received.len(), incoming.trace_id))
}
