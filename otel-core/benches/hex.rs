//! Parses `traceparent` headers N times (N from the command line), for `benches/hex.sh`, which
//! counts the instructions per parse of the SSE2 and the portable hex parser.

use otel_core::propagation::Traceparent;
use std::hint::black_box;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    let headers = [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
    ];
    let mut kept = 0usize;
    for i in 0..n {
        kept += usize::from(Traceparent::parse(black_box(headers[i % headers.len()])).is_some());
    }
    println!("{kept} of {n} parsed");
}
