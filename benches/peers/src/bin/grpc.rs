//! tonic: the same unary gRPC call (`helloworld.Greeter/SayHello`, with what a tonic client
//! sends: `content-type: application/grpc`, `te: trailers`, its `user-agent`, the authority in
//! the URI, a sampled `traceparent`) through a tonic service in process, response read to its
//! trailers. The service is the gRPC example's (`examples/src/greeter.rs`). See `src/lib.rs` for
//! the commands.
//!
//! Cases: `bare`; `ours-{sampled,unsampled,unsampled00}` (otel-tower's `OtelLayer`, gRPC mode, the
//! default); `ours-http-{sampled,unsampled}` (the same layer with `grpc(false)`: the same request
//! as a plain HTTP request, the figure the gRPC mode is held to).

use bytes::Bytes;
use greeter::{Greeter, SAY_HELLO};
use http::Request;
use http_body_util::{BodyExt, Full};
use opentelemetry_sdk::trace::SdkTracerProvider;
use peers_bench::{Command, drive, sdk33, traceparent};
use tower::{Layer, Service, ServiceExt};

/// The gRPC example's service: the same source file, not the examples crate (whose features
/// would change the other cases' frameworks).
#[path = "../../../../examples/src/greeter.rs"]
#[allow(dead_code, missing_docs)]
mod greeter;

/// The layer of an instrumented case, and its provider.
fn layer(case: &str) -> (otel_tower::OtelLayer<opentelemetry_sdk::trace::SdkTracer>, SdkTracerProvider) {
    let (kind, mode) = case.rsplit_once('-').unwrap_or_else(|| panic!("unknown case {case:?}"));
    assert!(matches!(mode, "sampled" | "unsampled" | "unsampled00"), "unknown mode {mode:?}");
    let provider = sdk33::provider(mode == "sampled");
    let grpc = match kind {
        "ours" => true,
        "ours-http" => false,
        other => panic!("unknown case {other:?}"),
    };
    let layer = otel_tower::OtelLayer::builder()
        .tracer_provider(&provider)
        .propagator(otel_core::propagation::StrictTraceContextPropagator::new())
        .config(otel_core::config::HttpServerConfig::builder().environment(|_| None))
        .grpc(grpc)
        .build();
    (layer, provider)
}

/// `HelloRequest { name: "world" }` in a gRPC frame: uncompressed, 7 bytes.
const MESSAGE: &[u8] = b"\x00\x00\x00\x00\x07\x0a\x05world";

async fn one<S, B>(service: &S, traceparent: &str)
where
    S: Service<Request<tonic::body::Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::post(format!("http://api.example.com:50051{SAY_HELLO}"))
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "tonic/0.14.9")
        .header("traceparent", traceparent)
        .body(tonic::body::Body::new(Full::new(Bytes::from_static(MESSAGE))))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success());
    let body = response.into_body().collect().await.unwrap();
    assert_eq!(body.trailers().and_then(|t| t.get("grpc-status")).map(|s| s.as_bytes()), Some(&b"0"[..]));
    std::hint::black_box(body);
}

fn main() {
    let command = Command::from_args().expect("usage: grpc <case> <requests> | grpc time <case> <requests> <passes>");
    if command.case() == "bare" {
        return run(&command, Greeter, None);
    }
    let (layer, provider) = layer(command.case());
    run(&command, layer.layer(Greeter), Some(provider));
}

fn run<S, B>(command: &Command, service: S, provider: Option<SdkTracerProvider>)
where
    S: Service<Request<tonic::body::Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    drive(
        command,
        |n| {
            runtime.block_on(async {
                for _ in 0..n {
                    one(&service, traceparent(command.case())).await;
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
