//! Collectors that accept connections and never answer: every export hangs until its timeout.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A gRPC port and an HTTP port that accept connections, read and discard what is sent (so that
/// no client blocks writing its request) and never answer; a connection stays open until the
/// client closes it. It runs until the test process ends.
pub struct SilentCollector {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl SilentCollector {
    pub fn start() -> Self {
        let accepted = Arc::new(AtomicUsize::new(0));
        Self { grpc: listen(accepted.clone()), http: listen(accepted.clone()), accepted }
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Connections accepted so far on both ports: tells that an exporter did try.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// One silent port.
pub fn unresponsive_collector() -> SocketAddr {
    listen(Arc::default())
}

fn listen(accepted: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("the listener's address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            accepted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buffer = [0; 8192];
                while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
            });
        }
    });
    address
}
