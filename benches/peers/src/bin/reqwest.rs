//! reqwest: `GET /users/42` over one keep-alive loopback connection to a plain axum server in a
//! child process (so neither callgrind nor the counting allocator sees the server: every number
//! is the client's), the caller's context current (a remote sampled parent). See `src/lib.rs` for
//! the commands.
//!
//! Cases: `plain` (reqwest alone); `middleware-only` (reqwest-middleware with no middleware, what
//! both middlewares stand on); `ours-{sampled,unsampled}` (otel-reqwest);
//! `ours-unsampled00` (always-off, the caller's flags 00); `reqwest-tracing-{sampled,unsampled}` (with tracing-opentelemetry, OpenTelemetry 0.32).

use opentelemetry_032::trace::TracerProvider as _;
use peers_bench::{Command, drive, remote_parent_032, remote_parent_033, sdk32, sdk33};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

enum Client {
    Plain(reqwest::Client),
    Middleware(reqwest_middleware::ClientWithMiddleware),
}

impl Client {
    async fn get(&self, url: &str) {
        let response = match self {
            Self::Plain(client) => client.get(url).send().await.unwrap(),
            Self::Middleware(client) => client.get(url).send().await.unwrap(),
        };
        assert!(response.status().is_success());
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"ok");
    }
}

fn serve() {
    // The client holds our stdin: when it exits (even by `process::exit`), so do we.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = axum::Router::new().fallback(|| async { "ok" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

/// Starts this binary as the server; returns the child and the URL to call.
fn start_server() -> (Child, String) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, format!("http://{}/users/42", line.trim()))
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        return serve();
    }
    let command =
        Command::from_args().expect("usage: reqwest <case> <requests> | reqwest time <case> <requests> <passes>");
    let (mut server, url) = start_server();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reqwest = reqwest::Client::builder().no_proxy().build().unwrap();
    let case = command.case().to_owned();
    let sampled = case.ends_with("-sampled");
    let mut flush: Box<dyn Fn()> = Box::new(|| {});
    // The caller's context stays current for the whole run (both OpenTelemetry versions'); the
    // guards are dropped at the end of `main`.
    let caller_sampled = !case.ends_with("-unsampled00");
    let _parent_033 = remote_parent_033(caller_sampled).attach();
    let _parent_032 = remote_parent_032(caller_sampled).attach();
    let client = match case.as_str() {
        "plain" => Client::Plain(reqwest),
        "middleware-only" => Client::Middleware(reqwest_middleware::ClientBuilder::new(reqwest).build()),
        "ours-sampled" | "ours-unsampled" | "ours-unsampled00" => {
            let provider = sdk33::provider(sampled);
            let middleware = otel_reqwest::OtelMiddleware::builder()
                .tracer_provider(&provider)
                .propagator(otel_core::propagation::StrictTraceContextPropagator::new())
                .config(otel_core::config::HttpClientConfig::builder().environment(|_| None))
                .build();
            flush = Box::new(move || {
                let _ = provider.force_flush();
            });
            Client::Middleware(reqwest_middleware::ClientBuilder::new(reqwest).with(middleware).build())
        }
        "reqwest-tracing-sampled" | "reqwest-tracing-unsampled" => {
            use tracing_subscriber::layer::SubscriberExt as _;
            let provider = sdk32::provider(sampled);
            let layer = tracing_opentelemetry_033::layer().with_tracer(provider.tracer("bench"));
            let subscriber =
                tracing_subscriber::registry().with(layer).with(tracing_subscriber::filter::LevelFilter::INFO);
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");
            opentelemetry_032::global::set_text_map_propagator(
                opentelemetry_sdk_032::propagation::TraceContextPropagator::new(),
            );
            flush = Box::new(move || {
                let _ = provider.force_flush();
            });
            Client::Middleware(
                reqwest_middleware::ClientBuilder::new(reqwest)
                    .with(reqwest_tracing::TracingMiddleware::default())
                    .build(),
            )
        }
        other => panic!("unknown case {other:?}"),
    };
    drive(
        &command,
        |n| {
            runtime.block_on(async {
                for _ in 0..n {
                    client.get(&url).await;
                }
            })
        },
        flush,
    );
    let _ = server.kill();
    let _ = server.wait();
}
