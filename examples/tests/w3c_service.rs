//! The W3C conformance service end to end: the service and a harness-like callback endpoint on
//! 127.0.0.1 with real sockets, spans recorded in memory.

use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::Sampler;
use otel_core::propagation::Traceparent;
use otel_core::testing::{FinishedSpans, SpanRecorder};
use otel_examples::w3c::{self, Call, Callbacks};
use std::net::SocketAddr;
use std::time::Duration;

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn serve_service(recorder: &SpanRecorder) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = w3c::router(recorder.provider());
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Waits until the server span has ended (it ends when the response body has been sent, which
/// can be just after the client read it).
async fn spans_with_server_span(recorder: &SpanRecorder) -> FinishedSpans {
    for _ in 0..200 {
        let spans = recorder.spans();
        if spans.iter().any(|span| span.kind() == SpanKind::Server) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server span never ended: {}", recorder.spans().describe());
}

#[tokio::test]
async fn each_call_carries_the_incoming_trace_with_its_own_client_span_as_parent() {
    let recorder = SpanRecorder::new();
    let service = serve_service(&recorder).await;
    let callbacks = Callbacks::default();
    let harness = callbacks.serve().await.unwrap();

    // The harness's shape: a list of calls, the second one with nested arguments for a next hop.
    let calls = vec![
        Call { url: format!("http://{harness}/callback/a"), arguments: serde_json::json!([]) },
        Call {
            url: format!("http://{harness}/callback/b"),
            arguments: serde_json::json!([{"url": "http://127.0.0.1:9/unused", "arguments": []}]),
        },
    ];
    let response = reqwest::Client::new()
        .post(format!("http://{service}{}", w3c::TEST_PATH))
        .header("traceparent", INCOMING)
        .json(&calls)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "answered only after the calls were made");

    // On the wire: every callback has exactly one valid traceparent, same trace, a new parent.
    let incoming = Traceparent::parse(INCOMING).unwrap();
    let received = callbacks.received();
    assert_eq!(received.len(), 2);
    let parents: Vec<Traceparent> = received
        .iter()
        .map(|headers| {
            let values: Vec<_> = headers.get_all("traceparent").iter().collect();
            assert_eq!(values.len(), 1, "exactly one traceparent: {headers:?}");
            Traceparent::parse(values[0].to_str().unwrap()).expect("a valid traceparent")
        })
        .collect();
    for parent in &parents {
        assert_eq!(parent.trace_id, incoming.trace_id);
        assert_ne!(parent.span_id, incoming.span_id, "a new parent id, not the caller's");
        assert!(parent.flags.is_sampled());
    }
    assert_ne!(parents[0].span_id, parents[1].span_id, "one span per call");

    // In the spans: one SERVER span continuing the caller, one CLIENT span per call under it,
    // and each callback's parent id is that call's CLIENT span.
    let spans = spans_with_server_span(&recorder).await;
    assert_eq!(spans.assert_single_trace(), incoming.trace_id);
    let server = spans.one("POST /test").assert_kind(SpanKind::Server);
    assert_eq!(server.parent_span_id(), incoming.span_id);
    let clients = spans.named("POST");
    assert_eq!(clients.len(), 2, "{}", spans.describe());
    for (client, parent) in clients.iter().zip(&parents) {
        client.assert_kind(SpanKind::Client).assert_child_of(&server);
        assert_eq!(client.span_id(), parent.span_id, "callbacks and client spans in the same order");
    }
    spans.assert_count(3);
}

#[tokio::test]
async fn the_self_test_passes() {
    let recorder = SpanRecorder::new();
    let service = serve_service(&recorder).await;
    let summary = w3c::self_test(service).await.expect("the self-test passes");
    assert!(summary.starts_with("2 callbacks"), "{summary}");
}

#[tokio::test]
async fn a_body_that_is_not_a_list_of_calls_is_rejected() {
    let recorder = SpanRecorder::new();
    let service = serve_service(&recorder).await;
    let response =
        reqwest::Client::new().post(format!("http://{service}{}", w3c::TEST_PATH)).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 400);
}

/// Sends one harness request with `headers` (repeated names allowed) and returns the single
/// callback's `traceparent` and joined `tracestate`.
async fn one_callback(service: SocketAddr, headers: &[(&str, &str)]) -> (Traceparent, Option<String>) {
    let callbacks = Callbacks::default();
    let harness = callbacks.serve().await.unwrap();
    let calls = [Call { url: format!("http://{harness}/callback/0"), arguments: serde_json::json!([]) }];
    let mut request = reqwest::Client::new().post(format!("http://{service}{}", w3c::TEST_PATH)).json(&calls);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    let received = callbacks.received();
    assert_eq!(received.len(), 1);
    let values: Vec<_> = received[0].get_all("traceparent").iter().collect();
    assert_eq!(values.len(), 1, "exactly one traceparent: {:?}", received[0]);
    let traceparent = Traceparent::parse(values[0].to_str().unwrap()).expect("a valid traceparent");
    let tracestate: Vec<_> = received[0].get_all("tracestate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    (traceparent, (!tracestate.is_empty()).then(|| tracestate.join(",")))
}

/// A few of the official suite's cases, through the whole service (the full list runs against
/// the propagator in otel-core's tests/w3c_suite.rs).
#[tokio::test]
async fn suite_cases_through_the_service() {
    // The setup's default sampler, as the binary runs it: an unsampled caller stays unsampled.
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let service = serve_service(&recorder).await;
    let known = "12345678901234567890123456789012";

    // Unsampled caller: same trace, flags kept, repeated tracestate headers joined in order.
    let (parent, state) = one_callback(
        service,
        &[
            ("traceparent", "00-12345678901234567890123456789012-1234567890123456-00"),
            ("tracestate", "foo=1"),
            ("tracestate", "bar=2"),
        ],
    )
    .await;
    assert_eq!(parent.trace_id.to_string(), known);
    assert!(!parent.flags.is_sampled());
    assert_eq!(state.as_deref(), Some("foo=1,bar=2"));

    // Two traceparent headers: a new trace, and the tracestate is not passed on.
    let (parent, state) = one_callback(
        service,
        &[
            ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01"),
            ("traceparent", "00-12345678901234567890123456789012-1234567890123456-01"),
            ("tracestate", "foo=1"),
        ],
    )
    .await;
    assert!(!parent.trace_id.to_string().starts_with("123456789012345678901234567890"));
    assert_eq!(state, None);

    // A future version with extra fields is understood; an invalid tracestate is dropped whole.
    let (parent, state) = one_callback(
        service,
        &[
            ("traceparent", "cc-12345678901234567890123456789012-1234567890123456-01-future"),
            ("tracestate", "foo=bar=baz"),
        ],
    )
    .await;
    assert_eq!(parent.trace_id.to_string(), known);
    assert_eq!(state, None);
}
