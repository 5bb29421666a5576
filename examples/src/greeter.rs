//! A gRPC greeter (`helloworld.Greeter/SayHello`), as `tonic-build` would generate it from
//! `helloworld.proto`, written by hand so that nothing here needs `protoc`. With generated code,
//! `GreeterServer::new(MyGreeter)` and `GreeterClient::new(channel)` take the place of
//! [`Greeter`] and [`say_hello`]. Used by `cargo run --bin grpc` and by the gRPC benchmark.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::{Request, Response, Status};

/// The greeting's request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// Whom to greet; empty is `INVALID_ARGUMENT`.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// The greeting.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// `Hello {name}!`.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The method's path.
pub const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

/// The server: answers `SayHello`, and `UNIMPLEMENTED` for any other method.
#[derive(Clone, Copy, Debug, Default)]
pub struct Greeter;

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "helloworld.Greeter";
}

impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != SAY_HELLO {
                return Ok(Status::unimplemented("").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<HelloReply, HelloRequest>::default());
            Ok(grpc.unary(tower::service_fn(greet), request).await)
        })
    }
}

async fn greet(request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
    let name = request.into_inner().name;
    if name.is_empty() {
        // A client error: an Error on the client's span, not on the server's.
        return Err(Status::invalid_argument("a name, please"));
    }
    Ok(Response::new(HelloReply { message: format!("Hello {name}!") }))
}

/// The client's call, as a generated client's `say_hello` makes it.
pub async fn say_hello<T>(client: &mut tonic::client::Grpc<T>, name: &str) -> Result<String, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    T::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    client.ready().await.map_err(|e| Status::unavailable(e.into().to_string()))?;
    let request = Request::new(HelloRequest { name: name.to_owned() });
    let path = http::uri::PathAndQuery::from_static(SAY_HELLO);
    let reply: Response<HelloReply> = client.unary(request, path, tonic_prost::ProstCodec::default()).await?;
    Ok(reply.into_inner().message)
}
