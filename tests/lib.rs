//! End-to-end tests across the adapters, against real servers, Redis, databases and a Kafka
//! broker on loopback (`scripts/services.sh start`). The tests are this package's test targets;
//! this library holds what they share.

use otel_core::testing::{FinishedSpans, SpanRecorder};
use std::time::{Duration, Instant};

/// The recorder's spans once `done` says they are all there (servers end their spans after the
/// response reached the client), or what there is after 5 seconds.
pub async fn spans_when(recorder: &SpanRecorder, done: impl Fn(&FinishedSpans) -> bool) -> FinishedSpans {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let spans = recorder.spans();
        if done(&spans) || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// The workspace README's examples are compiled as doctests here, where every adapter is a
// dependency, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct WorkspaceReadme;
