//! The rate-limiting sampler: at most N new traces per second, whatever the traffic, set from
//! code or from `OTEL_TRACES_SAMPLER=parentbased_rate_limiting` + `OTEL_TRACES_SAMPLER_ARG=N`.
//!
//! ```sh
//! cargo run --bin rate-limiting
//! OTEL_TRACES_SAMPLER_ARG=100 cargo run --bin rate-limiting   # the environment part, 100 per second
//! ```

use opentelemetry::Context;
use opentelemetry::trace::{Span, TracerProvider};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_core::setup::sampling::RateLimitingSampler;
use otel_core::setup::{Setup, TracesExporter};
use std::time::Duration;

const TRACES: usize = 1000;

/// Starts `TRACES` new traces as fast as possible (a traffic spike) and counts the sampled ones.
fn sampled_of_a_burst(provider: &SdkTracerProvider, parent: &Context) -> usize {
    let tracer = provider.tracer("rate-limiting");
    (0..TRACES).filter(|_| tracer.start_with_context("GET /work", parent).span_context().is_sampled()).count()
}

fn main() {
    // 1. From code. Under `ParentBased`, only new traces spend tokens; a trace whose caller
    //    sampled it is always continued, so traces are never cut in the middle.
    let sampler = Sampler::ParentBased(Box::new(RateLimitingSampler::new(10.0)));
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build(); // no exporter: count only
    let no_parent = Context::new();
    println!("from code, 10 per second:");
    println!(
        "  a burst: {} of {TRACES} new traces sampled (a second's worth)",
        sampled_of_a_burst(&provider, &no_parent)
    );
    std::thread::sleep(Duration::from_millis(500));
    println!("  500 ms later: {} of {TRACES} (the bucket refilled by half)", sampled_of_a_burst(&provider, &no_parent));
    let sampled_parent = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    println!(
        "  with a sampled caller: {} of {TRACES} (always continued)",
        sampled_of_a_burst(&provider, &sampled_parent)
    );

    // 2. From the environment, through the setup (here the real environment, with defaults for
    //    the two variables when they are not set).
    let env = |name: &str| {
        let default = match name {
            "OTEL_TRACES_SAMPLER" => Some("parentbased_rate_limiting"),
            "OTEL_TRACES_SAMPLER_ARG" => Some("25"),
            _ => None,
        };
        std::env::var(name).ok().or(default.map(str::to_owned))
    };
    let (sampler, rate) =
        (env("OTEL_TRACES_SAMPLER").unwrap_or_default(), env("OTEL_TRACES_SAMPLER_ARG").unwrap_or_default());
    let Some(provider) = Setup::new().exporter(TracesExporter::None).environment(env).build_provider() else {
        return println!("OTEL_SDK_DISABLED is true: no sampler to show");
    };
    println!("from OTEL_TRACES_SAMPLER={sampler} OTEL_TRACES_SAMPLER_ARG={rate}:");
    println!("  a burst: {} of {TRACES} new traces sampled", sampled_of_a_burst(&provider, &no_parent));
}
