//! Instruments recorded through per-thread bound handles export exactly what unbound recording
//! would: every attribute set its own point, whatever the order, the number of sets (more than a
//! thread keeps handles for) and the threads.

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider;
use otel_core::metrics::bound::{SETS, STATIC_KEY_WORDS, WAYS};
use otel_core::metrics::{AttributeList, CachedCounter, CachedHistogram, CachedUpDownCounter, StaticKey};
use otel_core::testing::MetricRecorder;

fn attributes(i: usize) -> [KeyValue; 2] {
    [KeyValue::new("route", format!("/r/{i}")), KeyValue::new("status", (200 + i % 3) as i64)]
}

#[test]
fn every_attribute_set_gets_its_own_point_past_the_handles_a_thread_keeps() {
    let metrics = MetricRecorder::new();
    let meter = metrics.provider().meter("test");
    let histogram = CachedHistogram::new(meter.f64_histogram("op.duration").build());
    let sets = 3 * SETS * WAYS;
    // Three rounds over more sets than fit: every one is bound, evicted and bound again.
    for _ in 0..3 {
        for i in 0..sets {
            histogram.record(0.1, &attributes(i));
        }
    }
    // Two threads record the same sets: the same points.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for i in 0..sets {
                    histogram.record(0.1, &attributes(i));
                }
            });
        }
    });
    let points = metrics.histogram("op.duration");
    assert_eq!(points.len(), sets);
    for (i, (attributes, count)) in points.iter().enumerate() {
        assert_eq!(*count, 5, "{attributes} (point {i})");
    }
    assert!(points.iter().any(|(attributes, _)| attributes == "route=/r/7 status=201"));
}

#[test]
fn sets_with_the_same_values_under_other_keys_and_other_instruments_stay_apart() {
    let metrics = MetricRecorder::new();
    let meter = metrics.provider().meter("test");
    let first = CachedHistogram::new(meter.f64_histogram("first").build());
    let second = CachedHistogram::new(meter.f64_histogram("second").build());
    first.record(1.0, &[KeyValue::new("a", "x")]);
    first.record(1.0, &[KeyValue::new("b", "x")]);
    first.record(1.0, &[KeyValue::new("a", "x")]);
    second.record(1.0, &[KeyValue::new("a", "x")]);
    // A clone shares the instrument and its handles.
    first.clone().record(1.0, &[KeyValue::new("b", "x")]);
    assert_eq!(metrics.histogram("first"), [("a=x".to_owned(), 2), ("b=x".to_owned(), 2)]);
    assert_eq!(metrics.histogram("second"), [("a=x".to_owned(), 1)]);
}

#[test]
fn counters_and_up_down_counters_add_through_their_handles() {
    let metrics = MetricRecorder::new();
    let meter = metrics.provider().meter("test");
    let counter = CachedCounter::new(meter.u64_counter("sent").build());
    let active = CachedUpDownCounter::new(meter.i64_up_down_counter("active").build());
    let get = [KeyValue::new("method", "GET")];
    for _ in 0..4 {
        counter.add(1, &get);
        active.add(1, &get);
    }
    active.add(-3, &get);
    counter.add(2, &[KeyValue::new("method", "POST")]);
    assert_eq!(metrics.sum_u64("sent"), [("method=GET".to_owned(), 4), ("method=POST".to_owned(), 2)]);
    assert_eq!(metrics.sum_i64("active"), [("method=GET".to_owned(), 1)]);
}

fn route(route: &'static str) -> AttributeList<1> {
    let mut attributes = AttributeList::new();
    attributes.push(KeyValue::new("route", route));
    attributes
}

#[test]
fn keyed_records_find_their_set_and_a_key_that_does_not_fit_records_what_it_builds() {
    let metrics = MetricRecorder::new();
    let histogram = CachedHistogram::new(metrics.provider().meter("test").f64_histogram("keyed").build());
    for (path, times) in [("/a", 3), ("/b", 2), ("/a", 1)] {
        for _ in 0..times {
            let mut key = StaticKey::new();
            key.text(Some(path));
            histogram.record_keyed(1.0, &key, || route(path));
        }
    }
    // Texts by value: equal up to 32 bytes, then one longer (not keyed) and one shorter.
    for host in ["a".repeat(32), "a".repeat(33), "a".repeat(31), "a".repeat(32)] {
        let mut key = StaticKey::new();
        let keyed = key.inline_text(&host);
        let attributes = || {
            let mut attributes = AttributeList::<1>::new();
            attributes.push(KeyValue::new("host.len", host.len() as i64));
            attributes
        };
        if keyed {
            histogram.record_keyed(1.0, &key, attributes);
        } else {
            histogram.record(1.0, attributes().as_slice());
        }
    }
    // A key past its words names nothing: each record builds its own attributes.
    let mut full = StaticKey::new();
    for _ in 0..=STATIC_KEY_WORDS / 2 {
        full.number(Some(1));
    }
    histogram.record_keyed(1.0, &full, || route("/c"));
    histogram.record_keyed(1.0, &full, || route("/d"));
    assert_eq!(
        metrics.histogram("keyed"),
        [
            ("host.len=31".to_owned(), 1),
            ("host.len=32".to_owned(), 2),
            ("host.len=33".to_owned(), 1),
            ("route=/a".to_owned(), 4),
            ("route=/b".to_owned(), 2),
            ("route=/c".to_owned(), 1),
            ("route=/d".to_owned(), 1),
        ]
    );
}
