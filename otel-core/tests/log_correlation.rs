//! Trace ids in log lines, read back from the formatted output of `tracing-subscriber`'s fmt
//! layer, text and JSON, for an OpenTelemetry context attached directly (as the adapters do) and
//! for a `tracing` span bridged by tracing-opentelemetry.
#![cfg(feature = "setup")]

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, SpanContext, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use otel_core::setup::logs::TraceIdFormat;
use otel_core::setup::waterfall::SharedBuffer;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Registry, fmt};

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_sampler(sampler).build()
}

/// Runs `body` with a subscriber made of tracing-opentelemetry's bridge and `fmt_layer`; returns
/// the output lines.
fn capture<L>(fmt_layer: impl FnOnce(SharedBuffer) -> L, body: impl FnOnce(&SdkTracerProvider)) -> Vec<String>
where
    L: tracing_subscriber::Layer<
            tracing_subscriber::layer::Layered<
                tracing_opentelemetry::OpenTelemetryLayer<Registry, opentelemetry_sdk::trace::SdkTracer>,
                Registry,
            >,
        > + Send
        + Sync
        + 'static,
{
    let buffer = SharedBuffer::default();
    let provider = provider(Sampler::AlwaysOn);
    let bridge = tracing_opentelemetry::layer().with_tracer(provider.tracer("bridge"));
    let subscriber = Registry::default().with(bridge).with(fmt_layer(buffer.clone()));
    tracing::subscriber::with_default(subscriber, || body(&provider));
    buffer.contents().lines().map(str::to_owned).collect()
}

fn ids(sc: &SpanContext) -> (String, String) {
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

/// Logs outside any span, inside an attached OpenTelemetry context, inside an unsampled one and
/// inside a bridged `tracing` span; returns the ids expected for the last three.
fn scenario(provider: &SdkTracerProvider) -> [(String, String); 3] {
    tracing::info!(order = 7, "no span");

    let tracer = provider.tracer("adapter");
    let span = tracer.start("server span");
    let attached = ids(span.span_context());
    {
        let _guard = Context::current_with_span(span).attach();
        tracing::info!(order = 7, "attached context");
    }

    let unsampled_provider = self::provider(Sampler::AlwaysOff);
    let unsampled = unsampled_provider.tracer("adapter").start("unsampled");
    let unsampled_ids = ids(unsampled.span_context());
    {
        let _guard = Context::current_with_span(unsampled).attach();
        tracing::info!(order = 7, "unsampled context");
    }

    let bridged = tracing::info_span!("bridged");
    let bridged_ids = ids(bridged.context().span().span_context());
    bridged.in_scope(|| tracing::info!(order = 7, "bridged span"));
    tracing::info!(order = 7, "after the spans");
    [attached, unsampled_ids, bridged_ids]
}

#[test]
fn text_lines_carry_trace_id_span_id_and_sampled() {
    let mut expected = None;
    let lines = capture(
        |buffer| {
            fmt::layer()
                .with_ansi(false)
                .event_format(TraceIdFormat::text(fmt::format().without_time().with_target(false)))
                .with_writer(move || buffer.clone())
        },
        |provider| expected = Some(scenario(provider)),
    );
    let [attached, unsampled, bridged] = expected.expect("ran");
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(lines[0], " INFO no span order=7");
    assert_eq!(
        lines[1],
        format!("trace_id={} span_id={} sampled=true  INFO attached context order=7", attached.0, attached.1)
    );
    assert_eq!(
        lines[2],
        format!("trace_id={} span_id={} sampled=false  INFO unsampled context order=7", unsampled.0, unsampled.1)
    );
    assert!(
        lines[3].starts_with(&format!("trace_id={} span_id={} sampled=true ", bridged.0, bridged.1)),
        "{}",
        lines[3]
    );
    assert!(lines[3].ends_with("bridged span order=7"), "{}", lines[3]);
    assert_eq!(lines[4], " INFO after the spans order=7", "no fields once no span is current");
}

#[test]
fn json_objects_carry_trace_id_span_id_and_sampled() {
    let mut expected = None;
    let lines = capture(
        |buffer| {
            fmt::layer()
                .with_ansi(false)
                .json()
                .event_format(TraceIdFormat::json(fmt::format().json()))
                .with_writer(move || buffer.clone())
        },
        |provider| expected = Some(scenario(provider)),
    );
    let [attached, unsampled, bridged] = expected.expect("ran");
    let objects: Vec<serde_json::Value> =
        lines.iter().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    assert_eq!(objects.len(), 5, "{lines:#?}");
    for object in &objects {
        assert_eq!(object["fields"]["order"], 7, "the wrapped format's output is intact: {object}");
        assert_eq!(object["level"], "INFO");
    }
    let trace =
        |o: &serde_json::Value| (o.get("trace_id").cloned(), o.get("span_id").cloned(), o.get("sampled").cloned());
    assert_eq!(trace(&objects[0]), (None, None, None));
    assert_eq!(trace(&objects[1]), (Some(attached.0.into()), Some(attached.1.into()), Some(true.into())));
    assert_eq!(trace(&objects[2]), (Some(unsampled.0.into()), Some(unsampled.1.into()), Some(false.into())));
    assert_eq!(trace(&objects[3]), (Some(bridged.0.into()), Some(bridged.1.into()), Some(true.into())));
    assert_eq!(objects[3]["span"]["name"], "bridged");
    assert_eq!(trace(&objects[4]), (None, None, None));
}

#[test]
fn ready_made_layers_add_the_ids() {
    let (text, json) = (SharedBuffer::default(), SharedBuffer::default());
    let (t, j) = (text.clone(), json.clone());
    let subscriber = Registry::default()
        .with(otel_core::setup::logs::text_layer().with_writer(move || t.clone()))
        .with(otel_core::setup::logs::json_layer().with_writer(move || j.clone()));
    let span = provider(Sampler::AlwaysOn).tracer("t").start("request");
    let (trace_id, _) = ids(span.span_context());
    let _guard = Context::current_with_span(span).attach();
    tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
    assert!(text.contents().starts_with(&format!("trace_id={trace_id} ")), "{}", text.contents());
    assert!(json.contents().starts_with(&format!("{{\"trace_id\":\"{trace_id}\",")), "{}", json.contents());
}
