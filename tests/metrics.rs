//! Metrics on by default: with a global meter provider installed before the adapters are built,
//! every adapter records its conventions' duration metric without being told to, and
//! `metrics(false)` turns one off. One test: the global provider is process-wide.

use actix_web::{App, HttpServer, web};
use awc::Client;
use axum::Router;
use axum::routing::get;
use otel_actix::client::ClientRequestExt;
use otel_core::metrics::global_meter_provider_installed;
use otel_core::testing::MetricRecorder;
use otel_sqlx::TracedPool;
use otel_tower::OtelLayer;
use reqwest_middleware::ClientBuilder;

/// The points of `name` whose attributes contain every one of `needles`, and their total count.
fn count(metrics: &MetricRecorder, name: &str, needles: &[&str]) -> u64 {
    metrics
        .histogram(name)
        .iter()
        .filter(|(attributes, _)| needles.iter().all(|needle| attributes.split(' ').any(|a| a == *needle)))
        .map(|(_, count)| count)
        .sum()
}

#[actix_web::test]
async fn every_adapter_records_its_metrics_once_a_meter_provider_is_installed() {
    assert!(!global_meter_provider_installed(), "the API's no-op provider is not an installed one");
    let metrics = MetricRecorder::new();
    opentelemetry::global::set_meter_provider(metrics.provider().clone());
    assert!(global_meter_provider_installed());

    // axum: one router with the default layer, one with metrics turned off.
    let on = Router::new().route("/on/{id}", get(|| async { "on" })).layer(OtelLayer::new());
    let off =
        Router::new().route("/off/{id}", get(|| async { "off" })).layer(OtelLayer::builder().metrics(false).build());
    let axum_address = otel_e2e::serve_axum(on.merge(off)).await;

    // actix-web with the default middleware.
    let server = HttpServer::new(|| {
        App::new().wrap(otel_actix::OtelMiddleware::new()).route("/actix/{id}", web::get().to(|| async { "actix" }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let actix_address = server.addrs()[0];
    actix_web::rt::spawn(server.run());

    // reqwest and awc with their defaults.
    let reqwest = ClientBuilder::new(reqwest::Client::new()).with(otel_reqwest::OtelMiddleware::default()).build();
    for path in ["on/1", "off/1"] {
        assert!(reqwest.get(format!("http://{axum_address}/{path}")).send().await.unwrap().status().is_success());
    }
    let awc = Client::default();
    let response = awc.get(format!("http://{actix_address}/actix/2")).send_traced().await.unwrap();
    assert!(response.status().is_success());

    // Redis and PostgreSQL with their defaults.
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    let inner = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| {
        panic!("Redis is not reachable at {url} ({e}): start it with `scripts/services.sh start`, or set REDIS_URL")
    });
    let mut con = otel_redis::TracedConnection::builder().connection_info(client.get_connection_info()).build(inner);
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
    let pool = TracedPool::builder().build(otel_e2e::postgres().await);
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();

    let server = "http.server.request.duration";
    assert_eq!(count(&metrics, server, &["http.route=/on/{id}", "http.response.status_code=200"]), 1);
    assert_eq!(count(&metrics, server, &["http.route=/off/{id}"]), 0, "metrics(false) records nothing");
    assert_eq!(count(&metrics, server, &["http.route=/actix/{id}", "http.response.status_code=200"]), 1);
    let client = "http.client.request.duration";
    assert_eq!(count(&metrics, client, &["server.address=127.0.0.1", "http.response.status_code=200"]), 3);
    let db = "db.client.operation.duration";
    assert_eq!(count(&metrics, db, &["db.system.name=redis", "db.operation.name=PING"]), 1);
    assert_eq!(count(&metrics, db, &["db.system.name=postgresql", "db.query.summary=SELECT"]), 1);
}
