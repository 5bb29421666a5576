//! HTTP across adapters: reqwest -> axum, and axum <-> actix-web, each service with its own
//! tracer provider; one trace, and the same attributes whichever framework serves a route.

use actix_web::{App, HttpServer, web};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{FinishedSpans, SpanRecorder};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use std::net::SocketAddr;

fn traced_client(recorder: &SpanRecorder) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(
            otel_reqwest::OtelMiddleware::builder()
                .tracer_provider(recorder.provider())
                .propagator(StrictTraceContextPropagator::new())
                .build(),
        )
        .build()
}

async fn spans(recorder: &SpanRecorder, count: usize) -> FinishedSpans {
    otel_e2e::spans_when(recorder, |spans| spans.len() >= count).await
}

#[tokio::test]
async fn reqwest_to_axum_is_one_trace() {
    let client_side = SpanRecorder::new();
    let server_side = SpanRecorder::new();
    let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(otel_e2e::tower_layer(&server_side));
    let address = otel_e2e::serve_axum(app).await;

    let tracer = client_side.provider().tracer("test");
    let parent = Context::current_with_span(tracer.start("checkout"));
    let response = traced_client(&client_side)
        .get(format!("http://{address}/users/7"))
        .send()
        .with_context(parent.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    parent.span().end();

    let client_spans = spans(&client_side, 2).await;
    let server_spans = spans(&server_side, 1).await;
    let checkout = client_spans.one("checkout");
    let call = client_spans.one("GET").assert_kind(SpanKind::Client).assert_child_of(&checkout);
    server_spans.one("GET /users/{id}").assert_kind(SpanKind::Server).assert_remote_parent(call.span_context());
}

/// The attributes of a server span that do not depend on which port served it.
fn comparable(spans: &FinishedSpans, name: &str) -> Vec<String> {
    let mut attributes: Vec<String> = spans
        .one(name)
        .attributes()
        .iter()
        .filter(|kv| !matches!(kv.key.as_str(), "server.port" | "network.peer.port"))
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    attributes.sort();
    attributes
}

#[derive(Clone)]
struct Downstream {
    client: ClientWithMiddleware,
    url: String,
}

#[actix_web::test]
async fn axum_calls_actix_and_back_in_one_trace_with_identical_server_attributes() {
    let axum_side = SpanRecorder::new();
    let actix_side = SpanRecorder::new();

    // axum: GET /users/{id} calls actix's /users/{id}; GET /echo/{id} answers directly.
    let axum_client = traced_client(&axum_side);
    let actix_address_slot: std::sync::Arc<std::sync::OnceLock<SocketAddr>> = Default::default();
    let slot = actix_address_slot.clone();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(move |Path(id): Path<String>| {
                let client = axum_client.clone();
                let slot = slot.clone();
                async move {
                    let url = format!("http://{}/users/{id}", slot.get().expect("actix started"));
                    client.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0).to_string()
                }
            }),
        )
        .route("/echo/{id}", get(|Path(id): Path<String>| async move { id }))
        .layer(otel_e2e::tower_layer(&axum_side));
    let axum_address = otel_e2e::serve_axum(app).await;

    // actix: GET /users/{id} calls back axum's /echo/{id}.
    let downstream = Downstream { client: traced_client(&actix_side), url: format!("http://{axum_address}/echo") };
    let middleware = otel_actix::OtelMiddleware::builder()
        .tracer_provider(actix_side.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .build();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(downstream.clone()))
            .wrap(middleware.clone())
            .route(
                "/users/{id}",
                web::get().to(|path: web::Path<String>, downstream: web::Data<Downstream>| async move {
                    let url = format!("{}/{}", downstream.url, path.into_inner());
                    downstream.client.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0).to_string()
                }),
            )
            .route("/echo/{id}", web::get().to(|path: web::Path<String>| async move { path.into_inner() }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let actix_address = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    actix_address_slot.set(actix_address).unwrap();

    // One request into axum: axum -> actix -> axum.
    let plain = reqwest::Client::new();
    let response = plain.get(format!("http://{axum_address}/users/7")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "200");

    let axum_spans = spans(&axum_side, 3).await;
    let actix_spans = spans(&actix_side, 2).await;
    let trace = axum_spans.assert_single_trace();
    assert_eq!(actix_spans.assert_single_trace(), trace, "one trace across both frameworks");

    let entry = axum_spans.one("GET /users/{id}").assert_kind(SpanKind::Server).assert_root();
    let to_actix = axum_spans.one("GET").assert_kind(SpanKind::Client).assert_child_of(&entry);
    let actix_server =
        actix_spans.one("GET /users/{id}").assert_kind(SpanKind::Server).assert_remote_parent(to_actix.span_context());
    let back = actix_spans.one("GET").assert_kind(SpanKind::Client).assert_child_of(&actix_server);
    axum_spans.one("GET /echo/{id}").assert_kind(SpanKind::Server).assert_remote_parent(back.span_context());

    // The same request to the same route shape, served by each framework: the same attribute
    // set. Both are called directly with the same client, so only the ports differ.
    axum_side.reset();
    actix_side.reset();
    let direct =
        |address: SocketAddr| plain.get(format!("http://{address}/echo/7?page=2")).header("user-agent", "e2e").send();
    direct(axum_address).await.unwrap();
    direct(actix_address).await.unwrap();
    let axum_spans = spans(&axum_side, 1).await;
    let actix_spans = spans(&actix_side, 1).await;
    let on_axum = comparable(&axum_spans, "GET /echo/{id}");
    assert_eq!(on_axum, comparable(&actix_spans, "GET /echo/{id}"));
    for expected in
        ["http.route=/echo/{id}", "url.query=page=2", "user_agent.original=e2e", "network.protocol.version=1.1"]
    {
        assert!(on_axum.contains(&expected.to_owned()), "{expected} missing from {on_axum:?}");
    }
}
