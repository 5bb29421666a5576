//! otel-redis against a real Redis on 127.0.0.1 (REDIS_URL overrides it), and against Redis
//! instances these tests start themselves (password-protected, restarted).

mod support;

use opentelemetry::trace::{FutureExt, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SdkTracer};
use otel_core::testing::{SpanRecorder, remote_context};
use otel_redis::{RedisRequest, RedisResponse, TracedConnection};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{redis_url, unreachable};

/// A client and a plain multiplexed connection to the test server.
async fn plain_connection() -> (redis::Client, MultiplexedConnection) {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| unreachable(&url, e));
    let inner = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| unreachable(&url, e));
    (client, inner)
}

async fn connect(recorder: &SpanRecorder) -> TracedConnection<MultiplexedConnection, SdkTracer> {
    let (client, inner) = plain_connection().await;
    TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .connection_info(client.get_connection_info())
        .build(inner)
}

/// The attributes every command span of the default server carries, plus `extra`.
fn expected(operation: &'static str, text: &str, extra: &[KeyValue]) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("db.system.name", "redis"),
        KeyValue::new("db.operation.name", operation),
        KeyValue::new("db.namespace", "0"),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("db.query.text", text.to_owned()),
    ];
    attributes.extend_from_slice(extra);
    attributes
}

/// Panics when `needle` appears in any attribute of any span.
fn assert_nowhere(recorder: &SpanRecorder, needle: &str) {
    for span in recorder.spans().iter() {
        for kv in span.attributes() {
            assert!(!kv.value.to_string().contains(needle), "{needle:?} leaked into {} of {:?}", kv.key, span.name());
        }
        for event in span.data().events.iter() {
            for kv in &event.attributes {
                assert!(!kv.value.to_string().contains(needle), "{needle:?} leaked into an event of {:?}", span.name());
            }
        }
        assert!(!span.name().contains(needle));
    }
}

#[tokio::test]
async fn common_commands_have_exact_attribute_sets_and_no_values() {
    let recorder = SpanRecorder::new();
    let mut con = connect(&recorder).await;
    let (k, h, n) = ("otel-redis:common:k", "otel-redis:common:h", "otel-redis:common:n");
    let _: () = con.set(k, "s3cr3t-value").await.unwrap();
    let got: String = con.get(k).await.unwrap();
    assert_eq!(got, "s3cr3t-value", "values pass through unchanged");
    let _: () = con.hset(h, "field", "s3cr3t-value").await.unwrap();
    let _: Vec<Option<String>> = con.mget(&[k, h]).await.unwrap();
    let _: () = con.expire(k, 60).await.unwrap();
    let _: i64 = con.incr(n, 5).await.unwrap();
    let _: () = con.del(&[k, h, n]).await.unwrap();

    let spans = recorder.spans();
    spans.assert_count(7);
    let check = |name: &'static str, text: &str| {
        spans.one(name).assert_kind(SpanKind::Client).assert_status_unset().assert_attrs_exactly(&expected(
            name,
            text,
            &[],
        ));
    };
    check("SET", &format!("SET {k} ?"));
    check("GET", &format!("GET {k}"));
    check("HSET", &format!("HSET {h} ? ?"));
    check("MGET", &format!("MGET {k} {h}"));
    check("EXPIRE", &format!("EXPIRE {k} ?"));
    check("INCRBY", &format!("INCRBY {n} ?"));
    check("DEL", &format!("DEL {k} {h} {n}"));
    assert_nowhere(&recorder, "s3cr3t-value");
}

#[tokio::test]
async fn a_nil_reply_is_not_an_error() {
    let recorder = SpanRecorder::new();
    let mut con = connect(&recorder).await;
    let missing: Option<String> = con.get("otel-redis:nil:missing").await.unwrap();
    assert_eq!(missing, None);
    recorder.spans().one("GET").assert_status_unset().assert_no_attr("error.type");
}

#[tokio::test]
async fn a_wrong_type_error_records_the_resp_prefix_and_passes_through() {
    let recorder = SpanRecorder::new();
    let mut con = connect(&recorder).await;
    let k = "otel-redis:wrongtype:k";
    let _: () = con.set(k, "string").await.unwrap();
    let error = con.lpush::<_, _, ()>(k, "x").await.unwrap_err();
    assert_eq!(error.code(), Some("WRONGTYPE"), "the caller sees Redis's own error");
    let _: () = con.del(k).await.unwrap();
    recorder.spans().one("LPUSH").assert_status_error().assert_attrs_exactly(&expected(
        "LPUSH",
        &format!("LPUSH {k} ?"),
        &[KeyValue::new("db.response.status_code", "WRONGTYPE"), KeyValue::new("error.type", "WRONGTYPE")],
    ));
}

#[tokio::test]
async fn lua_scripts_by_eval_and_evalsha() {
    let recorder = SpanRecorder::new();
    let mut con = connect(&recorder).await;
    let k = "otel-redis:lua:k";
    let _: () = con.set(k, "v").await.unwrap();
    let body = "return redis.call('GET', KEYS[1])";
    let by_eval: String = redis::cmd("EVAL").arg(body).arg(1).arg(k).query_async(&mut con).await.unwrap();
    assert_eq!(by_eval, "v");
    let script = redis::Script::new(body);
    let by_sha: String = script.key(k).invoke_async(&mut con).await.unwrap();
    assert_eq!(by_sha, "v");
    let _: () = con.del(k).await.unwrap();

    let spans = recorder.spans();
    spans.one("EVAL").assert_attrs_exactly(&expected("EVAL", &format!("EVAL ? 1 {k}"), &[]));
    let sha = script.get_hash();
    let evalsha = spans.named("EVALSHA");
    let ok = evalsha.iter().find(|s| s.attr("error.type").is_none()).expect("a successful EVALSHA");
    ok.assert_attrs_exactly(&expected(
        "EVALSHA",
        &format!("EVALSHA {sha} 1 {k}"),
        &[KeyValue::new("db.stored_procedure.name", sha.to_owned())],
    ));
    assert_nowhere(&recorder, "redis.call");
}

#[tokio::test]
async fn pipelines_and_transactions() {
    let recorder = SpanRecorder::new();
    let mut con = connect(&recorder).await;
    let (a, b) = ("otel-redis:pipe:a", "otel-redis:pipe:b");
    let _: () = redis::pipe().set(a, 1).ignore().set(b, 2).ignore().query_async(&mut con).await.unwrap();
    let (x, y): (i64, i64) = redis::pipe().get(a).incr(b, 1).query_async(&mut con).await.unwrap();
    assert_eq!((x, y), (1, 3));
    let (n,): (i64,) = redis::pipe().atomic().incr(a, 10).query_async(&mut con).await.unwrap();
    assert_eq!(n, 11);
    let _: () = con.del(&[a, b]).await.unwrap();

    let spans = recorder.spans();
    let batch = |size: i64| [KeyValue::new("db.operation.batch.size", size)];
    spans.one("PIPELINE SET").assert_attrs_exactly(&expected(
        "PIPELINE SET",
        &format!("SET {a} ?\nSET {b} ?"),
        &batch(2),
    ));
    spans.one("PIPELINE").assert_attrs_exactly(&expected("PIPELINE", &format!("GET {a}\nINCRBY {b} ?"), &batch(2)));
    spans.one("MULTI").assert_attrs_exactly(&expected("MULTI", &format!("INCRBY {a} ?"), &[]));
}

/// A Redis server these tests start, on a free port; killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start(port: Option<u16>, password: Option<&str>) -> Self {
        let port = port.unwrap_or_else(|| TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
        let mut command = Command::new("redis-server");
        command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): install it with `scripts/services.sh start` (apt package redis-server)")
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server on port {port} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn auth_and_hello_never_record_credentials() {
    const PASSWORD: &str = "pw-7d1e-never-recorded";
    let server = RedisServer::start(None, Some(PASSWORD));
    let recorder = SpanRecorder::new();
    let client = redis::Client::open(server.url()).unwrap();
    let inner = client.get_multiplexed_async_connection().await.unwrap();
    let mut con = TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .connection_info(client.get_connection_info())
        .build(inner);
    let denied = con.set::<_, _, ()>("k", "v").await.unwrap_err();
    assert_eq!(denied.code(), Some("NOAUTH"));
    let _: () = redis::cmd("AUTH").arg(PASSWORD).query_async(&mut con).await.unwrap();
    let _: redis::Value =
        redis::cmd("HELLO").arg(2).arg("AUTH").arg("default").arg(PASSWORD).query_async(&mut con).await.unwrap();
    let _: () = con.set("k", "v").await.unwrap();

    let port = KeyValue::new("server.port", i64::from(server.port));
    let spans = recorder.spans();
    spans.one("AUTH").assert_status_unset().assert_attrs_exactly(&[
        KeyValue::new("db.system.name", "redis"),
        KeyValue::new("db.operation.name", "AUTH"),
        KeyValue::new("db.namespace", "0"),
        KeyValue::new("server.address", "127.0.0.1"),
        port.clone(),
        KeyValue::new("db.query.text", "AUTH"),
    ]);
    spans.one("HELLO").assert_attr("db.query.text", "HELLO");
    let first_set = spans.named("SET");
    assert_eq!(first_set.len(), 2);
    first_set[0].assert_attr("error.type", "NOAUTH").assert_attr("server.port", i64::from(server.port));
    assert_nowhere(&recorder, PASSWORD);
}

/// A traced `ConnectionManager` (it reconnects) to `server`.
async fn managed(server: &RedisServer, recorder: &SpanRecorder) -> TracedConnection<ConnectionManager, SdkTracer> {
    let client = redis::Client::open(server.url()).unwrap();
    let inner = ConnectionManager::new(client.clone()).await.unwrap();
    TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .connection_info(client.get_connection_info())
        .build(inner)
}

#[tokio::test]
async fn a_restarted_server_is_recorded_as_an_error_without_panic() {
    let server = RedisServer::start(None, None);
    let port = server.port;
    let recorder = SpanRecorder::new();
    let mut con = managed(&server, &recorder).await;
    let _: () = con.set("k", "before").await.unwrap();

    drop(server); // the server goes away mid-run
    let failed = con.get::<_, Option<String>>("k").await;
    assert!(failed.is_err(), "the command fails while the server is down");

    let _server = RedisServer::start(Some(port), None);
    let mut recovered = None;
    for _ in 0..50 {
        match con.set::<_, _, ()>("k", "after").await {
            Ok(()) => {
                recovered = Some(());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(recovered.is_some(), "the connection manager reconnects");

    let spans = recorder.spans();
    let get = spans.one("GET");
    get.assert_status_error();
    let error_type = get.attr("error.type").expect("error.type").to_string();
    assert!(
        ["connection_dropped", "io", "connection_refused", "timeout"].contains(&error_type.as_str()),
        "a low-cardinality error.type, got {error_type:?}"
    );
    assert!(spans.named("SET").iter().any(|s| s.attr("error.type").is_none() && s.attr("db.query.text").is_some()));
}

/// The server killed while a pipeline waits on it, then restarted: the pipeline fails with
/// redis's own error, its span records it, nothing hangs, and once the server is back the next
/// pipeline is traced as usual.
#[tokio::test]
async fn a_server_killed_during_a_pipeline_fails_it_with_the_clients_error_and_the_next_is_traced() {
    let server = RedisServer::start(None, None);
    let port = server.port;
    let recorder = SpanRecorder::new();
    let mut con = managed(&server, &recorder).await;
    // The pipeline waits on BLPOP (5 s) while the server is killed under it.
    let mut waiting = redis::pipe();
    waiting.set("otel-redis:restart:k", "v").ignore().blpop("otel-redis:restart:empty", 5.0);
    let kill = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(server);
    });
    let failed = tokio::time::timeout(Duration::from_secs(10), waiting.query_async::<redis::Value>(&mut con))
        .await
        .expect("the pipeline returns once its server is gone");
    kill.join().unwrap();
    let error = failed.expect_err("the pipeline fails with its server");
    assert!(error.is_io_error() || error.is_connection_dropped(), "redis's own connection error: {error:?}");

    let _server = RedisServer::start(Some(port), None);
    let mut recovered = false;
    for _ in 0..50 {
        let again = redis::pipe().set("otel-redis:restart:k", "w").ignore().get("otel-redis:restart:k").to_owned();
        match again.query_async::<(String,)>(&mut con).await {
            Ok((value,)) => {
                assert_eq!(value, "w");
                recovered = true;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(recovered, "the connection manager reconnects");

    let spans = recorder.spans();
    let pipelines = spans.named("PIPELINE");
    let first = &pipelines[0];
    assert!(first.attr("db.query.text").is_some_and(|text| text.as_str().contains("BLPOP")), "{}", spans.describe());
    first.assert_status_error();
    let error_type = first.attr("error.type").expect("error.type").to_string();
    assert!(
        ["connection_dropped", "io"].contains(&error_type.as_str()),
        "a low-cardinality error.type: {error_type:?}"
    );
    let last = pipelines.last().expect("the pipeline after the restart");
    last.assert_status_unset();
    assert!(last.attr("error.type").is_none());
}

#[tokio::test]
async fn spans_nest_under_the_current_span_and_clones_share_settings() {
    let recorder = SpanRecorder::new();
    let con = connect(&recorder).await;
    let tracer = recorder.provider().tracer("test");
    let parent = tracer.start("GET /users/{id}");
    let cx = Context::current_with_span(parent);
    let mut clone = con.clone();
    async {
        let _: Option<String> = clone.get("otel-redis:nest:k").await.unwrap();
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();
    let spans = recorder.spans();
    let parent = spans.one("GET /users/{id}");
    spans.one("GET").assert_child_of(&parent);
}

/// A command given up before its reply (a timeout around it) still ends its span, once and
/// without an error, and the connection goes on working: on a multiplexed connection (whose own
/// future the traced one holds unboxed) and on a connection manager (whose boxed future it wraps).
#[tokio::test]
async fn a_command_dropped_before_its_reply_ends_its_span_once() {
    async fn give_up_then_go_on<C: redis::aio::ConnectionLike + Send + Sync + 'static>(
        mut con: TracedConnection<C, SdkTracer>,
    ) {
        // Blocks in Redis for 200 ms (nothing is ever pushed to the key); abandoned after 20.
        let mut blpop = redis::cmd("BLPOP");
        blpop.arg("otel-redis:dropped-command:never").arg(0.2);
        let abandoned =
            tokio::time::timeout(Duration::from_millis(20), blpop.query_async::<Option<Vec<String>>>(&mut con));
        assert!(abandoned.await.is_err(), "BLPOP should still be blocked after 20 ms");
        let after: Option<String> = con.get("otel-redis:dropped-command:after").await.unwrap();
        assert_eq!(after, None);
    }
    let (client, inner) = plain_connection().await;
    let manager = ConnectionManager::new(client.clone()).await.unwrap();
    for multiplexed in [true, false] {
        let recorder = SpanRecorder::new();
        let builder = TracedConnection::builder()
            .tracer_provider(recorder.provider())
            .connection_info(client.get_connection_info());
        if multiplexed {
            give_up_then_go_on(builder.build(inner.clone())).await;
        } else {
            give_up_then_go_on(builder.build(manager.clone())).await;
        }
        let spans = recorder.spans();
        spans.assert_count(2);
        spans.one("BLPOP").assert_status_unset().assert_no_attr("error.type");
        spans.one("GET").assert_status_unset();
    }
}

#[tokio::test]
async fn parent_only_tracing_skips_commands_without_a_sampled_parent() {
    let recorder = SpanRecorder::new();
    let (_, inner) = plain_connection().await;
    let mut con =
        TracedConnection::builder().tracer_provider(recorder.provider()).require_sampled_parent(true).build(inner);
    let _: Option<String> = con.get("otel-redis:parent-only:root").await.unwrap();
    let unsampled = remote_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    let _: Option<String> = con.get("otel-redis:parent-only:unsampled").with_context(unsampled).await.unwrap();
    assert!(recorder.spans().is_empty(), "no span without a sampled parent");
    let sampled = remote_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let _: Option<String> = con.get("otel-redis:parent-only:child").with_context(sampled.clone()).await.unwrap();
    recorder.spans().one("GET").assert_remote_parent(sampled.span().span_context());
}

#[tokio::test]
async fn an_unsampled_parent_exports_nothing() {
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let mut con = connect(&recorder).await;
    let unsampled = remote_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    let _: () = con.set("otel-redis:unsampled:k", "v").with_context(unsampled).await.unwrap();
    assert!(recorder.spans().is_empty());
}

#[tokio::test]
async fn a_sampler_that_drops_under_a_sampled_parent_exports_nothing() {
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let mut con = connect(&recorder).await;
    let sampled = remote_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let _: () = con.set("otel-redis:dropped:k", "v").with_context(sampled).await.unwrap();
    assert!(recorder.spans().is_empty());
}

/// `db.client.operation.duration`: one point per command, whether or not it has a span (here
/// parent-only tracing leaves most commands without one), with the span's low-cardinality
/// attributes and, on failure, the error's.
#[tokio::test]
async fn every_command_is_measured_with_or_without_a_span() {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let recorder = SpanRecorder::new();
    let (client, inner) = plain_connection().await;
    let mut con = TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .connection_info(client.get_connection_info())
        .require_sampled_parent(true)
        .meter_provider(&meters)
        .build(inner);
    let k = "otel-redis:metrics:k";
    let _: () = con.set(k, "v").await.unwrap();
    let sampled = remote_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let _: Option<String> = con.get(k).with_context(sampled).await.unwrap();
    con.lpush::<_, _, ()>(k, "x").await.unwrap_err();
    let _: (String, String) = redis::pipe().get(k).get(k).query_async(&mut con).await.unwrap();
    let _: () = con.del(k).await.unwrap();

    recorder.spans().assert_count(1);
    recorder.spans().one("GET");
    meters.force_flush().unwrap();
    let mut points = Vec::new();
    for resource in exporter.get_finished_metrics().unwrap() {
        for metric in resource.scope_metrics().flat_map(|scope| scope.metrics()) {
            if metric.name() != "db.client.operation.duration" {
                continue;
            }
            assert_eq!(metric.unit(), "s");
            let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
                panic!("db.client.operation.duration is not an f64 histogram")
            };
            for point in histogram.data_points() {
                let mut attributes: Vec<String> =
                    point.attributes().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                attributes.sort();
                points.push((attributes, point.count()));
            }
        }
    }
    points.sort();
    let point = |operation: &str, failure: &[&str]| {
        let mut attributes: Vec<String> = [
            "db.namespace=0".to_owned(),
            format!("db.operation.name={operation}"),
            "db.system.name=redis".to_owned(),
            "server.address=127.0.0.1".to_owned(),
        ]
        .into_iter()
        .chain(failure.iter().map(|s| (*s).to_owned()))
        .collect();
        attributes.sort();
        (attributes, 1)
    };
    let mut expected = vec![
        point("DEL", &[]),
        point("GET", &[]),
        point("LPUSH", &["db.response.status_code=WRONGTYPE", "error.type=WRONGTYPE"]),
        point("PIPELINE GET", &[]),
        point("SET", &[]),
    ];
    expected.sort();
    assert_eq!(points, expected);
}

#[tokio::test]
async fn query_text_can_be_turned_off_and_hooks_add_attributes() {
    let recorder = SpanRecorder::new();
    let (_, inner) = plain_connection().await;
    let mut con = TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .query_text(false)
        .request_hook(|span: &opentelemetry::trace::SpanRef<'_>, request: &RedisRequest<'_>| {
            if let RedisRequest::Command(cmd) = request {
                span.set_attribute(KeyValue::new("app.args", cmd.args_iter().len() as i64));
            }
        })
        .response_hook(|span: &opentelemetry::trace::SpanRef<'_>, response: &RedisResponse<'_>| {
            let nil = matches!(response, RedisResponse::Value(redis::Value::Nil));
            span.set_attribute(KeyValue::new("app.cache_miss", nil));
        })
        .build(inner);
    let _: Option<String> = con.get("otel-redis:hooks:missing").await.unwrap();
    recorder
        .spans()
        .one("GET")
        .assert_no_attr("db.query.text")
        .assert_attr("app.args", 2_i64)
        .assert_attr("app.cache_miss", true);
}

#[tokio::test]
async fn a_response_hook_runs_without_a_request_hook() {
    let recorder = SpanRecorder::new();
    let (_, inner) = plain_connection().await;
    let mut con = TracedConnection::builder()
        .tracer_provider(recorder.provider())
        .response_hook(|span: &opentelemetry::trace::SpanRef<'_>, response: &RedisResponse<'_>| {
            let nil = matches!(response, RedisResponse::Value(redis::Value::Nil));
            span.set_attribute(KeyValue::new("app.cache_miss", nil));
        })
        .build(inner);
    let _: Option<String> = con.get("otel-redis:response-hook:missing").await.unwrap();
    recorder.spans().one("GET").assert_attr("app.cache_miss", true);
}

/// Cluster connections implement the same trait: the wrapper accepts them (compile-time check).
#[allow(dead_code)]
fn cluster_connections_can_be_wrapped(connection: redis::cluster_async::ClusterConnection) {
    fn is_connection<C: redis::aio::ConnectionLike>(_: &C) {}
    let traced = TracedConnection::new(connection);
    is_connection(&traced);
}
