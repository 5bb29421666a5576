//! The demo's scenario, with every service's spans captured in memory: one trace across the
//! three services, the exact parent chain, the excluded health URL absent, the failing step in
//! Error, the baggage seen downstream.

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::BaggagePropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{FinishedSpans, SpanView};
use otel_examples::demo::{Demo, Ports, Providers};

fn service(name: &'static str) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder_empty().with_attribute(KeyValue::new("service.name", name)).build())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn spans_of(exporter: &InMemorySpanExporter, trace: TraceId) -> FinishedSpans {
    FinishedSpans(
        exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s: &SpanData| s.span_context.trace_id() == trace)
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_is_one_trace_per_request_across_three_services() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(StrictTraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let (gateway, gateway_spans) = service("api-gateway");
    let (documents, document_spans) = service("document-service");
    let (ml, ml_spans) = service("ml-service");
    let providers = Providers { gateway, documents, ml };
    let demo = Demo::start(&providers, Ports::ANY).await.expect("the demo starts");
    let outcomes = demo.run_scenario(|_| std::thread::sleep(std::time::Duration::from_millis(50))).await;
    providers.flush();
    demo.stop();

    let statuses: Vec<u16> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [200, 200, 200, 502, 200], "{outcomes:?}");

    // The excluded health check left no span anywhere.
    let all_gateway = FinishedSpans(gateway_spans.get_finished_spans().unwrap());
    all_gateway.assert_none_named("GET /health").assert_none_named("GET");
    assert_eq!(all_gateway.named("POST /documents").len(), 4, "one server span per upload");

    // The first upload: one trace, with this exact chain.
    let roots = all_gateway.named("POST /documents");
    let invoice = roots[0];
    let trace = invoice.trace_id();
    let gw = spans_of(&gateway_spans, trace);
    let docs = spans_of(&document_spans, trace);
    let mlv = spans_of(&ml_spans, trace);
    gw.assert_count(3);
    docs.assert_count(6);
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

    // The slow upload spans more than the 450 ms no span covers.
    let slow: &SpanView<'_> = &roots[3];
    let took = slow.data().end_time.duration_since(slow.data().start_time).unwrap();
    assert!(took.as_millis() >= 450, "{took:?}");
}
