//! The demo: services in one process, one distributed trace per request, on the terminal, and a
//! summary of their metrics at the end.
//!
//! ```text
//! cargo run --bin demo               # fires a few requests, prints their waterfalls, exits
//! cargo run --bin demo -- --services # PostgreSQL and a Redis cache too
//! cargo run --features kafka --bin demo -- --services # and a Kafka topic to an indexer
//! cargo run --bin demo -- --serve    # keeps serving on 127.0.0.1:8080 (gateway), 8081, 8082
//! ```
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set (see `deploy/`), the traces go to a collector instead.

use opentelemetry::global;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::setup::waterfall::Waterfall;
use otel_core::setup::{Setup, TracesExporter};
use otel_examples::demo::{Backends, Demo, KAFKA, MetricsSummary, Ports, Providers};
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve = std::env::args().any(|arg| arg == "--serve");
    let services = std::env::args().any(|arg| arg == "--services");

    // Log lines carry the trace and span ids of the request they belong to.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let logs =
        otel_core::setup::logs::text_layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry().with(filter).with(logs).init();

    // W3C trace context (strictly) and baggage on every hop.
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(StrictTraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));

    // One provider per service (its own service.name), all printing to one waterfall; with
    // OTEL_EXPORTER_OTLP_ENDPOINT set, Setup exports over OTLP instead.
    let waterfall = Waterfall::new();
    let provider = |name: &str| {
        Setup::new()
            .service_name(name)
            .default_exporter(TracesExporter::Waterfall)
            .waterfall(waterfall.clone())
            .build_provider()
            .unwrap_or_else(|| SdkTracerProvider::builder().build()) // OTEL_SDK_DISABLED=true
    };
    let providers = Providers {
        gateway: provider("api-gateway"),
        documents: provider("document-service"),
        ml: provider("ml-service"),
        indexer: provider("indexer"),
    };
    // Every adapter records its metrics with the global meter provider, read back at the end.
    let metrics = MetricsSummary::new();
    otel_core::global::set_meter_provider(metrics.provider().clone());

    if services && !KAFKA {
        eprintln!(
            "--services: without Kafka (build with `--features kafka`: librdkafka needs cmake, libcurl and zlib headers)\n"
        );
    }
    let backends = if services {
        Backends::services().await.unwrap_or_else(|missing| {
            eprintln!("--services: cannot reach {}.", missing.join(", "));
            eprintln!("Start them with `scripts/services.sh start`; running the embedded demo instead.\n");
            Backends::embedded()
        })
    } else {
        Backends::embedded()
    };
    let database = if backends.redis.is_some() { "PostgreSQL" } else { "SQLite in memory" };
    let demo = Demo::start(&providers, if serve { Ports::FIXED } else { Ports::ANY }, backends).await?;
    eprintln!("api-gateway      http://{}  (axum + otel-tower)", demo.gateway);
    eprintln!("document-service http://{}  (actix-web + otel-actix; otel-sqlx on {database})", demo.documents);
    eprintln!("ml-service       http://{}  (axum + otel-tower)", demo.ml);
    if demo.services {
        eprintln!("                 otel-redis caches lookups");
    }
    if KAFKA && demo.services {
        eprintln!("indexer          (otel-kafka consumer of the stored documents)");
    }

    let outcomes = demo
        .run_scenario(|outcome| {
            // Let the spans end and reach the waterfall, then print the finished trace.
            std::thread::sleep(Duration::from_millis(50));
            providers.flush();
            let _ = waterfall.flush(Duration::from_secs(2));
            let note = if outcome.request.contains("/health") { "  (excluded by configuration: no trace)" } else { "" };
            // The three uploads sent at once print together, after the first.
            eprintln!("\n^ {} -> {}{note}\n", outcome.request, outcome.status);
        })
        .await;

    if serve {
        eprintln!("\nserving; try:");
        eprintln!(
            "  curl -i -H 'x-user-tier: gold' -H 'content-type: application/json' -d '{{\"name\":\"notes.txt\"}}' http://{}/documents",
            demo.gateway
        );
        eprintln!("stop with Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }

    providers.flush();
    let _ = waterfall.flush_all(Duration::from_secs(2));
    for provider in providers.all() {
        let _ = provider.shutdown();
    }
    demo.stop();
    let failed = outcomes.iter().filter(|o| o.status >= 500).count();
    eprintln!("{} requests, {failed} failed on purpose (the corrupt scan)\n", outcomes.len());
    metrics.collect();
    eprint!("{}", metrics.text());
    Ok(())
}
