//! Per-request cost of `OtelLayer` against the same bare axum router, in one binary.
//!
//! ```sh
//! cargo bench -p otel-tower --bench tower_overhead -- <scenario> <requests>
//! ```
//! Scenarios: `bare`, `bare-probe` (no `traceparent`: the baseline of `excluded-probe`), `noop` (axum with a layer that does nothing), `sampled` (always-on), `unsampled` (always-off), `unsampled-parent`
//! (parent-based, incoming flags 00), `excluded` (the URL is excluded), `excluded-probe`
//! (excluded, and no `traceparent`, as a health probe sends), `global` (sampled, the
//! layer built with `OtelLayer::new()` on the global provider and propagator), `global-metrics`
//! (as `global`, with a global meter provider too: what `otel_core::setup` installs),
//! `sampled-metrics` and `unsampled-metrics` (as `sampled` and `unsampled`, with the layer's
//! metrics recorded through `.meter_provider()` on an SDK meter provider whose only reader is a
//! periodic reader with a day's interval, which never exports during the run: the recording
//! path alone). The layer answers with axum's `Body` (`axum_body()`); add `-wrapped` to a
//! scenario's name for the default `OtelBody` instead. Every request is
//! `GET /users/7` with a `Host` and a sampled `traceparent` (flags 00 for `unsampled-parent`),
//! sent in process with `oneshot`, its body read to the end. The SDK exports through a batch
//! processor into an exporter that drops the spans.
//!
//! Prints heap allocations per request (counting allocator). For instructions, run it under
//! `valgrind --tool=callgrind` with 0 and with N requests: `(instr(N) - instr(0)) / N`.

// The counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system one.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{CountingAllocator, DroppingExporter};
use otel_tower::OtelLayer;

use tower::ServiceExt;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
/// No `traceparent` header: a health probe.
const NONE: &str = "";

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_sampler(sampler).with_batch_exporter(DroppingExporter::default()).build()
}

/// Metrics that are recorded, not exported during the run.
fn meter_provider() -> SdkMeterProvider {
    otel_core::testing::MetricRecorder::new().provider().clone()
}

fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// The router, the providers to flush and keep alive, and the `traceparent` to send.
type App = (Router, Option<SdkTracerProvider>, Option<SdkMeterProvider>, &'static str);

fn app(scenario: &str) -> App {
    // As the README recommends for axum: answering with axum's `Body` (`axum_body`), except
    // in the `-wrapped` scenarios (the default `OtelBody`, as for any other service).
    let wrapped = scenario.ends_with("-wrapped");
    let mut meters = None;
    let mut build = |sampler: Sampler, excluded: bool, metrics: bool| {
        let provider = provider(sampler);
        let mut config = HttpServerConfig::builder().environment(|_| None);
        if excluded {
            config = config.exclude_prefix("/users/");
        }
        let builder = OtelLayer::builder()
            .tracer_provider(&provider)
            .propagator(StrictTraceContextPropagator::new())
            .config(config);
        let builder = if metrics { builder.meter_provider(meters.insert(meter_provider())) } else { builder };
        let app = if wrapped { router().layer(builder.build()) } else { router().layer(builder.axum_body().build()) };
        (app, Some(provider))
    };
    let ((app, provider), traceparent) = match scenario.trim_end_matches("-wrapped") {
        "bare" => ((router(), None), SAMPLED),
        // The baseline of `excluded-probe`: the same request without a `traceparent`.
        "bare-probe" => ((router(), None), NONE),
        // What axum charges for any layer in this place.
        "noop" => ((router().layer(tower::layer::util::Identity::new()), None), SAMPLED),
        "noop-probe" => ((router().layer(tower::layer::util::Identity::new()), None), NONE),
        "sampled" => (build(Sampler::AlwaysOn, false, false), SAMPLED),
        "unsampled" => (build(Sampler::AlwaysOff, false, false), SAMPLED),
        "sampled-metrics" => (build(Sampler::AlwaysOn, false, true), SAMPLED),
        "unsampled-metrics" => (build(Sampler::AlwaysOff, false, true), SAMPLED),
        "unsampled-parent" => (build(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), false, false), UNSAMPLED),
        "excluded" => (build(Sampler::AlwaysOn, true, false), SAMPLED),
        "excluded-probe" => (build(Sampler::AlwaysOn, true, false), NONE),
        "global" => {
            let provider = provider(Sampler::AlwaysOn);
            opentelemetry::global::set_tracer_provider(provider.clone());
            opentelemetry::global::set_text_map_propagator(StrictTraceContextPropagator::new());
            ((router().layer(OtelLayer::new()), Some(provider)), SAMPLED)
        }
        "global-metrics" => {
            let provider = provider(Sampler::AlwaysOn);
            opentelemetry::global::set_tracer_provider(provider.clone());
            opentelemetry::global::set_meter_provider(meters.insert(meter_provider()).clone());
            opentelemetry::global::set_text_map_propagator(StrictTraceContextPropagator::new());
            ((router().layer(OtelLayer::new()), Some(provider)), SAMPLED)
        }
        other => panic!("unknown scenario {other:?}"),
    };
    // As `axum::serve` does: handlers become routes once, not per request.
    (app.with_state(()), provider, meters, traceparent)
}

async fn one(app: &Router, traceparent: &'static str) {
    let mut request = Request::get("/users/7").header("host", "api.example.com");
    if !traceparent.is_empty() {
        request = request.header("traceparent", traceparent);
    }
    let request = request.body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap();
    std::hint::black_box(body);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let scenario = args.first().map_or("sampled", String::as_str).to_owned();
    let requests: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (app, provider, _meters, traceparent) = app(&scenario);
    runtime.block_on(async {
        // Warm-up: lazy initialization is not a per-request cost.
        for _ in 0..1000 {
            one(&app, traceparent).await;
        }
        if let Some(provider) = &provider {
            let _ = provider.force_flush();
        }
        let before = CountingAllocator::allocations();
        for _ in 0..requests {
            one(&app, traceparent).await;
        }
        if let Some(provider) = &provider {
            let _ = provider.force_flush();
        }
        let allocations = CountingAllocator::allocations() - before;
        if requests > 0 {
            println!("{scenario}: {:.2} allocations per request", allocations as f64 / requests as f64);
        }
    });
}
