//! actix-web + otel-actix: one middleware gives every request a SERVER span named from actix's
//! matched pattern (`GET /api/users/{id}`), with the same attributes otel-tower records for axum.
//!
//! ```sh
//! cargo run --bin actix-server             # sends itself a few requests, prints their traces, exits
//! cargo run --bin actix-server -- --serve  # keeps serving on http://127.0.0.1:3002
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};
use otel_actix::OtelMiddleware;
use otel_core::config::HttpServerConfig;

async fn user(id: web::Path<u32>) -> HttpResponse {
    match id.into_inner() {
        0 => HttpResponse::InternalServerError().body("user 0 is broken\n"), // a 5xx: span status Error
        id => HttpResponse::Ok().body(format!("user {id}\n")),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The SDK first (the middleware takes the global tracer provider when it is built).
    let _guard = otel_core::setup::Setup::new()
        .service_name("actix-server")
        .default_exporter(otel_core::setup::TracesExporter::Waterfall) // an OTLP endpoint still wins
        .install();

    // Built once, cloned into every worker; `/health` gets no span. `OTEL_RUST_ACTIX_EXCLUDED_URLS`
    // excludes more from the environment.
    let otel = OtelMiddleware::builder().config(HttpServerConfig::builder().exclude_path("/health")).build();

    let serve = std::env::args().any(|arg| arg == "--serve");
    let server = HttpServer::new(move || {
        App::new()
            .wrap(otel.clone())
            .service(web::scope("/api").route("/users/{id}", web::get().to(user)))
            .route("/health", web::get().to(|| async { "ok\n" }))
    })
    .workers(1)
    .bind(("127.0.0.1", if serve { 3002 } else { 0 }))?;
    let addr = server.addrs()[0];
    let server = server.run();
    if serve {
        println!("serving on http://{addr}: try curl http://{addr}/api/users/42");
        return server.await;
    }

    // Serve in the background and call ourselves with a plain (untraced) awc client.
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);
    let client = awc::Client::default();
    for path in ["/api/users/42", "/api/users/0", "/health"] {
        match client.get(format!("http://{addr}{path}")).send().await {
            Ok(response) => println!("GET {path} -> {}", response.status()),
            Err(error) => println!("GET {path} failed: {error}"),
        }
    }
    handle.stop(true).await; // graceful: in-flight requests finish, their spans end
    running.await.ok();
    Ok(()) // the guard flushes: the waterfall shows two traces, the 500 marked with ✗
}
