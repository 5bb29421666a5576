//! What the middleware adds to a request, against bare actix-web in the same binary.
//!
//! `GET /users/{id}` runs in process (`actix_web::test::init_service` + `call_service`, body
//! read to the end) with the SDK, a batch span processor and an exporter that drops spans, and
//! an incoming `traceparent`. Modes:
//!
//! - `bare`: no middleware (`bare_plain`: without `traceparent`, the baseline of `excluded_plain`);
//! - `sampled`: always-on sampler, sampled `traceparent`;
//! - `unsampled`: always-off sampler, unsampled `traceparent` (the caller did not sample);
//! - `dropped`: always-off sampler, sampled `traceparent` (this service drops what its caller
//!   sampled: the request attributes are computed for the sampler, then dropped);
//! - `excluded`: an excluded URL (the incoming context is still made current);
//! - `excluded_plain`: an excluded URL requested without `traceparent` (a health probe);
//! - `sampled-metrics`, `unsampled-metrics`: as `sampled` and `unsampled`, with the middleware's
//!   metrics recorded through `.meter_provider()` on an SDK meter provider whose only reader is a
//!   periodic reader with a day's interval, which never exports during the run (the recording
//!   path alone).
//!
//! `overhead <mode> <n>` runs `n` requests (run it under `valgrind --tool=callgrind` with 0 and
//! 10000, see the README); `overhead` alone (or `cargo bench`) prints heap allocations per
//! request for every mode, counted by the global allocator below.

use actix_web::body::to_bytes;
use actix_web::dev::Service;
use actix_web::{App, test, web};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use otel_actix::OtelMiddleware;
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{CountingAllocator, DroppingExporter};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const MODES: [&str; 9] = [
    "bare",
    "sampled",
    "unsampled",
    "sampled-metrics",
    "unsampled-metrics",
    "dropped",
    "excluded",
    "bare_plain",
    "excluded_plain",
];

fn provider(sampler: Sampler) -> SdkTracerProvider {
    // A queue large enough that no span is dropped for a full queue (that would flatter us).
    let config = BatchConfigBuilder::default().with_max_queue_size(1 << 16).build();
    let processor = BatchSpanProcessor::builder(DroppingExporter::default()).with_batch_config(config).build();
    SdkTracerProvider::builder().with_sampler(sampler).with_span_processor(processor).build()
}

/// Metrics that are recorded, not exported during the run.
fn meter_provider() -> SdkMeterProvider {
    otel_core::testing::MetricRecorder::new().provider().clone()
}

async fn user(id: web::Path<u32>) -> String {
    format!("user {id}")
}

/// Runs `$n` requests on `$service`; gives the allocations they made. (A macro: the request
/// type of actix-web's test service is not nameable without depending on actix-http.)
macro_rules! run {
    ($service:expr, $n:expr, $flags:expr) => {{
        let service = &$service;
        let traceparent = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{}", $flags);
        let peer: std::net::SocketAddr = "10.0.0.7:51234".parse().unwrap();
        let one = || async {
            let mut request = test::TestRequest::get().uri("/users/42").insert_header(("host", "api.example.com"));
            if !$flags.is_empty() {
                request = request.insert_header(("traceparent", traceparent.as_str()));
            }
            let request = request.peer_addr(peer).to_request();
            let response = service.call(request).await.unwrap_or_else(|_| unreachable!("the handler cannot fail"));
            let body = to_bytes(response.into_body()).await.unwrap_or_else(|_| unreachable!("a string body"));
            std::hint::black_box(body);
        };
        // Warm up: first-use work (thread-locals, route interning, lazy statics) is not per request.
        for _ in 0..16 {
            one().await;
        }
        let before = CountingAllocator::allocations();
        for _ in 0..$n {
            one().await;
        }
        CountingAllocator::allocations() - before
    }};
}

/// Runs `mode` for `n` requests; gives the allocations per request.
async fn mode(mode: &str, n: u64) -> f64 {
    let (sampler, flags, excluded) = match mode {
        "sampled" | "sampled-metrics" | "bare" => (Sampler::AlwaysOn, "01", false),
        "bare_plain" => (Sampler::AlwaysOn, "", false),
        "unsampled" | "unsampled-metrics" => (Sampler::AlwaysOff, "00", false),
        "dropped" => (Sampler::AlwaysOff, "01", false),
        "excluded" => (Sampler::AlwaysOn, "01", true),
        "excluded_plain" => (Sampler::AlwaysOn, "", true),
        other => panic!("unknown mode {other:?}; one of {MODES:?}"),
    };
    let provider = provider(sampler);
    let meters = mode.ends_with("-metrics").then(meter_provider);
    let allocations = if mode.starts_with("bare") {
        let service = test::init_service(App::new().route("/users/{id}", web::get().to(user))).await;
        run!(service, n, flags)
    } else {
        let mut config = HttpServerConfig::builder().environment(|_| None);
        if excluded {
            config = config.exclude_prefix("/users/");
        }
        let middleware = OtelMiddleware::builder()
            .tracer_provider(&provider)
            .propagator(StrictTraceContextPropagator::new())
            .config(config);
        let middleware = match &meters {
            Some(meters) => middleware.meter_provider(meters),
            None => middleware,
        }
        .build();
        let service = test::init_service(App::new().wrap(middleware).route("/users/{id}", web::get().to(user))).await;
        run!(service, n, flags)
    };
    let _ = provider.shutdown();
    if let Some(meters) = meters {
        let _ = meters.shutdown();
    }
    allocations as f64 / n.max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let system = actix_web::rt::System::new();
    match args.as_slice() {
        [name, n] => {
            let n: u64 = n.parse().expect("a request count");
            system.block_on(mode(name, n));
        }
        _ => {
            let n = 20_000;
            let bare = system.block_on(mode("bare", n));
            let bare_plain = system.block_on(mode("bare_plain", n));
            println!("allocations per request ({n} requests), minus bare actix-web ({bare:.2}):");
            for name in MODES.iter().filter(|m| !m.starts_with("bare")) {
                let baseline = if name.ends_with("_plain") { bare_plain } else { bare };
                let ours = system.block_on(mode(name, n));
                println!("  {name:<17} {:+.2}", ours - baseline);
            }
        }
    }
}
