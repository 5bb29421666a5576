//! What the middleware adds to a request: heap allocations and (under callgrind) instructions,
//! against plain reqwest, over one keep-alive loopback connection, in the same run.
//!
//! The server runs in a child process (this binary with `server`), so that neither the counting
//! allocator nor callgrind (which does not follow children by default) sees its work: every
//! number is the client's. The client runs on a current-thread tokio runtime; its spans go to
//! the SDK with a batch processor and an exporter that drops them. The parent is a remote
//! context, as a server span's would be: sampled (`-01`) with the always-on sampler, or
//! unsampled (`-00`) with the always-off sampler. The `-metrics` variants add the middleware's
//! metrics through `.meter_provider()` on an SDK meter provider whose only reader is a
//! periodic reader with a day's interval, which never exports during the run: what they measure
//! is the recording path.
//!
//! - `cargo bench -p otel-reqwest --bench reqwest_overhead`: allocations per request of every variant.
//! - `overhead run <variant> <requests>`: one variant, for `benches/callgrind.sh`, which runs
//!   each variant with 0 and N requests and reports (instructions(N) - instructions(0)) / N.

use opentelemetry::Context;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::BaggagePropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use otel_core::config::HttpClientConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::remote_context;
use otel_core::testing::{CountingAllocator, DroppingExporter};
use otel_reqwest::OtelMiddleware;
use reqwest_middleware::ClientBuilder;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const WARM_UP: usize = 200;
const SAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const UNSAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

/// The client configurations compared.
#[derive(Clone, Copy, Debug)]
enum Variant {
    /// `reqwest::Client` alone: the baseline.
    Bare,
    /// `reqwest_middleware::ClientWithMiddleware` with no middleware, for reference.
    EmptyStack,
    /// `reqwest_middleware` with one middleware that does nothing: what any middleware costs.
    PassThrough,
    /// The middleware, a sampled parent, the always-on sampler.
    Sampled,
    /// The middleware, an unsampled parent, the always-off sampler.
    Unsampled,
    /// The middleware, a sampled parent, the always-off sampler: the sampler is given the
    /// attributes, then drops the span.
    DroppedBySampler,
    /// As `Unsampled`, with the trace-context and baggage composite used through the trait.
    UnsampledComposite,
    /// As `Sampled`, with the middleware's metrics recorded.
    SampledMetrics,
    /// As `Unsampled`, with the middleware's metrics recorded.
    UnsampledMetrics,
}

const VARIANTS: [(&str, Variant); 9] = [
    ("bare", Variant::Bare),
    ("empty-stack", Variant::EmptyStack),
    ("pass-through", Variant::PassThrough),
    ("sampled", Variant::Sampled),
    ("unsampled", Variant::Unsampled),
    ("dropped-by-sampler", Variant::DroppedBySampler),
    ("unsampled-composite", Variant::UnsampledComposite),
    ("sampled-metrics", Variant::SampledMetrics),
    ("unsampled-metrics", Variant::UnsampledMetrics),
];

/// A middleware that only calls the next one.
struct PassThrough;

impl reqwest_middleware::Middleware for PassThrough {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        req: reqwest::Request,
        extensions: &'life1 mut http::Extensions,
        next: reqwest_middleware::Next<'life2>,
    ) -> std::pin::Pin<Box<dyn Future<Output = reqwest_middleware::Result<reqwest::Response>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { next.run(req, extensions).await })
    }
}

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(DroppingExporter::default()).build())
        .build()
}

/// Metrics that are recorded, not exported during the run.
fn meter_provider() -> SdkMeterProvider {
    otel_core::testing::MetricRecorder::new().provider().clone()
}

/// The providers a variant shuts down after its run.
type Providers = Option<(SdkTracerProvider, Option<SdkMeterProvider>)>;

enum Client {
    Bare(reqwest::Client),
    Middleware(reqwest_middleware::ClientWithMiddleware),
}

impl Client {
    async fn get(&self, url: &str) {
        let response = match self {
            Self::Bare(client) => client.get(url).send().await.unwrap(),
            Self::Middleware(client) => client.get(url).send().await.unwrap(),
        };
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"ok");
    }
}

/// A client for `variant`, the context to call it in, and the providers to shut down.
fn setup(variant: Variant) -> (Client, Context, Providers) {
    let reqwest = reqwest::Client::builder().no_proxy().build().unwrap();
    let instrumented = |sampler: Sampler, parent: &str, composite: bool, metrics: bool| {
        let provider = provider(sampler);
        let meters = metrics.then(meter_provider);
        let builder = OtelMiddleware::builder().tracer_provider(&provider);
        // The strict propagator given in code, as the server benchmarks do; `composite` is what
        // otel-core's setup installs globally (trace context and baggage, used through the trait).
        let builder = if composite {
            builder.propagator(TextMapCompositePropagator::new(vec![
                Box::new(StrictTraceContextPropagator::new()),
                Box::new(BaggagePropagator::new()),
            ]))
        } else {
            builder.propagator(StrictTraceContextPropagator::new())
        };
        let builder = match &meters {
            Some(meters) => builder.meter_provider(meters),
            None => builder,
        };
        let middleware = builder.config(HttpClientConfig::builder().environment(|_| None)).build();
        let client = ClientBuilder::new(reqwest.clone()).with(middleware).build();
        (Client::Middleware(client), remote_context(parent), Some((provider, meters)))
    };
    match variant {
        Variant::Bare => (Client::Bare(reqwest), remote_context(SAMPLED_PARENT), None),
        Variant::EmptyStack => {
            (Client::Middleware(ClientBuilder::new(reqwest).build()), remote_context(SAMPLED_PARENT), None)
        }
        Variant::PassThrough => (
            Client::Middleware(ClientBuilder::new(reqwest).with(PassThrough).build()),
            remote_context(SAMPLED_PARENT),
            None,
        ),
        Variant::Sampled => instrumented(Sampler::AlwaysOn, SAMPLED_PARENT, false, false),
        Variant::Unsampled => instrumented(Sampler::AlwaysOff, UNSAMPLED_PARENT, false, false),
        Variant::DroppedBySampler => instrumented(Sampler::AlwaysOff, SAMPLED_PARENT, false, false),
        Variant::UnsampledComposite => instrumented(Sampler::AlwaysOff, UNSAMPLED_PARENT, true, false),
        Variant::SampledMetrics => instrumented(Sampler::AlwaysOn, SAMPLED_PARENT, false, true),
        Variant::UnsampledMetrics => instrumented(Sampler::AlwaysOff, UNSAMPLED_PARENT, false, true),
    }
}

/// Runs `requests` requests (after the warm-up); returns the allocations per request.
fn run(variant: Variant, url: &str, requests: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (client, parent, providers) = setup(variant);
    let _parent = parent.attach();
    let allocations = runtime.block_on(async {
        for _ in 0..WARM_UP {
            client.get(url).await;
        }
        let before = CountingAllocator::allocations();
        for _ in 0..requests {
            client.get(url).await;
        }
        CountingAllocator::allocations() - before
    });
    if let Some((provider, meters)) = providers {
        provider.shutdown().unwrap();
        if let Some(meters) = meters {
            meters.shutdown().unwrap();
        }
    }
    if requests == 0 { 0.0 } else { allocations as f64 / requests as f64 }
}

/// Starts this binary as the server; returns the child and the URL to call.
fn start_server() -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("server")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, format!("http://{}/users/42", line.trim()))
}

fn serve() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = axum::Router::new().fallback(|| async { "ok" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["server"] => serve(),
        ["run", name, requests] => {
            let variant = VARIANTS.iter().find(|(n, _)| n == name).expect("a variant name").1;
            let (mut server, url) = start_server();
            let allocations = run(variant, &url, requests.parse().expect("a number of requests"));
            println!("{name}: {allocations:.2} allocations per request");
            let _ = server.kill();
            let _ = server.wait();
        }
        _ => {
            // `cargo bench` (which passes `--bench`): every variant, allocations per request.
            let requests = 10_000;
            let (mut server, url) = start_server();
            let bare = run(Variant::Bare, &url, requests);
            let pass_through = run(Variant::PassThrough, &url, requests);
            println!("{:<20} {:>12} {:>10} {:>18}", "variant", "allocations", "vs bare", "vs pass-through");
            for (name, variant) in VARIANTS {
                let allocations = run(variant, &url, requests);
                println!(
                    "{name:<20} {allocations:>12.2} {:>10.2} {:>18.2}",
                    allocations - bare,
                    allocations - pass_through
                );
            }
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
