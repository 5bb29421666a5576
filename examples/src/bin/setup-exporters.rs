//! The one setup call with each exporter, chosen by the first argument.
//!
//! ```sh
//! cargo run --bin setup-exporters              # waterfall: the default with nothing configured
//! cargo run --bin setup-exporters -- console   # the same waterfall, asked for explicitly
//! cargo run --bin setup-exporters -- otlp      # OTLP to a collector (see below)
//! cargo run --bin setup-exporters -- none      # spans are created and dropped
//! ```
//!
//! OTLP reads the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`, or `:4317` for gRPC) and `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`http/protobuf` by default, `grpc`, `http/json`). For example, with Jaeger running:
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc cargo run
//! --bin setup-exporters -- otlp`. With no collector the export fails, and the program still exits
//! promptly: shutting down waits at most the export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, which
//! this example sets to 2 s unless you do; the library's default is 10 s).

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::trace::{Span, TraceContextExt, Tracer};
use otel_core::setup::{Setup, TracesExporter};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let choice = std::env::args().nth(1).unwrap_or_else(|| "waterfall".to_owned());
    let setup = Setup::new().service_name("setup-exporters").service_version(env!("CARGO_PKG_VERSION"));
    let setup = match choice.as_str() {
        // The program's default: the environment decides, and with nothing set that is the waterfall.
        "waterfall" => setup.default_exporter(TracesExporter::Waterfall),
        // From code; `OTEL_TRACES_EXPORTER=console` selects the same from the environment.
        "console" => setup.exporter(TracesExporter::Waterfall),
        // From code; `OTEL_TRACES_EXPORTER=otlp` (or just setting an endpoint) does the same.
        "otlp" => setup.exporter(TracesExporter::Otlp).environment(|name| {
            let value = std::env::var(name).ok();
            value.or_else(|| (name == "OTEL_EXPORTER_OTLP_TIMEOUT").then(|| "2000".to_owned()))
        }),
        // Spans are still created (and trace context still propagates), then dropped.
        "none" => setup.exporter(TracesExporter::None),
        other => return Err(format!("unknown exporter {other:?}: waterfall, console, otlp or none").into()),
    };
    let guard = setup.install();

    // Some work to export: a root span with two children, one of them with an event.
    let tracer = global::tracer("setup-exporters");
    tracer.in_span("checkout", |cx| {
        println!("trace id {}", cx.span().span_context().trace_id());
        tracer.in_span("load cart", |_| std::thread::sleep(Duration::from_millis(5)));
        let mut charge = tracer.start("charge card");
        charge.add_event("card accepted", vec![KeyValue::new("app.attempt", 1)]);
        std::thread::sleep(Duration::from_millis(10));
        charge.end();
    });

    // Shutting down flushes, bounded by the export timeout even when the collector is unreachable.
    let started = Instant::now();
    let limit = guard.shutdown_timeout();
    let result = guard.shutdown();
    println!("{choice}: shut down in {:?} (at most {limit:?}): {result:?}", started.elapsed());
    if choice == "otlp" {
        println!("the spans went to the collector, if one listens (Jaeger's UI: http://localhost:16686)");
    }
    Ok(())
}
