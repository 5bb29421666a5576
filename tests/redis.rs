//! Redis under an HTTP server span: command spans are the request's children, and what SET
//! stored never appears in any span.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SdkTracer;
use otel_core::testing::SpanRecorder;
use otel_redis::TracedConnection;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

const SECRET: &str = "card-4111-1111-1111-1111";

async fn redis(recorder: &SpanRecorder) -> TracedConnection<MultiplexedConnection, SdkTracer> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    let inner = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| {
        panic!("Redis is not reachable at {url} ({e}): start it with `scripts/services.sh start`, or set REDIS_URL")
    });
    TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .connection_info(client.get_connection_info())
        .build(inner)
}

#[tokio::test]
async fn commands_are_children_of_the_request_and_values_never_appear() {
    let recorder = SpanRecorder::new();
    let con = redis(&recorder).await;
    let app = Router::new()
        .route(
            "/cards",
            post(|State(mut con): State<TracedConnection<MultiplexedConnection, SdkTracer>>| async move {
                let _: () = con.set("e2e:card:42", SECRET).await.unwrap();
                let stored: String = con.get("e2e:card:42").await.unwrap();
                let _: () = con.del("e2e:card:42").await.unwrap();
                stored.len().to_string()
            }),
        )
        .with_state(con)
        .layer(otel_e2e::tower_layer(&recorder));
    let address = otel_e2e::serve_axum(app).await;

    let response = reqwest::Client::new().post(format!("http://{address}/cards")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), SECRET.len().to_string());

    let spans = otel_e2e::spans_when(&recorder, |spans| spans.len() >= 4).await;
    spans.assert_count(4).assert_single_trace();
    let request = spans.one("POST /cards").assert_kind(SpanKind::Server);
    for command in ["SET", "GET", "DEL"] {
        spans.one(command).assert_kind(SpanKind::Client).assert_child_of(&request);
    }
    spans.one("SET").assert_attr("db.query.text", "SET e2e:card:42 ?");
    for span in spans.iter() {
        for kv in span.attributes() {
            assert!(!kv.value.to_string().contains(SECRET), "the value leaked into {} of {}", kv.key, span.name());
        }
    }
}
