//! The traced connection: a `redis::aio::ConnectionLike` wrapper, so every `AsyncCommands`
//! method, `cmd(..).query_async`, pipeline and transaction works on it unchanged.

use crate::error::{Failure, classify, server_failure};
use crate::query::{Described, pipeline_name, write_command, write_pipeline};
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::metrics::DbClientMetrics;
use redis::aio::ConnectionLike;
use redis::{Cmd, ConnectionAddr, ConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// Redis's default port: `server.port` is recorded only when it differs.
const DEFAULT_PORT: u16 = 6379;
/// Default cap of `db.query.text`, in bytes.
const DEFAULT_MAX_QUERY_TEXT: usize = 2048;

/// What a command span is about, for request hooks.
#[derive(Clone, Copy, Debug)]
pub enum RedisRequest<'a> {
    /// One command.
    Command(&'a Cmd),
    /// A pipeline (a transaction when `is_transaction()`).
    Pipeline(&'a Pipeline),
}

/// How a command ended, for response hooks.
#[derive(Clone, Copy, Debug)]
pub enum RedisResponse<'a> {
    /// The reply to one command.
    Value(&'a Value),
    /// The replies to a pipeline.
    Values(&'a [Value]),
    /// The error the command failed with.
    Error(&'a RedisError),
}

type RequestHookFn = Arc<dyn for<'a> RequestHook<RedisRequest<'a>>>;
type ResponseHookFn = Arc<dyn for<'a> ResponseHook<RedisResponse<'a>>>;

/// A Redis connection that records one CLIENT span per command, pipeline or transaction.
///
/// Wrap a `MultiplexedConnection`, a `ConnectionManager` or a cluster connection; cloning is as
/// cheap as cloning the inner connection. Spans are children of `Context::current()` when the
/// command is issued.
///
/// ```no_run
/// # async fn run() -> redis::RedisResult<()> {
/// use redis::AsyncCommands;
/// use otel_redis::TracedConnection;
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let mut con = TracedConnection::multiplexed(&client).await?;
/// let _: () = con.set("greeting", "hello").await?; // span "SET", text "SET greeting ?"
/// # Ok(()) }
/// ```
pub struct TracedConnection<C, T = BoxedTracer> {
    inner: C,
    shared: Arc<Shared<T>>,
}

impl<C: Clone, T> Clone for TracedConnection<C, T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<C, T> fmt::Debug for TracedConnection<C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedConnection")
            .field("server_address", &self.shared.server_address)
            .field("server_port", &self.shared.server_port)
            .field("query_text", &self.shared.query_text)
            .field("require_sampled_parent", &self.shared.require_sampled_parent)
            .finish_non_exhaustive()
    }
}

struct Shared<T> {
    tracer: T,
    server_address: Option<StringValue>,
    server_port: Option<u16>,
    query_text: bool,
    max_query_text: usize,
    require_sampled_parent: bool,
    request_hook: Option<RequestHookFn>,
    response_hook: Option<ResponseHookFn>,
    metrics: Option<DbClientMetrics>,
}

impl<C> TracedConnection<C> {
    /// Wraps `inner` with the global tracer provider and default settings (no
    /// `server.address`: use [`TracedConnection::builder`] and
    /// [`TracedConnectionBuilder::connection_info`] for that).
    pub fn new(inner: C) -> Self {
        TracedConnectionBuilder::default().build(inner)
    }
}

impl TracedConnection<()> {
    /// A builder for the settings; [`TracedConnectionBuilder::build`] wraps the connection.
    pub fn builder() -> TracedConnectionBuilder {
        TracedConnectionBuilder::default()
    }
}

impl TracedConnection<redis::aio::MultiplexedConnection> {
    /// Opens a multiplexed connection from `client` and wraps it, with the server address
    /// taken from the client's connection info.
    pub async fn multiplexed(client: &redis::Client) -> RedisResult<Self> {
        let inner = client.get_multiplexed_async_connection().await?;
        Ok(TracedConnectionBuilder::default().connection_info(client.get_connection_info()).build(inner))
    }
}

impl<C, T> TracedConnection<C, T> {
    /// The wrapped connection.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Unwraps the connection.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

/// Settings of a [`TracedConnection`].
///
/// Defaults: the global tracer provider; `db.query.text` recorded (values replaced by `?`),
/// capped at 2048 bytes; spans also without a sampled parent (the sampler decides); no hooks; no
/// metrics.
pub struct TracedConnectionBuilder<T = BoxedTracer> {
    tracer: T,
    server_address: Option<StringValue>,
    server_port: Option<u16>,
    query_text: Option<bool>,
    max_query_text: Option<usize>,
    require_sampled_parent: bool,
    request_hook: Option<RequestHookFn>,
    response_hook: Option<ResponseHookFn>,
    metrics: Option<DbClientMetrics>,
}

impl Default for TracedConnectionBuilder {
    fn default() -> Self {
        Self {
            tracer: global::tracer_provider().tracer_with_scope(scope()),
            server_address: None,
            server_port: None,
            query_text: None,
            max_query_text: None,
            require_sampled_parent: false,
            request_hook: None,
            response_hook: None,
            metrics: None,
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("otel-redis")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
        .build()
}

impl<T> TracedConnectionBuilder<T> {
    /// Uses `provider` instead of the global one. With the SDK's provider, an unsampled command
    /// costs no allocation at all (the global provider boxes every span).
    pub fn tracer_provider<P>(self, provider: &P) -> TracedConnectionBuilder<P::Tracer>
    where
        P: TracerProvider,
    {
        TracedConnectionBuilder {
            tracer: provider.tracer_with_scope(scope()),
            server_address: self.server_address,
            server_port: self.server_port,
            query_text: self.query_text,
            max_query_text: self.max_query_text,
            require_sampled_parent: self.require_sampled_parent,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            metrics: self.metrics,
        }
    }

    /// `server.address` and `server.port` from a client's connection info (TCP, TLS or a Unix
    /// socket path).
    pub fn connection_info(self, info: &ConnectionInfo) -> Self {
        match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => self.server(host, *port),
            ConnectionAddr::Unix(path) => {
                Self { server_address: Some(path.to_string_lossy().into_owned().into()), server_port: None, ..self }
            }
            _ => self,
        }
    }

    /// Sets `server.address` and `server.port` (recorded only when not 6379).
    pub fn server(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server_address = Some(Arc::<str>::from(host.into()).into());
        self.server_port = (port != DEFAULT_PORT).then_some(port);
        self
    }

    /// Whether to record `db.query.text` (keys kept, values `?`). On by default.
    pub fn query_text(mut self, enabled: bool) -> Self {
        self.query_text = Some(enabled);
        self
    }

    /// The longest `db.query.text` recorded, in bytes (cut on a character boundary, ending `...`).
    pub fn max_query_text_len(mut self, bytes: usize) -> Self {
        self.max_query_text = Some(bytes.max(8));
        self
    }

    /// Parent-only tracing: when true, a command issued without a sampled parent span gets no
    /// span at all (for chatty caches outside requests). Off by default: the sampler decides.
    pub fn require_sampled_parent(mut self, required: bool) -> Self {
        self.require_sampled_parent = required;
        self
    }

    /// Called when a command's span starts (only for recorded spans).
    pub fn request_hook(mut self, hook: impl for<'a> RequestHook<RedisRequest<'a>>) -> Self {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Called with the reply or error before a command's span ends (only for recorded spans).
    pub fn response_hook(mut self, hook: impl for<'a> ResponseHook<RedisResponse<'a>>) -> Self {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Records `db.client.operation.duration` on `meter` (for every command, sampled or not).
    pub fn metrics(mut self, meter: &opentelemetry::metrics::Meter) -> Self {
        self.metrics = Some(DbClientMetrics::new(meter));
        self
    }
}

impl<T> TracedConnectionBuilder<T> {
    /// Wraps `inner`.
    pub fn build<C>(self, inner: C) -> TracedConnection<C, T> {
        let shared = Shared {
            tracer: self.tracer,
            server_address: self.server_address,
            server_port: self.server_port,
            query_text: self.query_text.unwrap_or(true),
            max_query_text: self.max_query_text.unwrap_or(DEFAULT_MAX_QUERY_TEXT),
            require_sampled_parent: self.require_sampled_parent,
            request_hook: self.request_hook,
            response_hook: self.response_hook,
            metrics: self.metrics,
        };
        TracedConnection { inner, shared: Arc::new(shared) }
    }
}

/// A started command span: the span itself, or, when hooks need a `SpanRef`, a context holding it.
enum Started<S> {
    Span(S),
    InContext(Context),
}

/// Everything needed to finish one operation.
struct Operation<S: Span> {
    span: Option<Started<S>>,
    start: Option<Instant>,
    name: Cow<'static, str>,
    namespace: StringValue,
}

impl<T> Shared<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Starts the span of `request`, or returns `None` when there is nothing to record (no
    /// sampled span and no metrics): the inner future then runs untouched.
    fn start(&self, request: RedisRequest<'_>, db: i64) -> Option<Operation<T::Span>> {
        let parent = Context::current();
        let parent_sampled = parent.span().span_context().is_sampled();
        let may_record = parent_sampled || !self.require_sampled_parent;
        if !may_record && self.metrics.is_none() {
            return None;
        }
        // One table lookup per command; the name, text and procedure all reuse it.
        let described = match request {
            RedisRequest::Command(cmd) => Some(Described::new(cmd)),
            RedisRequest::Pipeline(_) => None,
        };
        let name = match (described, request) {
            (Some(described), _) => described.name(),
            (None, RedisRequest::Pipeline(pipeline)) => pipeline_name(pipeline),
            (None, RedisRequest::Command(_)) => Cow::Borrowed("COMMAND"),
        };
        let namespace = db_namespace(db);
        let span = may_record
            .then(|| self.start_span(request, described, &name, &namespace, &parent, parent_sampled))
            .flatten();
        if span.is_none() && self.metrics.is_none() {
            return None;
        }
        let start = self.metrics.as_ref().map(|_| Instant::now());
        Some(Operation { span, start, name, namespace })
    }

    /// Starts the span; `None` when the sampler drops it.
    ///
    /// Under a sampled parent the span will almost always be sampled too, so its attributes go
    /// into the builder (one exactly sized vector, which samplers see). Otherwise the span starts
    /// bare and gets its attributes only if recorded: an unsampled command allocates nothing.
    #[allow(clippy::ptr_arg)] // cloning the `Cow` keeps a static command name static
    fn start_span(
        &self,
        request: RedisRequest<'_>,
        described: Option<Described<'_>>,
        name: &Cow<'static, str>,
        namespace: &StringValue,
        parent: &Context,
        parent_sampled: bool,
    ) -> Option<Started<T::Span>> {
        let mut builder = SpanBuilder::from_name(name.clone()).with_kind(SpanKind::Client);
        if parent_sampled {
            builder = builder.with_attributes(self.attributes(request, described, name.clone(), namespace));
        }
        let mut span = self.tracer.build_with_context(builder, parent);
        if !span.is_recording() {
            return None;
        }
        if !parent_sampled {
            span.set_attributes(self.attributes(request, described, name.clone(), namespace));
        }
        Some(match &self.request_hook {
            Some(hook) => {
                let cx = Context::current_with_span(span);
                hook.on_request(&cx.span(), &request);
                Started::InContext(cx)
            }
            None => Started::Span(span),
        })
    }

    fn attributes(
        &self,
        request: RedisRequest<'_>,
        described: Option<Described<'_>>,
        name: Cow<'static, str>,
        namespace: &StringValue,
    ) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(7);
        attributes.push(KeyValue::new(semconv::DB_SYSTEM_NAME, "redis"));
        attributes.push(KeyValue::new(semconv::DB_OPERATION_NAME, name));
        attributes.push(KeyValue::new(semconv::DB_NAMESPACE, namespace.clone()));
        if let Some(address) = &self.server_address {
            attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
            if let Some(port) = self.server_port {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        match request {
            RedisRequest::Command(cmd) => {
                let described = described.unwrap_or_else(|| Described::new(cmd));
                if let Some(procedure) = described.stored_procedure() {
                    attributes.push(KeyValue::new(semconv::DB_STORED_PROCEDURE_NAME, procedure));
                }
                if self.query_text {
                    // Sized for the usual text so that it becomes the attribute without a copy.
                    let mut text = String::with_capacity(text_len_hint(cmd).min(self.max_query_text));
                    write_command(described, &mut text, self.max_query_text);
                    attributes.push(KeyValue::new(semconv::DB_QUERY_TEXT, text));
                }
            }
            RedisRequest::Pipeline(pipeline) => {
                if pipeline.len() >= 2 {
                    attributes.push(KeyValue::new(semconv::DB_OPERATION_BATCH_SIZE, pipeline.len() as i64));
                }
                if self.query_text {
                    let mut text = String::with_capacity(128);
                    write_pipeline(pipeline, &mut text, self.max_query_text);
                    attributes.push(KeyValue::new(semconv::DB_QUERY_TEXT, text));
                }
            }
        }
        attributes
    }

    /// Records the outcome on the span and the metric, and ends the span.
    fn finish(&self, mut operation: Operation<T::Span>, response: RedisResponse<'_>) {
        let failure = match response {
            RedisResponse::Error(error) => Some(classify(error)),
            RedisResponse::Value(Value::ServerError(error)) => Some(server_failure(error.code())),
            _ => None,
        };
        if let Some(started) = operation.span.take() {
            match started {
                Started::Span(mut span) => {
                    record(&mut span, failure.as_ref());
                    span.end();
                }
                Started::InContext(cx) => {
                    let span = cx.span();
                    if let Some(hook) = &self.response_hook {
                        hook.on_response(&span, &response);
                    }
                    if let Some(failure) = &failure {
                        span.set_attributes(failure_attributes(failure));
                        span.set_status(Status::error(failure.description));
                    }
                    span.end();
                }
            }
        }
        if let (Some(metrics), Some(start)) = (&self.metrics, operation.start) {
            let mut attributes = vec![
                KeyValue::new(semconv::DB_SYSTEM_NAME, "redis"),
                KeyValue::new(semconv::DB_OPERATION_NAME, std::mem::take(&mut operation.name)),
                KeyValue::new(semconv::DB_NAMESPACE, operation.namespace.clone()),
            ];
            if let Some(address) = &self.server_address {
                attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
            }
            if let Some(port) = self.server_port {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
            if let Some(failure) = &failure {
                attributes.extend(failure_attributes(failure));
            }
            metrics.record(start, &attributes);
        }
    }
}

fn record(span: &mut impl Span, failure: Option<&Failure>) {
    if let Some(failure) = failure {
        span.set_attributes(failure_attributes(failure));
        span.set_status(Status::error(failure.description));
    }
}

fn failure_attributes(failure: &Failure) -> impl Iterator<Item = KeyValue> {
    let status = failure.status_code.clone().map(|code| KeyValue::new(semconv::DB_RESPONSE_STATUS_CODE, code));
    status.into_iter().chain(std::iter::once(KeyValue::new(semconv::ERROR_TYPE, failure.error_type.clone())))
}

/// An upper bound of a command's text length (every argument shown, or `?`, plus a space), so the
/// text is written without reallocating.
fn text_len_hint(cmd: &Cmd) -> usize {
    cmd.args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => bytes.len().max(1) + 1,
            _ => 2,
        })
        .sum()
}

/// `db.namespace`: the database index as a string, static for the usual 0-15.
fn db_namespace(db: i64) -> StringValue {
    const INDEXES: [&str; 16] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"];
    match usize::try_from(db).ok().and_then(|i| INDEXES.get(i)) {
        Some(index) => StringValue::from(*index),
        None => StringValue::from(db.to_string()),
    }
}

impl<C, T> ConnectionLike for TracedConnection<C, T>
where
    C: ConnectionLike + Send,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let db = self.inner.get_db();
        let Self { inner, shared } = self;
        let Some(operation) = shared.start(RedisRequest::Command(cmd), db) else {
            return inner.req_packed_command(cmd);
        };
        let reply = inner.req_packed_command(cmd);
        Box::pin(async move {
            let result = reply.await;
            match &result {
                Ok(value) => shared.finish(operation, RedisResponse::Value(value)),
                Err(error) => shared.finish(operation, RedisResponse::Error(error)),
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let db = self.inner.get_db();
        let Self { inner, shared } = self;
        let Some(operation) = shared.start(RedisRequest::Pipeline(pipeline), db) else {
            return inner.req_packed_commands(pipeline, offset, count);
        };
        let replies = inner.req_packed_commands(pipeline, offset, count);
        Box::pin(async move {
            let result = replies.await;
            match &result {
                Ok(values) => shared.finish(operation, RedisResponse::Values(values)),
                Err(error) => shared.finish(operation, RedisResponse::Error(error)),
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl<S: Span> Drop for Operation<S> {
    fn drop(&mut self) {
        // A future dropped before the reply (the caller gave up): the span still ends, once.
        if let Some(started) = self.span.take() {
            match started {
                Started::Span(mut span) => span.end(),
                Started::InContext(cx) => cx.span().end(),
            }
        }
    }
}
