//! The demo's default (embedded) scenario, with every service's spans captured in memory: one
//! trace across the three services, the exact parent chain, the excluded health URL absent, the
//! failing step in Error, the baggage seen downstream, the SQL spans under the request that made
//! them, the pool-wait span of uploads sent at once, and the metrics the summary reads. A binary of
//! its own: the meter provider is the global one.

mod support;

use opentelemetry::trace::SpanKind;
use otel_core::testing::{FinishedSpans, SpanView};
use otel_examples::demo::{Backends, Providers};
use std::time::Duration;
use support::{service, spans_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_is_one_trace_per_request_across_three_services() {
    let (gateway, gateway_spans) = service("api-gateway");
    let (documents, document_spans) = service("document-service");
    let (ml, ml_spans) = service("ml-service");
    let (indexer, _) = service("indexer");
    let providers = Providers { gateway, documents, ml, indexer };
    let metrics = support::run_scenario(&providers, Backends::embedded()).await;

    // The excluded health check left no span anywhere.
    let all_gateway = FinishedSpans(gateway_spans.get_finished_spans().unwrap());
    all_gateway.assert_none_named("GET /health").assert_none_named("GET");
    assert_eq!(all_gateway.named("POST /documents").len(), 7, "one server span per upload");

    // The first upload: one trace, with this exact chain.
    let roots = all_gateway.named("POST /documents");
    let invoice = roots[0];
    let trace = invoice.trace_id();
    let gw = spans_of(&gateway_spans, trace);
    let docs = spans_of(&document_spans, trace);
    let mlv = spans_of(&ml_spans, trace);
    gw.assert_count(3);
    docs.assert_count(10);
    mlv.assert_count(2);

    let root = gw.one("POST /documents").assert_kind(SpanKind::Server).assert_root().assert_status_unset();
    gw.one("validate upload").assert_child_of(&root);
    let to_documents = gw.one("POST /process").assert_kind(SpanKind::Client).assert_child_of(&root);
    let process =
        docs.one("POST /process").assert_kind(SpanKind::Server).assert_remote_parent(to_documents.span_context());
    process.assert_attr("http.route", "/process").assert_attr("app.user.tier", "free");
    for step in ["detect type", "extract", "chunk", "embed"] {
        docs.one(step).assert_kind(SpanKind::Internal).assert_child_of(&process).assert_status_unset();
    }
    docs.one("detect type").assert_attr("document.type", "pdf");
    // Stored through otel-sqlx (SQLite in memory): the transaction's statements under the server
    // span, the indexing step inside the transaction; no wait for the pool's one connection.
    for statement in ["BEGIN", "INSERT documents", "COMMIT"] {
        docs.one(statement)
            .assert_kind(SpanKind::Client)
            .assert_child_of(&process)
            .assert_attr("db.system.name", "sqlite")
            .assert_status_unset();
    }
    docs.one("index chunks").assert_child_of(&process);
    docs.assert_none_named("db.client.connection.wait");
    let to_ml = docs.one("POST /embed").assert_kind(SpanKind::Client).assert_child_of(&docs.one("embed"));
    let embed_server = mlv.one("POST /embed").assert_kind(SpanKind::Server).assert_remote_parent(to_ml.span_context());
    mlv.one("embed batch")
        .assert_child_of(&embed_server)
        .assert_attr("app.user.tier", "free")
        .assert_attr("embedding.model", "minilm-l6");

    // The gold upload: the baggage set at the gateway reached ml-service two hops away.
    let gold = spans_of(&ml_spans, roots[1].trace_id());
    gold.one("embed batch").assert_attr("app.user.tier", "gold").assert_attr("embedding.model", "minilm-l12");

    // The corrupt scan: the failing step is an Error with the error recorded; every server and
    // client span on the way up is an Error too.
    let failed = roots[2].trace_id();
    let docs = spans_of(&document_spans, failed);
    let extract = docs.one("extract").assert_status_error().assert_attr("error.type", "unreadable_document");
    assert!(extract.data().events.iter().any(|e| e.name == "exception"), "the error is recorded as an event");
    docs.assert_none_named("chunk");
    docs.one("POST /process").assert_status_error().assert_attr("http.response.status_code", 500_i64);
    let gw = spans_of(&gateway_spans, failed);
    gw.one("POST /process").assert_status_error();
    gw.one("POST /documents").assert_status_error().assert_attr("http.response.status_code", 502_i64);
    assert!(spans_of(&ml_spans, failed).is_empty(), "the pipeline stopped before embedding");

    // The failed upload stored nothing.
    spans_of(&document_spans, failed).assert_none_named("BEGIN");

    // The slow upload spans more than the 450 ms no span covers.
    let slow: &SpanView<'_> = &roots[3];
    let took = slow.data().end_time.duration_since(slow.data().start_time).unwrap();
    assert!(took.as_millis() >= 450, "{took:?}");

    // The lookups: a SELECT under document-service's server span (no cache in the embedded run).
    let lookups = all_gateway.named("GET /documents/{name}");
    assert_eq!(lookups.len(), 2);
    for lookup in &lookups {
        let docs = spans_of(&document_spans, lookup.trace_id());
        let server = docs.one("GET /lookup/{name}").assert_kind(SpanKind::Server);
        docs.one("SELECT documents").assert_child_of(&server).assert_attr("db.query.summary", "SELECT documents");
    }

    // Three uploads at once through a pool of one connection: the later ones waited for it, and
    // their traces show the wait (the pool's `db.client.connection.wait` span under `BEGIN`).
    let waits: Vec<Duration> = roots_after(&all_gateway, 4)
        .iter()
        .filter_map(|root| {
            let docs = spans_of(&document_spans, root.trace_id());
            let waited = docs.named("db.client.connection.wait");
            let wait = waited.first()?;
            wait.assert_child_of(&docs.one("BEGIN")).assert_attr("db.client.connection.pool.name", "documents");
            Some(wait.data().end_time.duration_since(wait.data().start_time).unwrap())
        })
        .collect();
    // Two wait, unless a slow machine spread the three apart.
    assert!((1..=2).contains(&waits.len()), "the later ones waited: {waits:?}");
    assert!(waits.iter().any(|wait| *wait >= Duration::from_millis(30)), "for a whole indexing: {waits:?}");

    // The metrics the summary prints, from the global meter provider.
    metrics.collect();
    let requests = metrics.rows("http.server.request.duration");
    assert_eq!(requests["POST /documents"].count, 7, "{requests:?}");
    assert_eq!(requests["GET /documents/{name}"].count, 2);
    let queries = metrics.rows("db.client.operation.duration");
    assert_eq!(queries["sqlite INSERT documents"].count, 6, "{queries:?}");
    assert_eq!(queries["sqlite SELECT documents"].count, 2);
    let waited = &metrics.rows("db.client.connection.wait_time")["documents"];
    assert!(waited.quantile(1.0).is_some_and(|longest| longest >= 0.025), "{waited:?}");
    assert!(metrics.text().contains("POST /documents"));
}

/// The root spans of the gateway after the first `skip` uploads.
fn roots_after<'a>(spans: &'a FinishedSpans, skip: usize) -> Vec<SpanView<'a>> {
    spans.named("POST /documents").into_iter().skip(skip).collect()
}
