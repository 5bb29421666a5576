//! awc + otel-actix's client extension: every request is a CLIENT span whose context travels in
//! the `traceparent` header, so the (instrumented) server continues the same trace.
//!
//! ```sh
//! cargo run --bin awc-client
//! ```

use actix_web::{App, HttpRequest, HttpServer, web};
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer};
use opentelemetry::{Context, global};
use otel_actix::OtelMiddleware;
use otel_actix::client::{ClientRequestExt, ClientTracing};

/// The server echoes the `traceparent` it received, to show what went over the wire.
async fn user(request: HttpRequest) -> String {
    let traceparent = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("none");
    format!("received traceparent {traceparent}")
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = otel_core::setup::Setup::new()
        .service_name("awc-client")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    // A local server with the server middleware, so the waterfall shows both sides.
    let otel = OtelMiddleware::new();
    let server = HttpServer::new(move || App::new().wrap(otel.clone()).route("/users/{id}", web::get().to(user)))
        .workers(1)
        .bind(("127.0.0.1", 0))?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);

    // A parent span for the client calls (a job, a message handler, or a server span in real life).
    let job = Context::current_with_span(global::tracer("awc-client").start("sync users"));
    let client = awc::Client::default();
    async {
        // 1. The shortest form: the global provider and propagator.
        let mut response = client.get(format!("http://{addr}/users/1")).send_traced().await?;
        println!("send_traced: {}", String::from_utf8_lossy(&response.body().await?));

        // 2. Configured once and reused; a URL template names the span `GET /users/{id}`.
        let tracing = ClientTracing::new();
        let mut response =
            client.get(format!("http://{addr}/users/2")).traced(&tracing).url_template("/users/{id}").send().await?;
        println!("traced + url_template: {}", String::from_utf8_lossy(&response.body().await?));
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .with_context(job.clone()) // makes `job` the current context while the calls run
    .await?;
    job.span().end();
    println!("trace id: {}", job.span().span_context().trace_id());

    handle.stop(true).await;
    running.await.ok();
    Ok(()) // the guard prints one trace: sync users → GET → GET /users/{id} (server), twice
}
