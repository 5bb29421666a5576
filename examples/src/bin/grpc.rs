//! tonic + otel-tower: a gRPC greeter server and its client, each call one trace of two spans
//! named `helloworld.Greeter/SayHello` (CLIENT, then SERVER under it).
//!
//! ```sh
//! cargo run --bin grpc   # greets twice (once with an error status), prints the traces, exits
//! ```
//!
//! The server gets one layer, `OtelLayer`, as an HTTP server would: it recognises gRPC calls by
//! their `content-type` and gives them the RPC conventions (status from `grpc-status`), while
//! any REST route on the same server keeps HTTP's. The client wraps its `Channel` in
//! `OtelClientLayer`, told the channel's origin for `server.address`.

use otel_examples::greeter;
use otel_tower::{OtelClientLayer, OtelLayer};
use tonic::transport::Endpoint;
use tonic::transport::server::TcpIncoming;
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The SDK, from the standard OTEL_* variables (with nothing set, each finished trace is
    //    printed on standard error). Keep the guard: dropping it flushes.
    let _guard = otel_core::setup::Setup::new()
        .service_name("greeter")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    // 2. The server: one layer on tonic's `Server`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(OtelLayer::new())
            .add_service(greeter::Greeter)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async { stopped.await.unwrap_or_default() }),
    );

    // 3. The client: its channel behind the client layer, which is told the channel's origin
    //    (the channel adds it below the layer).
    let origin = format!("http://{addr}");
    let channel = Endpoint::from_shared(origin.clone())?.connect().await?;
    let channel = OtelClientLayer::builder().origin(origin.parse()?).build().layer(channel);
    let mut client = tonic::client::Grpc::new(channel);

    for name in ["world", ""] {
        match greeter::say_hello(&mut client, name).await {
            Ok(message) => println!("SayHello({name:?}) -> {message}"),
            Err(status) => println!("SayHello({name:?}) -> {:?}: {}", status.code(), status.message()),
        }
    }

    stop.send(()).ok();
    server.await??;
    println!("the waterfall below shows 2 traces: the second call's client span is an error (INVALID_ARGUMENT)");
    Ok(()) // `_guard` is dropped here: the pending traces are printed
}
