//! `kafka_headers`: otel-kafka's context extraction from record headers, on `OwnedHeaders` with
//! arbitrary keys and values: keys that are not UTF-8 (only librdkafka's raw API writes those, as
//! a non-conforming producer would), null values, repeated `traceparent`s. Never panics; the
//! `HeaderSource` and the `Extractor` paths give the same context; a consumer hook reads every
//! header whose key is UTF-8; a rejected record's headers go back to the user unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use otel_core::propagation::{HeaderSource, Propagation, StrictTraceContextPropagator};
use otel_kafka::{KafkaHeaders, MessageExtractor};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage, Timestamp};

/// One header per line: the first byte picks the key (`traceparent`, `tracestate`, or `key:value`
/// with any bytes), bit 7 of it makes the value null.
fn headers(data: &[u8]) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else { continue };
        let (key, value): (&[u8], &[u8]) = match first % 4 {
            0 | 1 => (b"traceparent", rest),
            2 => (b"tracestate", rest),
            _ => {
                let at = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
                (&rest[..at], rest.get(at + 1..).unwrap_or_default())
            }
        };
        headers = otel_kafka::fuzzing::append_raw(headers, key, (first & 0x80 == 0).then_some(value));
    }
    headers
}

fuzz_target!(|data: &[u8]| {
    let owned = headers(data);
    let strict = StrictTraceContextPropagator::new();
    let root = Context::new();

    let kafka = KafkaHeaders(&owned);
    let by_source = Propagation::new(strict).extract_with_context(&root, &kafka);
    let _ = kafka.names().count();
    let _ = kafka.values("traceparent").count();
    let _ = kafka.first_str("tracestate");

    let message = OwnedMessage::new(None, None, "topic".into(), Timestamp::NotAvailable, 0, 0, Some(owned.clone()));
    let by_extractor = strict.extract_with_context(&root, &MessageExtractor::new(&message));
    assert_eq!(by_source.span().span_context(), by_extractor.span().span_context(), "the two paths differ");

    let consumed = otel_kafka::fuzzing::consumed(&message);
    assert!(consumed.headers.iter().count() <= owned.count());
    let _ = consumed.headers.value("traceparent");
    let _ = otel_kafka::extract_context(&message);

    // A rejected send hands the user's headers back exactly, without the context written after them.
    let sent = owned.clone().insert(Header { key: "traceparent", value: Some("injected") });
    let back = otel_kafka::fuzzing::rejected_headers(sent, owned.count());
    assert_eq!(otel_kafka::fuzzing::raw_headers(&back), otel_kafka::fuzzing::raw_headers(&owned), "headers changed");
});
