//! Headers on the wire: what the called server receives.

mod common;

use common::{TestServer, client, middleware};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceFlags, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Sampler;
use otel_core::testing::{SpanRecorder, remote_context};
use otel_reqwest::NoPropagation;
use std::sync::Arc;

#[tokio::test]
async fn the_server_receives_the_callers_trace_with_the_client_span_as_parent() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let tracer = recorder.provider().tracer("test");
    let cx = Context::current_with_span(tracer.start("parent")).with_baggage([KeyValue::new("tenant", "blue")]);
    let response = client.get(server.url("/ok")).send().with_context(cx.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    cx.span().end();

    let spans = recorder.spans();
    let parent = spans.one("parent");
    let client_span = spans.one("GET").assert_kind(SpanKind::Client).assert_child_of(&parent);
    let received = server.received();
    let (trace_id, parent_id, flags) = received[0].traceparent();
    assert_eq!(trace_id, parent.trace_id());
    assert_eq!(parent_id, client_span.span_id());
    assert_eq!(flags, TraceFlags::SAMPLED);
    assert_eq!(received[0].headers["baggage"], "tenant=blue");
}

#[tokio::test]
async fn an_unsampled_parent_is_propagated_with_flags_00_and_nothing_is_exported() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let parent = remote_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    client.get(server.url("/ok")).send().with_context(parent.clone()).await.unwrap();

    recorder.spans().assert_count(0);
    let (trace_id, parent_id, flags) = server.received()[0].traceparent();
    assert_eq!(trace_id, parent.span().span_context().trace_id());
    assert_eq!(flags, TraceFlags::default(), "flags 00");
    assert_ne!(parent_id, parent.span().span_context().span_id(), "the unsampled client span's own id");
    assert_ne!(parent_id, SpanId::INVALID);
}

#[tokio::test]
async fn an_unsampled_root_starts_a_new_trace_with_flags_00() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    client.get(server.url("/ok")).send().with_context(Context::new()).await.unwrap();

    recorder.spans().assert_count(0);
    let (trace_id, _, flags) = server.received()[0].traceparent();
    assert!(trace_id != opentelemetry::trace::TraceId::INVALID);
    assert_eq!(flags, TraceFlags::default());
}

#[tokio::test]
async fn no_propagation_sends_no_context_but_keeps_the_span() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let cx = Context::new().with_baggage([KeyValue::new("tenant", "blue")]);
    client.get(server.url("/ok")).with_extension(NoPropagation).send().with_context(cx).await.unwrap();

    let headers = &server.received()[0].headers;
    for name in ["traceparent", "tracestate", "baggage"] {
        assert!(headers.get(name).is_none(), "{name} was sent: {headers:?}");
    }
    recorder.spans().one("GET").assert_kind(SpanKind::Client);
}

#[tokio::test]
async fn a_hand_set_traceparent_is_sent_unchanged_and_nothing_is_added() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let own = "00-11111111111111111111111111111111-2222222222222222-01";
    let cx = Context::new().with_baggage([KeyValue::new("tenant", "blue")]);
    client.get(server.url("/ok")).header("traceparent", own).send().with_context(cx).await.unwrap();

    let headers = &server.received()[0].headers;
    assert_eq!(headers.get_all("traceparent").iter().collect::<Vec<_>>(), [own]);
    assert!(headers.get("baggage").is_none(), "baggage belongs to the hand-set context");
    recorder.spans().one("GET");
}

#[tokio::test]
async fn hand_set_baggage_is_kept_beside_the_injected_traceparent() {
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let client = client(vec![Arc::new(middleware(&recorder).build())]);

    let cx = Context::new().with_baggage([KeyValue::new("tenant", "blue")]);
    client.get(server.url("/ok")).header("baggage", "mine=1").send().with_context(cx).await.unwrap();

    let received = &server.received()[0];
    assert_eq!(received.headers["baggage"], "mine=1");
    let (_, parent_id, _) = received.traceparent();
    assert_eq!(parent_id, recorder.spans().one("GET").span_id());
}

#[tokio::test]
async fn the_global_propagator_is_the_default() {
    // Without a propagator on the builder the global one is used; none is installed in this
    // test binary, so the global no-op propagator injects nothing.
    let server = TestServer::start().await;
    let recorder = SpanRecorder::new();
    let middleware = otel_reqwest::OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .config(otel_core::config::HttpClientConfig::builder().environment(|_| None))
        .build();
    let client = client(vec![Arc::new(middleware)]);

    client.get(server.url("/ok")).send().await.unwrap();

    assert!(server.received()[0].headers.get("traceparent").is_none());
    recorder.spans().one("GET");
}
