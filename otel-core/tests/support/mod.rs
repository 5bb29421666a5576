//! A real OTLP receiver for tests: traces, metrics and logs over gRPC (tonic) and HTTP/protobuf
//! (hyper) on loopback ports, in plain text or TLS (optionally requiring a client certificate),
//! running on its own thread and runtime so that the code under test may block its own threads.
//! Also a collector that accepts connections and never answers, for shutdown tests.

#![allow(dead_code, unreachable_pub, unused_imports)] // each test binary uses a different part

mod records;
mod silent;
mod tls;

pub use records::{HistogramPoint, MetricKind, NumberPoint, Received, ReceivedLog, ReceivedMetric};
pub use silent::{SilentCollector, unresponsive_collector};
pub use tls::{TlsFiles, ring_provider};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use records::{Store, Via};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The receiver; it runs until the test process ends.
pub struct Receiver {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    tls: Option<TlsFiles>,
    store: Store,
}

impl Receiver {
    /// Plain-text gRPC and HTTP.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// gRPC and HTTP over TLS, with a server certificate for `localhost` and `127.0.0.1` signed by
    /// a CA made for this receiver (see [`Receiver::tls`] for the PEM files). With `client_auth`,
    /// connections without a client certificate signed by that CA are refused.
    pub fn start_tls(client_auth: bool) -> Self {
        let (files, configs) = tls::generate(client_auth);
        let mut receiver = Self::spawn(Some(configs));
        receiver.tls = Some(files);
        receiver
    }

    fn spawn(tls: Option<tls::ServerConfigs>) -> Self {
        let store = Store::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_store = store.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the receiver's runtime");
            runtime.block_on(async move {
                let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a gRPC port");
                let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("an HTTP port");
                let addresses = (grpc_listener.local_addr(), http_listener.local_addr());
                let _ = ready_tx.send(addresses);
                let grpc = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(Grpc(thread_store.clone())))
                    .add_service(MetricsServiceServer::new(Grpc(thread_store.clone())))
                    .add_service(LogsServiceServer::new(Grpc(thread_store.clone())));
                match &tls {
                    None => {
                        let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
                        tokio::spawn(async move { grpc.serve_with_incoming(incoming).await.expect("gRPC serves") });
                    }
                    Some(configs) => {
                        let incoming = tls::incoming(grpc_listener, configs.grpc.clone());
                        tokio::spawn(async move { grpc.serve_with_incoming(incoming).await.expect("gRPC serves") });
                    }
                }
                let acceptor = tls.map(|configs| tokio_rustls::TlsAcceptor::from(configs.http));
                loop {
                    let Ok((stream, _)) = http_listener.accept().await else { continue };
                    let store = thread_store.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Some(acceptor) = acceptor else {
                            return serve_http(store, stream, Via::http(false, false)).await;
                        };
                        // A failed handshake (say, no client certificate) is the client's error to see.
                        let Ok(stream) = acceptor.accept(stream).await else { return };
                        let client_cert = stream.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                        serve_http(store, stream, Via::http(true, client_cert)).await;
                    });
                }
            });
        });
        let (grpc, http) = ready_rx.recv_timeout(Duration::from_secs(30)).expect("receiver started");
        Self { grpc: grpc.expect("the gRPC address"), http: http.expect("the HTTP address"), tls: None, store }
    }

    /// The PEM files of a receiver started with [`Receiver::start_tls`].
    pub fn tls(&self) -> &TlsFiles {
        self.tls.as_ref().expect("a receiver started with Receiver::start_tls")
    }

    /// `http://127.0.0.1:{port}`, or `https://localhost:{port}` (the certificate's name) with TLS.
    pub fn grpc_endpoint(&self) -> String {
        self.endpoint(self.grpc)
    }

    /// Like [`Receiver::grpc_endpoint`], for the HTTP/protobuf port (without the `/v1/...` path).
    pub fn http_endpoint(&self) -> String {
        self.endpoint(self.http)
    }

    fn endpoint(&self, address: SocketAddr) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}", address.port()),
            None => format!("http://{address}"),
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.store.lists().spans.clone()
    }

    /// Waits (at most `timeout`) until at least `count` spans arrived.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        wait(timeout, || Some(self.spans()).filter(|spans| spans.len() >= count)).unwrap_or_else(|| self.spans())
    }

    /// Every metric received so far, one entry per metric per export, in arrival order.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.store.lists().metrics.clone()
    }

    /// The latest export of the metric `name`, waiting at most `timeout` for one; panics without.
    pub fn wait_for_metric(&self, name: &str, timeout: Duration) -> ReceivedMetric {
        let latest = || self.metrics().into_iter().rev().find(|m| m.name == name);
        wait(timeout, latest).unwrap_or_else(|| {
            let names: Vec<_> = self.metrics().into_iter().map(|m| m.name).collect();
            panic!("no metric {name:?} within {timeout:?}; received {names:?}")
        })
    }

    /// Every log record received so far.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.store.lists().logs.clone()
    }

    /// Waits (at most `timeout`) until at least `count` log records arrived.
    pub fn wait_for_logs(&self, count: usize, timeout: Duration) -> Vec<ReceivedLog> {
        wait(timeout, || Some(self.logs()).filter(|logs| logs.len() >= count)).unwrap_or_else(|| self.logs())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(files) = &self.tls {
            let _ = std::fs::remove_dir_all(&files.dir);
        }
    }
}

/// Polls `found` until it returns something or `timeout` passes.
fn wait<T>(timeout: Duration, found: impl Fn() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = found() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// The three OTLP gRPC services, storing what they receive.
struct Grpc(Store);

impl Via {
    fn grpc<T>(request: &tonic::Request<T>) -> Self {
        // Present only on connections that came through the TLS incoming stream.
        let tls = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
        Via {
            transport: "grpc",
            api_key: request.metadata().get("api-key").and_then(|v| v.to_str().ok()).map(str::to_owned),
            tls: tls.is_some(),
            client_cert: tls.and_then(|info| info.peer_certs()).is_some_and(|certs| !certs.is_empty()),
        }
    }

    fn http(tls: bool, client_cert: bool) -> Self {
        Via { transport: "http", api_key: None, tls, client_cert }
    }
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let via = Via::grpc(&request);
        self.0.add_spans(request.into_inner(), &via);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let via = Via::grpc(&request);
        self.0.add_metrics(request.into_inner(), &via);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let via = Via::grpc(&request);
        self.0.add_logs(request.into_inner(), &via);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Serves one HTTP connection (HTTP/1.1 or HTTP/2, as the client speaks).
async fn serve_http<IO>(store: Store, io: IO, via: Via)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| handle_http(store.clone(), request, via.clone()));
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

/// `POST /v1/traces`, `/v1/metrics` or `/v1/logs` with a protobuf body.
async fn handle_http(
    store: Store,
    request: hyper::Request<Incoming>,
    mut via: Via,
) -> Result<hyper::Response<Full<Bytes>>, hyper::http::Error> {
    via.api_key = request.headers().get("api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = request.uri().path().to_owned();
    if request.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json")) {
        let message = "this receiver takes application/x-protobuf only";
        return hyper::Response::builder().status(415).body(Full::new(Bytes::from(message)));
    }
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let response = match path.as_str() {
        "/v1/traces" => ExportTraceServiceRequest::decode(body).map(|decoded| {
            store.add_spans(decoded, &via);
            ExportTraceServiceResponse::default().encode_to_vec()
        }),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body).map(|decoded| {
            store.add_metrics(decoded, &via);
            ExportMetricsServiceResponse::default().encode_to_vec()
        }),
        "/v1/logs" => ExportLogsServiceRequest::decode(body).map(|decoded| {
            store.add_logs(decoded, &via);
            ExportLogsServiceResponse::default().encode_to_vec()
        }),
        _ => return hyper::Response::builder().status(404).body(Full::default()),
    };
    let (status, content_type, body) = match response {
        Ok(body) => (200, "application/x-protobuf", body),
        Err(error) => (400, "text/plain", error.to_string().into_bytes()),
    };
    hyper::Response::builder().status(status).header("content-type", content_type).body(Full::new(Bytes::from(body)))
}
