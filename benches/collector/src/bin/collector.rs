//! The collectors the service exports to, one per case:
//!
//! - `working`: an OTLP/HTTP sink. `POST /v1/traces`, `/v1/metrics` and `/v1/logs` are read to the
//!   end and answered 200 with an empty protobuf body (an empty `Export*ServiceResponse`).
//! - `silent`: accepts connections, reads and discards what arrives, never answers, and keeps
//!   every socket open until the client closes it.
//! - `unreachable`: a loopback port whose connection attempts time out, as with an address that
//!   drops packets: a listener that never accepts, its accept queue filled by one connection of
//!   its own, so the kernel drops every further SYN and the client keeps retransmitting.
//! - `refusing`: a port that was free and is closed again: connections are refused at once.
//!
//! Prints `addr=<ip:port>` on standard output when ready; on SIGTERM or ctrl-c prints what it saw
//! (`collector: ...`) on standard error and exits. `refusing` exits at once.

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Exports received per signal and their bytes, in the order of `PATHS`.
static EXPORTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static BYTES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const PATHS: [&str; 3] = ["/v1/traces", "/v1/metrics", "/v1/logs"];

/// Connections accepted, those the client has closed since, and the most open at once (silent).
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static CLOSED: AtomicU64 = AtomicU64::new(0);
static MOST_OPEN: AtomicU64 = AtomicU64::new(0);

fn ready(addr: std::net::SocketAddr) {
    println!("addr={addr}");
    let _ = std::io::stdout().flush();
}

fn fail(what: &str, error: std::io::Error) -> ! {
    eprintln!("collector: {what}: {error}");
    std::process::exit(1);
}

async fn export(request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, hyper::Error> {
    let signal = PATHS.iter().position(|p| *p == request.uri().path());
    let status = match (request.method(), signal) {
        (&Method::POST, Some(i)) => match request.into_body().collect().await {
            Ok(body) => {
                EXPORTS[i].fetch_add(1, Relaxed);
                BYTES[i].fetch_add(body.to_bytes().len() as u64, Relaxed);
                StatusCode::OK
            }
            Err(_) => StatusCode::BAD_REQUEST,
        },
        _ => StatusCode::NOT_FOUND,
    };
    let mut response = Response::new(Empty::new());
    *response.status_mut() = status;
    if status == StatusCode::OK {
        response
            .headers_mut()
            .insert("content-type", hyper::header::HeaderValue::from_static("application/x-protobuf"));
    }
    Ok(response)
}

async fn working(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        ACCEPTED.fetch_add(1, Relaxed);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(export);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn silent(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let accepted = ACCEPTED.fetch_add(1, Relaxed) + 1;
        MOST_OPEN.fetch_max(accepted - CLOSED.load(Relaxed), Relaxed);
        // Read (so the request is fully sent and the client waits for an answer), never write.
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            CLOSED.fetch_add(1, Relaxed);
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let localhost = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    // Held until exit: the unreachable case's listener and the connection that fills its queue.
    let mut held: Option<(TcpListener, TcpStream)> = None;
    match mode.as_str() {
        "working" | "silent" => {
            let listener = TcpListener::bind(localhost).await.unwrap_or_else(|e| fail("cannot listen", e));
            ready(listener.local_addr().unwrap_or_else(|e| fail("no address", e)));
            if mode == "working" {
                tokio::spawn(working(listener));
            } else {
                tokio::spawn(silent(listener));
            }
        }
        "unreachable" => {
            let socket = TcpSocket::new_v4().unwrap_or_else(|e| fail("no socket", e));
            socket.bind(localhost).unwrap_or_else(|e| fail("cannot bind", e));
            // Backlog 0: one connection fills the accept queue (never accepted); SYNs after it are dropped.
            let listener = socket.listen(0).unwrap_or_else(|e| fail("cannot listen", e));
            let addr = listener.local_addr().unwrap_or_else(|e| fail("no address", e));
            let filler = TcpStream::connect(addr).await.unwrap_or_else(|e| fail("cannot fill the queue", e));
            held = Some((listener, filler));
            ready(addr);
        }
        "refusing" => {
            let listener = std::net::TcpListener::bind(localhost).unwrap_or_else(|e| fail("cannot bind", e));
            ready(listener.local_addr().unwrap_or_else(|e| fail("no address", e)));
            return; // the listener closes: nothing listens there any more
        }
        _ => {
            eprintln!("usage: collector working|silent|unreachable|refusing");
            std::process::exit(2);
        }
    }
    collector_bench::stop_signal().await;
    drop(held);
    let count =
        |i: usize| format!("{}={} ({} KiB)", &PATHS[i][4..], EXPORTS[i].load(Relaxed), BYTES[i].load(Relaxed) / 1024);
    match mode.as_str() {
        "working" => eprintln!(
            "collector: connections={} exports {} {} {}",
            ACCEPTED.load(Relaxed),
            count(0),
            count(1),
            count(2)
        ),
        "silent" => eprintln!(
            "collector: connections={} closed_by_client={} most_open_at_once={}",
            ACCEPTED.load(Relaxed),
            CLOSED.load(Relaxed),
            MOST_OPEN.load(Relaxed)
        ),
        _ => eprintln!("collector: no connection was ever accepted"),
    }
}
