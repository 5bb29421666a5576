//! Added cost per command: bare connection vs `TracedConnection`, same process, same Redis.
//!
//! `cargo bench -p otel-redis --bench redis_overhead -- <bare|sampled|unsampled> <commands>` prints the
//! heap allocations per command; `otel-redis/benches/measure.sh` runs every mode under callgrind
//! (instructions are counted for N commands and for 0, and the difference divided by N) and
//! prints the table the README shows. The SDK runs with a batch processor and an exporter that
//! drops spans; commands run under an incoming (remote) parent, sampled or not. A mode with
//! `-keys` (`bare-keys`, `sampled-keys`) reads a new key each command, so that no query text
//! repeats (the per-thread text memo never hits). A mode with `-metrics` (`sampled-metrics`,
//! `unsampled-metrics`) also records `db.client.operation.duration` (`meter_provider`), into an
//! SDK meter provider whose reader exports nothing during the run (a periodic reader with an
//! in-memory exporter and an interval longer than any run): what is measured is the recording
//! path.

use opentelemetry::Context;
use opentelemetry::trace::FutureExt;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use otel_core::testing::MetricRecorder;
use otel_core::testing::remote_context;
use otel_core::testing::{CountingAllocator, DroppingExporter};
use otel_redis::TracedConnection;
use redis::aio::ConnectionLike;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

static EXPORTER: std::sync::LazyLock<DroppingExporter> = std::sync::LazyLock::new(DroppingExporter::default);

/// `commands` GETs of one key, or of a new key each (`distinct`: no text repeats), built before
/// the first is sent (the same work for every mode, so it cancels out of the differences).
async fn run<C: ConnectionLike + Send>(con: &mut C, commands: usize, distinct: bool, parent: Context) {
    let gets: Vec<redis::Cmd> = (0..if distinct { commands } else { 1 })
        .map(|i| redis::cmd("GET").arg(format!("otel-redis:bench:key:{i}")).clone())
        .collect();
    async {
        for i in 0..commands {
            let get = &gets[if distinct { i } else { 0 }];
            let _: Option<String> = get.query_async(con).await.expect("GET");
        }
    }
    .with_context(parent)
    .await;
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = args.next().unwrap_or_else(|| "sampled".into());
    let commands: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_span_processor(BatchSpanProcessor::builder(EXPORTER.clone()).build())
        .build();
    // `-metrics`: the metric too (`sampled-metrics`, `unsampled-metrics`).
    let (mode, metrics) = match mode.strip_suffix("-metrics") {
        Some(mode) => (mode.to_owned(), true),
        None => (mode, false),
    };
    // `-keys`: a new key per command (`bare-keys`, `sampled-keys`).
    let (mode, distinct) = match mode.strip_suffix("-keys") {
        Some(mode) => (mode.to_owned(), true),
        None => (mode, false),
    };
    let meters = metrics.then(otel_core::testing::MetricRecorder::new);
    let flags = if mode == "unsampled" { "00" } else { "01" };
    let parent = remote_context(&format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"));

    let allocations = runtime.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let inner = client.get_multiplexed_async_connection().await.expect("Redis on REDIS_URL");
        // Warm up (connection buffers, lazy statics), then count.
        let mut bare = inner.clone();
        let mut builder =
            TracedConnection::builder().tracer_provider(&provider).connection_info(client.get_connection_info());
        if let Some(meter_provider) = meters.as_ref().map(MetricRecorder::provider) {
            builder = builder.meter_provider(meter_provider);
        }
        let mut traced = builder.build(inner);
        let before;
        if mode == "bare" {
            run(&mut bare, 100, distinct, parent.clone()).await;
            before = CountingAllocator::allocations();
            run(&mut bare, commands, distinct, parent).await;
        } else {
            run(&mut traced, 100, distinct, parent.clone()).await;
            before = CountingAllocator::allocations();
            run(&mut traced, commands, distinct, parent).await;
        }
        CountingAllocator::allocations() - before
    });
    provider.force_flush().unwrap();
    let exported = EXPORTER.exported();
    let recorded = meters.map_or(0, |meters| meters.histogram_count("db.client.operation.duration"));
    println!(
        "mode={mode} distinct_keys={distinct} metrics={metrics} commands={commands} allocations/command={:.2} \
         exported_spans={exported} recorded_operations={recorded}",
        allocations as f64 / commands.max(1) as f64
    );
}
