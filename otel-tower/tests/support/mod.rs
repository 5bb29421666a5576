//! What the integration tests share: real servers on 127.0.0.1, a hyper client with and without
//! the client layer, and waiting for spans that end after the response reached the client.

#![allow(dead_code, unreachable_pub)]

pub mod echo;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_sdk::trace::SdkTracer;
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{FinishedSpans, SpanRecorder};
use otel_tower::client::DefaultErrorType;
use otel_tower::{OtelClientLayer, OtelClientLayerBuilder, OtelClientService, OtelLayer, OtelLayerBuilder};
use std::net::SocketAddr;
use std::time::Duration;
use tower::{Layer, ServiceExt};

pub const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
pub const PARENT_ID: &str = "b7ad6b7169203331";
pub const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
pub const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

pub type RawClient = Client<HttpConnector, Full<Bytes>>;
pub type TracedClient = OtelClientService<RawClient, SdkTracer, DefaultErrorType>;

/// A server layer builder on the recorder's provider, the strict propagator, and an empty
/// environment (tests never read the developer's variables).
pub fn server_layer(recorder: &SpanRecorder) -> OtelLayerBuilder<SdkTracer> {
    OtelLayer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
}

/// Serves `app` on 127.0.0.1, port 0, with `ConnectInfo`; returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    addr
}

pub fn raw_client() -> RawClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A client layer builder on the recorder's provider, the strict propagator, and an empty
/// environment.
pub fn client_layer(recorder: &SpanRecorder) -> OtelClientLayerBuilder<SdkTracer> {
    OtelClientLayer::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(otel_core::config::HttpClientConfig::builder().environment(|_| None))
}

/// A hyper client behind the client layer, on the recorder's provider.
pub fn traced_client(recorder: &SpanRecorder) -> TracedClient {
    client_layer(recorder).build().layer(raw_client())
}

/// A GET request to `url` with `headers`.
pub fn get_request(url: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::get(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::default()).unwrap()
}

/// Sends `request` with `client` and reads the whole response.
pub async fn send<S, B>(client: S, request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String)
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = client.oneshot(request).await.expect("a response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

/// Waits (at most ten seconds) until `count` spans finished: a server span ends once the
/// server is done with the response body, which can be just after the client read it.
pub async fn wait_for(recorder: &SpanRecorder, count: usize) -> FinishedSpans {
    for _ in 0..1000 {
        let spans = recorder.spans();
        if spans.len() >= count {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spans = recorder.spans();
    panic!("expected {count} spans:\n{}", spans.describe());
}

/// Gives the server time to finish anything in flight, then returns what finished. Used only
/// to check that nothing was exported.
pub async fn settle(recorder: &SpanRecorder) -> FinishedSpans {
    tokio::time::sleep(Duration::from_millis(100)).await;
    recorder.spans()
}

/// `$app` behind the layer `$builder` builds, answering with its own body type or, when
/// `$axum_body`, with axum's (`axum_body()`): the tests that involve the response body run both.
#[allow(unused_macros)]
macro_rules! layered {
    ($app:expr, $builder:expr, $axum_body:expr) => {
        if $axum_body { $app.layer($builder.axum_body().build()) } else { $app.layer($builder.build()) }
    };
}
#[allow(unused_imports)]
pub(crate) use layered;
