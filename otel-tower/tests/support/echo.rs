//! A gRPC service written by hand (prost messages, no protoc): `test.Echo`, whose methods answer
//! with the status the request asks for, so each test picks its call's outcome.

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::server::{Grpc, NamedService};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// Unary: one reply, or the status `code` asks for.
pub const UNARY: &str = "/test.Echo/Unary";
/// Server streaming: `count` replies, `pause_ms` apart, then the status `code` asks for.
pub const COUNT: &str = "/test.Echo/Count";
/// Client streaming: one reply counting the requests.
pub const SUM: &str = "/test.Echo/Sum";

/// What a call asks for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ask {
    /// The gRPC status code to end the call with (0: OK).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// How many replies to stream.
    #[prost(uint32, tag = "2")]
    pub count: u32,
    /// The pause before each streamed reply, in milliseconds.
    #[prost(uint64, tag = "3")]
    pub pause_ms: u64,
}

/// A reply: its number, and the `traceparent` the call arrived with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Reply {
    #[prost(uint32, tag = "1")]
    pub n: u32,
    #[prost(string, tag = "2")]
    pub traceparent: String,
}

impl Ask {
    pub fn code(code: Code) -> Self {
        Self { code: code as i32, ..Self::default() }
    }
}

/// The service, as tonic's generated servers are: a `tower::Service` dispatching on the path.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl NamedService for Echo {
    const NAME: &'static str = "test.Echo";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;
type ReplyStream = Pin<Box<dyn Stream<Item = Result<Reply, Status>> + Send>>;

impl<B> tower::Service<http::Request<B>> for Echo
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<Reply, Ask>::default());
            Ok(match request.uri().path() {
                UNARY => grpc.unary(tower::service_fn(unary), request).await,
                COUNT => grpc.server_streaming(tower::service_fn(count), request).await,
                SUM => grpc.client_streaming(tower::service_fn(sum), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

fn traceparent<T>(request: &Request<T>) -> String {
    request.metadata().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn answer(code: i32) -> Result<(), Status> {
    match Code::from(code) {
        Code::Ok => Ok(()),
        code => Err(Status::new(code, "asked for")),
    }
}

async fn unary(request: Request<Ask>) -> Result<Response<Reply>, Status> {
    let traceparent = traceparent(&request);
    answer(request.get_ref().code)?;
    Ok(Response::new(Reply { n: 1, traceparent }))
}

async fn count(request: Request<Ask>) -> Result<Response<ReplyStream>, Status> {
    let traceparent = traceparent(&request);
    let ask = request.into_inner();
    let replies = stream::iter(1..=ask.count).then(move |n| {
        let traceparent = traceparent.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(ask.pause_ms)).await;
            Ok(Reply { n, traceparent })
        }
    });
    let end = stream::once(async move { answer(ask.code) }).filter_map(|end| async move { end.err().map(Err) });
    Ok(Response::new(Box::pin(replies.chain(end))))
}

async fn sum(request: Request<Streaming<Ask>>) -> Result<Response<Reply>, Status> {
    let traceparent = traceparent(&request);
    let mut asks = request.into_inner();
    let mut n = 0;
    while let Some(ask) = asks.message().await? {
        answer(ask.code)?;
        n += 1;
    }
    Ok(Response::new(Reply { n, traceparent }))
}
