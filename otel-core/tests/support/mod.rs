//! A real OTLP receiver for tests: gRPC (tonic) and HTTP/protobuf (hyper) on loopback ports,
//! running on its own thread and runtime so that the code under test may block its own threads.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One span as received, with its resource.
#[derive(Clone, Debug)]
pub struct Received {
    pub resource: BTreeMap<String, String>,
    pub span: Span,
    pub attributes: BTreeMap<String, String>,
    /// How it arrived: `grpc` or `http`, plus the request headers that matter to tests.
    pub transport: &'static str,
    pub api_key: Option<String>,
}

#[derive(Clone, Default)]
struct Store(Arc<Mutex<Vec<Received>>>);

impl Store {
    fn add(&self, request: ExportTraceServiceRequest, transport: &'static str, api_key: Option<String>) {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.resource_spans {
            let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let attributes = attributes(&span.attributes);
                    spans.push(Received {
                        resource: resource.clone(),
                        span,
                        attributes,
                        transport,
                        api_key: api_key.clone(),
                    });
                }
            }
        }
    }
}

fn attributes(list: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

struct Grpc(Store);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let api_key = request.metadata().get("api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.0.add(request.into_inner(), "grpc", api_key);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// The receiver; it runs until the test process ends.
pub struct Receiver {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    store: Store,
}

impl Receiver {
    pub fn start() -> Self {
        let store = Store::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_store = store.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send((grpc_listener.local_addr().unwrap(), http_listener.local_addr().unwrap())).unwrap();
                let grpc_store = thread_store.clone();
                tokio::spawn(async move {
                    let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
                    tonic::transport::Server::builder()
                        .serve_with_incoming(TraceServiceServer::new(Grpc(grpc_store)), incoming)
                        .await
                        .unwrap();
                });
                loop {
                    let Ok((stream, _)) = http_listener.accept().await else { continue };
                    let store = thread_store.clone();
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                                let store = store.clone();
                                async move {
                                    let api_key = request
                                        .headers()
                                        .get("api-key")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_owned);
                                    let path = request.uri().path().to_owned();
                                    let body =
                                        request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                    let status = match ExportTraceServiceRequest::decode(body) {
                                        Ok(decoded) if path == "/v1/traces" => {
                                            store.add(decoded, "http", api_key);
                                            200
                                        }
                                        _ => 400,
                                    };
                                    let response = ExportTraceServiceResponse { partial_success: None }.encode_to_vec();
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/x-protobuf")
                                        .body(Full::new(Bytes::from(response)))
                                }
                            });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                    });
                }
            });
        });
        let (grpc, http) = ready_rx.recv_timeout(Duration::from_secs(30)).expect("receiver started");
        Self { grpc, http, store }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.store.0.lock().unwrap().clone()
    }

    /// Waits (at most `timeout`) until at least `count` spans arrived.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= count || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A collector that accepts connections and never answers: every export hangs until its timeout.
pub fn unresponsive_collector() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}

/// The one span named `name`.
pub fn one<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    let found: Vec<_> = spans.iter().filter(|r| r.span.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one span named {name:?} in {:?}",
        spans.iter().map(|r| &r.span.name).collect::<Vec<_>>()
    );
    found[0]
}
