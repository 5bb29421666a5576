//! Helpers shared by the integration tests: a real server on 127.0.0.1, a raw HTTP/1.1 client
//! that sends exactly the bytes a test wants, and waiting for spans that end on worker threads.
#![allow(dead_code)] // each test binary uses some of these

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{FinishedSpans, SpanRecorder};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts `HttpServer::new($factory)` with one worker on 127.0.0.1, port 0; gives its address.
#[macro_export]
macro_rules! serve {
    ($factory:expr) => {{
        let server = actix_web::HttpServer::new($factory)
            .workers(1)
            .disable_signals()
            .shutdown_timeout(0)
            .bind(("127.0.0.1", 0))
            .expect("bind 127.0.0.1:0");
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        addr
    }};
}

/// A raw exchange: the client's local address and the whole response as (lossy) text.
pub(crate) struct Exchange {
    pub(crate) local: SocketAddr,
    pub(crate) response: String,
}

impl Exchange {
    /// The status code of the response, or 0 when the server closed without one.
    pub(crate) fn status(&self) -> u16 {
        self.response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// The body: what follows the blank line (chunked framing left in).
    pub(crate) fn body(&self) -> &str {
        self.response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

/// Sends `head` (request line and headers, without the final blank line) with `Connection:
/// close`, and reads until the server closes the connection.
pub(crate) async fn raw(addr: SocketAddr, head: &[u8]) -> Exchange {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("local address");
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    stream.write_all(&request).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await; // a panicking handler resets the connection
    Exchange { local, response: String::from_utf8_lossy(&response).into_owned() }
}

/// `GET {path}` with a Host header and the extra header lines given.
pub(crate) async fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Exchange {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}");
    for header in headers {
        head.push_str("\r\n");
        head.push_str(header);
    }
    raw(addr, head.as_bytes()).await
}

/// Waits (up to 10 s) until at least `count` spans ended: spans end on the server's worker
/// thread when the response body ends, which may be just after the client read the response.
pub(crate) async fn wait_for_spans(recorder: &SpanRecorder, count: usize) -> FinishedSpans {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = recorder.spans();
        if spans.len() >= count || Instant::now() > deadline {
            return spans;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `traceparent` a handler would send on for the current context.
pub(crate) fn current_traceparent() -> String {
    let mut headers = HashMap::new();
    StrictTraceContextPropagator::new().inject_context(&Context::current(), &mut headers);
    headers.remove("traceparent").unwrap_or_default()
}

/// Whether the current span is still recording (not ended yet).
pub(crate) fn current_span_recording() -> bool {
    Context::current().span().is_recording()
}

pub(crate) const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(crate) const PARENT_ID: &str = "00f067aa0ba902b7";

/// An incoming `traceparent` header line with the given flags (`01` sampled, `00` not).
pub(crate) fn traceparent(flags: &str) -> String {
    format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-{flags}")
}
