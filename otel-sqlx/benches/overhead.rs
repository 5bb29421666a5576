//! Added cost per query: bare `Pool` vs `TracedPool`, same process, same in-memory SQLite (so
//! the database's own cost is identical and small).
//!
//! `cargo bench -p otel-sqlx --bench sqlx_overhead -- <mode> <queries>` (mode: `bare`, `sampled`,
//! `unsampled`, `commenter`, `sampled-metrics`, `unsampled-metrics`) prints the heap allocations
//! per query; `otel-sqlx/benches/measure.sh` runs every mode under
//! callgrind (instructions are counted for N queries and for 0, and the difference divided by N)
//! and prints the table the README shows. The SDK runs with a batch processor and an exporter
//! that drops spans; queries run under an incoming (remote) parent, sampled or not, after the
//! statement's first execution (warm-up). A mode ending `-metrics` also records the metrics
//! (`meter_provider`), into an SDK meter provider whose reader exports nothing during the run
//! (a periodic reader with an in-memory exporter and an interval longer than any run): what is
//! measured is the recording path.

use opentelemetry::Context;
use opentelemetry::trace::FutureExt;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use otel_core::testing::MetricRecorder;
use otel_core::testing::remote_context;
use otel_core::testing::{CountingAllocator, DroppingExporter};
use otel_sqlx::TracedPool;
use sqlx::{Executor, Sqlite};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

static EXPORTER: std::sync::LazyLock<DroppingExporter> = std::sync::LazyLock::new(DroppingExporter::default);

async fn run<'p, E>(pool: E, queries: usize, parent: Context)
where
    E: Executor<'p, Database = Sqlite> + Copy,
{
    async {
        for _ in 0..queries {
            let name: Option<(String,)> = sqlx::query_as("SELECT name FROM users WHERE id = ?1")
                .bind(1_i64)
                .fetch_optional(pool)
                .await
                .expect("SELECT");
            assert!(name.is_some());
        }
    }
    .with_context(parent)
    .await;
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = args.next().unwrap_or_else(|| "sampled".into());
    let queries: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_span_processor(BatchSpanProcessor::builder(EXPORTER.clone()).build())
        .build();
    // `-metrics`: the metrics too (`sampled-metrics`, `unsampled-metrics`).
    let (mode, metrics) = match mode.strip_suffix("-metrics") {
        Some(mode) => (mode.to_owned(), true),
        None => (mode, false),
    };
    let meters = metrics.then(otel_core::testing::MetricRecorder::new);
    let flags = if mode == "unsampled" { "00" } else { "01" };
    let parent = remote_context(&format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"));

    let allocations = runtime.block_on(async {
        // One connection: an in-memory SQLite database lives in its connection.
        let pool = sqlx::pool::PoolOptions::<Sqlite>::new()
            .max_connections(1)
            .min_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::raw_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ada')")
            .execute(&pool)
            .await
            .unwrap();
        let mut builder = TracedPool::builder().tracer_provider(&provider).sqlcommenter(mode == "commenter");
        if let Some(meter_provider) = meters.as_ref().map(MetricRecorder::provider) {
            builder = builder.meter_provider(meter_provider);
        }
        let traced = builder.build(pool.clone());
        // Warm up (the statement's first execution, connection buffers, lazy statics), then count.
        let before;
        if mode == "bare" {
            run(&pool, 100, parent.clone()).await;
            before = CountingAllocator::allocations();
            run(&pool, queries, parent).await;
        } else {
            run(&traced, 100, parent.clone()).await;
            before = CountingAllocator::allocations();
            run(&traced, queries, parent).await;
        }
        CountingAllocator::allocations() - before
    });
    provider.force_flush().unwrap();
    let exported = EXPORTER.exported();
    let recorded = meters.map_or(0, |meters| meters.histogram_count("db.client.operation.duration"));
    println!(
        "mode={mode} metrics={metrics} queries={queries} allocations/query={:.2} exported_spans={exported} \
         recorded_operations={recorded}",
        allocations as f64 / queries.max(1) as f64
    );
}
