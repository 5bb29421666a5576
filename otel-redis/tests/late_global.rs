//! A connection wrapped with no tracer or meter provider, before any SDK is installed, traces and
//! records metrics once one is installed (issue #28): it resolves the global providers when each
//! command starts, not when it is built. A binary of its own with a single test: the global
//! providers are the whole process's.
//!
//! Redis on 127.0.0.1:6379 (REDIS_URL overrides it).

mod support;

use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, global};
use otel_core::testing::{MetricRecorder, SpanRecorder};
use otel_redis::TracedConnection;
use redis::AsyncCommands;
use support::{redis_url, unreachable};

#[tokio::test]
async fn a_connection_wrapped_before_the_sdk_is_installed_traces_once_it_is() {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| unreachable(&url, e));
    let mut con = TracedConnection::multiplexed(&client).await.unwrap_or_else(|e| unreachable(&url, e));
    // The control: a connection whose tracer was taken from the global provider when it was
    // built, as adapters did before issue #28. It must stay silent, or this test could not tell.
    let inner = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| unreachable(&url, e));
    let mut captured = TracedConnection::builder().tracer_provider(&global::tracer_provider()).build(inner);

    // Before installation: the no-op tracer, nothing to export, and nothing the connection may
    // keep.
    let key = format!("otel-redis:late-global:{}", std::process::id());
    let _: () = con.set(&key, "before").await.unwrap();
    let _: String = captured.get(&key).await.unwrap();

    // Installed with opentelemetry's own calls, as most applications do.
    let recorder = SpanRecorder::new();
    let metrics = MetricRecorder::new();
    global::set_tracer_provider(recorder.provider().clone());
    global::set_meter_provider(metrics.provider().clone());
    let tracer = recorder.provider().tracer("test");

    let cx = Context::current_with_span(tracer.start("parent"));
    async {
        let _: () = con.set(&key, "after").await.unwrap();
        let got: String = con.get(&key).await.unwrap();
        assert_eq!(got, "after");
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();
    // One point per command since installation, nothing from the commands before it (the
    // connection's server: 127.0.0.1 on the default port, which the conventions leave out).
    let point = |operation: &str, count| {
        let attributes =
            format!("db.namespace=0 db.operation.name={operation} db.system.name=redis server.address=127.0.0.1");
        (attributes, count)
    };
    assert_eq!(metrics.histogram("db.client.operation.duration"), [point("GET", 1), point("SET", 1)]);

    let control = Context::current_with_span(tracer.start("control"));
    let _: String = captured.get(&key).with_context(control.clone()).await.unwrap();
    control.span().end();
    let _: () = con.del(&key).await.unwrap();

    let spans = recorder.spans();
    let parent = spans.one("parent");
    let control = spans.one("control");
    for name in ["SET", "GET"] {
        spans
            .one(name)
            .assert_kind(SpanKind::Client)
            .assert_child_of(&parent)
            .assert_status_unset()
            .assert_attr("db.system.name", "redis")
            .assert_attr("db.operation.name", name);
    }
    // Neither the commands before installation nor the control's were exported: the parents,
    // SET, GET and the unparented DEL.
    spans.one("DEL").assert_root();
    spans.assert_count(5);
    for span in spans.iter() {
        assert_ne!(span.parent_span_id(), control.span_id(), "the control connection traced {:?}", span.name());
    }
    // The control took only its tracer at build time: its meter is the global one, so its GET is
    // measured too (without a server: it was built on a bare connection), beside the DEL.
    let control_get = "db.namespace=0 db.operation.name=GET db.system.name=redis".to_owned();
    assert_eq!(
        metrics.histogram("db.client.operation.duration"),
        [point("DEL", 1), (control_get, 1), point("GET", 1), point("SET", 1)]
    );
}
