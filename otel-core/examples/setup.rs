//! One call sets up tracing from the `OTEL_*` variables: with nothing set, the trace is printed
//! as a waterfall on the terminal; with `OTEL_EXPORTER_OTLP_ENDPOINT` set, it goes to OTLP.
//!
//! `cargo run -p otel-core --example setup --features setup`

use opentelemetry::global;
use opentelemetry::trace::Tracer;

fn main() {
    let guard = otel_core::setup::init();
    global::tracer("example").in_span("checkout", |_| {
        global::tracer("example").in_span("load cart", |_| std::thread::sleep(std::time::Duration::from_millis(20)));
    });
    drop(guard); // flushes: the waterfall (or the OTLP export) happens here at the latest
}
