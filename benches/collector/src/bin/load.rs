//! The load generator: `load <ip:port> <seconds> [connections] [rate]`.
//!
//! Each of `connections` workers (default 32) keeps one HTTP/1.1 keep-alive connection and sends
//! its next request when the previous response has been read to the end, until the duration is
//! over. With a `rate` (requests/s in all, default 0), each worker sends on a fixed schedule of its
//! share and a request's latency counts from when it was due, as wrk2 does, so a service that
//! stalls is not hidden by the load generator waiting for it; with 0, as fast as answered (wrk's
//! closed loop: the machine's maximum throughput). Requests carry what real clients send (Host,
//! User-Agent, Accept and a sampled `traceparent` with a fresh trace id) and alternate between
//! `/users/{id}` and `/users/{id}/orders`. One thread, so that it takes at most one core.
//!
//! Prints one line: `requests= errors= seconds= rps= p50_ms= p99_ms= max_ms=` (latency to the end
//! of the response body, successful requests only).

use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

struct Worker {
    /// Microseconds per successful request.
    latencies: Vec<u32>,
    errors: u64,
}

/// xorshift64: distinct trace ids, ids and paths without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `interval`: time between two requests of this worker from `first`, `None` for as fast as answered.
async fn worker(addr: String, seed: u64, first: Instant, deadline: Instant, interval: Option<Duration>) -> Worker {
    let mut result = Worker { latencies: Vec::with_capacity(64 * 1024), errors: 0 };
    let mut state = seed | 1;
    let mut due = first;
    'connect: while Instant::now() < deadline {
        let stream = match TcpStream::connect(&addr).await {
            Ok(stream) => stream,
            Err(_) => {
                result.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await; // no busy loop on a dead service
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, connection)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
            result.errors += 1;
            continue;
        };
        tokio::spawn(connection);
        while Instant::now() < deadline {
            let id = next(&mut state) % 100_000;
            let path = if id.is_multiple_of(2) { format!("/users/{id}") } else { format!("/users/{id}/orders") };
            let traceparent =
                format!("00-{:016x}{:016x}-{:016x}-01", next(&mut state), next(&mut state), next(&mut state));
            let request = Request::get(path)
                .header("host", &addr)
                .header("user-agent", "collector-bench-load/0.1")
                .header("accept", "application/json")
                .header("traceparent", traceparent)
                .body(Empty::<Bytes>::new());
            let Ok(request) = request else {
                result.errors += 1;
                continue;
            };
            let start = match interval {
                Some(interval) => {
                    tokio::time::sleep_until(due.into()).await;
                    let was_due = due;
                    due += interval;
                    was_due
                }
                None => Instant::now(),
            };
            if start >= deadline {
                break 'connect;
            }
            let ok = match sender.send_request(request).await {
                Ok(response) => {
                    let success = response.status().is_success();
                    response.into_body().collect().await.is_ok() && success
                }
                Err(_) => false,
            };
            if !ok {
                result.errors += 1;
                continue 'connect; // the connection may be unusable: open a new one
            }
            result.latencies.push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
        }
    }
    result
}

fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(Ok(seconds))) = (args.get(1), args.get(2).map(|s| s.parse::<f64>())) else {
        eprintln!("usage: load <ip:port> <seconds> [connections] [rate]");
        std::process::exit(2);
    };
    let connections = args.get(3).and_then(|s| s.parse::<u64>().ok()).unwrap_or(32).max(1);
    let rate = args.get(4).and_then(|s| s.parse::<f64>().ok()).filter(|r| r.is_finite() && *r > 0.0);
    let interval = rate.map(|rate| Duration::from_secs_f64(connections as f64 / rate));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds.max(0.1));
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            // The workers' schedules spread over one interval, so that they do not send in bursts.
            let first = start + interval.map_or(Duration::ZERO, |d| d.mul_f64(i as f64 / connections as f64));
            tokio::spawn(worker(addr.clone(), 0x9e37_79b9_7f4a_7c15 ^ (i + 1), first, deadline, interval))
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for handle in workers {
        match handle.await {
            Ok(worker) => {
                latencies.extend(worker.latencies);
                errors += worker.errors;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "requests={} errors={errors} seconds={elapsed:.2} rps={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        percentile_ms(&latencies, 100.0)
    );
}
