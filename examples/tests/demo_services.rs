//! The demo with `--services`, against the real PostgreSQL, Redis and Kafka-protocol broker
//! (`scripts/services.sh start`): an upload's trace runs from the gateway through the document
//! service's SQL, cache and `send` spans to the indexer's `process` span (the producer's child)
//! and its SQL; a lookup is a cache miss (GET, SELECT, SETEX), then a hit (GET alone). A binary
//! of its own: the meter provider is the global one.

mod support;

use opentelemetry::trace::SpanKind;
use otel_core::testing::FinishedSpans;
use otel_examples::demo::{Backends, DOCUMENTS_TOPIC, Providers};
use support::{service, spans_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_services_an_upload_is_one_trace_through_sql_cache_and_queue() {
    let backends = Backends::services().await.unwrap_or_else(|missing| {
        panic!("cannot reach {}: start the services with `scripts/services.sh start`", missing.join(", "))
    });
    let (gateway, gateway_spans) = service("api-gateway");
    let (documents, document_spans) = service("document-service");
    let (ml, _) = service("ml-service");
    let (indexer, indexer_spans) = service("indexer");
    let providers = Providers { gateway, documents, ml, indexer };
    let metrics = support::run_scenario(&providers, backends).await;

    // The first upload: through PostgreSQL, the cache's invalidation and the topic, to the
    // indexer, in one trace. The scenario waited for the indexer, so its spans are there.
    let all_gateway = FinishedSpans(gateway_spans.get_finished_spans().unwrap());
    let uploads = all_gateway.named("POST /documents");
    assert_eq!(uploads.len(), 7);
    let trace = uploads[0].trace_id();
    let docs = spans_of(&document_spans, trace);
    let process = docs.one("POST /process").assert_kind(SpanKind::Server);
    for statement in ["BEGIN", "INSERT documents", "COMMIT"] {
        docs.one(statement).assert_child_of(&process).assert_attr("db.system.name", "postgresql");
    }
    docs.one("DEL").assert_kind(SpanKind::Client).assert_child_of(&process).assert_attr("db.system.name", "redis");
    let topic = format!("send {DOCUMENTS_TOPIC}");
    let send = docs
        .one(&topic)
        .assert_kind(SpanKind::Producer)
        .assert_child_of(&process)
        .assert_attr("messaging.destination.name", DOCUMENTS_TOPIC);
    let indexed = spans_of(&indexer_spans, trace);
    indexed.assert_count(2);
    let consumed = indexed
        .one(&format!("process {DOCUMENTS_TOPIC}"))
        .assert_kind(SpanKind::Consumer)
        .assert_remote_parent(send.span_context())
        .assert_attr("messaging.kafka.message.key", "invoice-2024.pdf");
    assert!(consumed.attr("otel_rust.messaging.queue_time").is_some(), "the queue time is recorded");
    indexed.one("UPDATE documents").assert_child_of(&consumed).assert_attr("db.system.name", "postgresql");

    // The lookups: a miss reads the database and fills the cache; the hit reads the cache alone.
    let lookups = all_gateway.named("GET /documents/{name}");
    assert_eq!(lookups.len(), 2);
    let miss = spans_of(&document_spans, lookups[0].trace_id());
    let server = miss.one("GET /lookup/{name}");
    for span in ["GET", "SELECT documents", "SETEX"] {
        miss.one(span).assert_child_of(&server);
    }
    let hit = spans_of(&document_spans, lookups[1].trace_id());
    hit.one("GET").assert_child_of(&hit.one("GET /lookup/{name}"));
    hit.assert_none_named("SELECT documents").assert_none_named("SETEX");

    // Every stored upload reached the indexer.
    let processed = FinishedSpans(indexer_spans.get_finished_spans().unwrap());
    assert_eq!(processed.named(&format!("process {DOCUMENTS_TOPIC}")).len(), 6);

    metrics.collect();
    assert_eq!(metrics.rows("messaging.process.duration")[DOCUMENTS_TOPIC].count, 6);
    assert_eq!(metrics.rows("db.client.operation.duration")["redis GET"].count, 2);
}
