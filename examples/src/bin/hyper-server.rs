//! A plain hyper 1 service (no framework, no router) behind otel-tower's layer.
//!
//! ```sh
//! cargo run --bin hyper-server             # sends itself a few requests, prints their traces, exits
//! cargo run --bin hyper-server -- --serve  # keeps serving on http://127.0.0.1:3001
//! ```
//!
//! Without a router the layer cannot know the route template, so we give it a closure that names
//! it: spans are then `GET /orders/{id}` (never `GET /orders/42`, one name per order).

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::borrow::Cow;
use std::convert::Infallible;
use tower::Layer;

/// The service: what a hand-written hyper service looks like.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match request.uri().path().strip_prefix("/orders/") {
        Some(id) => (StatusCode::OK, format!("order {id}\n")),
        None => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    Ok(Response::builder().status(status).body(Full::new(Bytes::from(body))).expect("a valid response"))
}

/// The route extractor: the template our "router" matched, or `None` (the span is then `GET`).
///
/// Any `Fn(&Request<B>) -> Option<Cow<'static, str>>` works. A closure is fine when the service
/// stays on one task; a service moved into `tokio::spawn`, as below, needs a `fn` item like this
/// one (closures there hit a compiler limitation with higher-ranked lifetimes).
fn route(request: &Request<Incoming>) -> Option<Cow<'static, str>> {
    request.uri().path().starts_with("/orders/").then_some(Cow::Borrowed("/orders/{id}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = otel_core::setup::Setup::new()
        .service_name("hyper-server")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    let otel = otel_tower::OtelLayer::builder().route(route).build();
    // A tower service (the layer around our function), adapted to hyper's `Service` trait.
    let service = TowerToHyperService::new(otel.layer(tower::service_fn(handle)));

    let serve = std::env::args().any(|arg| arg == "--serve");
    let listener = tokio::net::TcpListener::bind(if serve { "127.0.0.1:3001" } else { "127.0.0.1:0" }).await?;
    let addr = listener.local_addr()?;
    // hyper's accept loop: one task per connection, HTTP/1 or HTTP/2.
    let accept_loop = tokio::spawn(async move {
        while let Ok((stream, _peer)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    if serve {
        println!("serving on http://{addr}: try curl http://{addr}/orders/42");
        return Ok(accept_loop.await?);
    }

    let client = reqwest::Client::new();
    for path in ["/orders/42", "/orders/43", "/unknown"] {
        let response = client.get(format!("http://{addr}{path}")).send().await?;
        println!("GET {path} -> {}", response.status());
    }
    accept_loop.abort(); // stop accepting; the guard prints the traces when main returns
    Ok(())
}
