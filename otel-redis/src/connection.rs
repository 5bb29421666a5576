//! The traced connection: a `redis::aio::ConnectionLike` wrapper, so every `AsyncCommands`
//! method, `cmd(..).query_async`, pipeline and transaction works on it unchanged.

use crate::error::{Failure, classify, server_failure};
use crate::query::{Described, command_text, pipeline_name, pipeline_text};
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::global::GlobalTracer;
use otel_core::hooks::{RequestHook, ResponseHook};
use otel_core::metrics::{AttributeList, DbClientMetrics, Instruments, MeterSource, StaticKey};
use pin_project_lite::pin_project;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
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
/// Wrap a `MultiplexedConnection`, a `ConnectionManager`, a cluster connection or any other owned
/// (`'static`) `ConnectionLike`; cloning is as cheap as cloning the inner connection. Spans are
/// children of `Context::current()` when the command is issued. A `MultiplexedConnection`'s own
/// command future is held inside the traced one, not boxed on its own.
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
pub struct TracedConnection<C, T = GlobalTracer> {
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
    metrics: Instruments<DbClientMetrics>,
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
pub struct TracedConnectionBuilder<T = GlobalTracer> {
    tracer: T,
    server_address: Option<StringValue>,
    server_port: Option<u16>,
    query_text: Option<bool>,
    max_query_text: Option<usize>,
    require_sampled_parent: bool,
    request_hook: Option<RequestHookFn>,
    response_hook: Option<ResponseHookFn>,
    metrics: MeterSource,
}

impl Default for TracedConnectionBuilder {
    fn default() -> Self {
        Self {
            tracer: GlobalTracer::new(scope()),
            server_address: None,
            server_port: None,
            query_text: None,
            max_query_text: None,
            require_sampled_parent: false,
            request_hook: None,
            response_hook: None,
            metrics: MeterSource::Global,
        }
    }
}

fn scope() -> InstrumentationScope {
    otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
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

    /// Records `db.client.operation.duration` (for every command, sampled or not) with the
    /// global meter provider (`true`, the default; nothing is recorded while no meter provider
    /// is installed), or not at all (`false`: no metric work per command).
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = MeterSource::enabled(enabled);
        self
    }

    /// Records the metric with `provider`'s meter (and turns it on).
    pub fn meter_provider(mut self, provider: &impl opentelemetry::metrics::MeterProvider) -> Self {
        self.metrics = MeterSource::provider(provider, scope());
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
            metrics: self.metrics.instruments(scope(), DbClientMetrics::new),
        };
        TracedConnection { inner, shared: Arc::new(shared) }
    }
}

/// A started command span: the span itself, or, when hooks need a `SpanRef`, a context holding it.
enum Started<S> {
    Span(S),
    InContext(Context),
}

/// What the duration metric needs at the end (only with metrics on).
struct Metric {
    start: Instant,
    name: Cow<'static, str>,
    namespace: StringValue,
}

/// Everything needed to finish one operation.
struct Operation<S: Span> {
    span: Option<Started<S>>,
    metric: Option<Metric>,
}

impl<T> Shared<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Starts the span of `request` and returns the future that ends it, still without the reply
    /// it waits for; `None` when there is nothing to record (no sampled span and no metrics): the
    /// inner future then runs untouched.
    fn start<'a, F>(&'a self, request: RedisRequest<'_>, db: i64) -> Option<Box<Traced<'a, T, F>>> {
        // The parent is borrowed, not cloned: the span is started inside, as `Tracer::build` does.
        let mut traced = Context::map_current(|parent| {
            let parent_sampled = parent.span().span_context().is_sampled();
            let may_record = parent_sampled || !self.require_sampled_parent;
            if !may_record && !self.metrics.active() {
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
            let metric = || {
                self.metrics.active().then(|| Metric {
                    start: Instant::now(),
                    name: name.clone(),
                    namespace: db_namespace(db),
                })
            };
            let metric_only = || {
                let metric = metric()?;
                Some(Box::new(Traced {
                    reply: None,
                    shared: self,
                    operation: Operation { span: None, metric: Some(metric) },
                }))
            };
            if !may_record {
                return metric_only();
            }
            // Under a sampled parent the span will almost always be sampled too, so its
            // attributes go into the builder (one exactly sized vector, which samplers see).
            // Otherwise the span starts bare and gets its attributes only if recorded: an
            // unsampled command allocates nothing. The builder (a few hundred bytes) is one
            // literal written as the tracer's argument: built beforehand, it would be copied in.
            let builder = |attributes| SpanBuilder {
                name: name.clone(),
                span_kind: Some(SpanKind::Client),
                attributes,
                ..SpanBuilder::default()
            };
            let mut traced = if parent_sampled {
                // Nearly always recorded: the box comes first and the span is built right in it,
                // as moving it there afterwards would copy it (a span is a few hundred bytes).
                Traced::boxed(self, || {
                    let attributes = self.attributes(request, described, name.clone(), db);
                    self.tracer.build_with_context(builder(Some(attributes)), parent)
                })
            } else {
                // Often dropped by the sampler: no box until the span is known to be recorded.
                let span = self.tracer.build_with_context(builder(None), parent);
                if !span.is_recording() {
                    return metric_only();
                }
                Traced::boxed(self, || span)
            };
            if let Some(Started::Span(span)) = &mut traced.operation.span {
                if !span.is_recording() {
                    return metric_only();
                }
                if !parent_sampled {
                    span.set_attributes(self.attributes(request, described, name.clone(), db));
                }
            }
            traced.operation.metric = metric();
            Some(traced)
        })?;
        // Hooks take a `SpanRef`, which only a context gives; they run outside the borrow of the
        // current context, as they may attach one.
        if (self.request_hook.is_some() || self.response_hook.is_some())
            && let Some(Started::Span(span)) = traced.operation.span.take()
        {
            let cx = Context::current_with_span(span);
            if let Some(hook) = &self.request_hook {
                hook.on_request(&cx.span(), &request);
            }
            traced.operation.span = Some(Started::InContext(cx));
        }
        Some(traced)
    }

    /// Sends `request` on `con`: through `traced` (its reply) inside the span's future, or through
    /// `untraced` when there is nothing to record.
    #[inline(always)]
    fn call<'a, C, F, R>(
        &'a self,
        request: RedisRequest<'_>,
        db: i64,
        con: &'a mut C,
        traced: impl FnOnce(&'a mut C) -> F,
        untraced: impl FnOnce(&'a mut C) -> RedisFuture<'a, R>,
    ) -> RedisFuture<'a, R>
    where
        F: Future<Output = RedisResult<R>> + Send + 'a,
        R: Reply + Send + 'a,
        T: Send + Sync,
    {
        let Some(mut future) = self.start(request, db) else { return untraced(con) };
        future.reply = Some(traced(con));
        Box::into_pin(future)
    }

    fn attributes(
        &self,
        request: RedisRequest<'_>,
        described: Option<Described<'_>>,
        name: Cow<'static, str>,
        db: i64,
    ) -> Vec<KeyValue> {
        let described = match request {
            RedisRequest::Command(cmd) => Some(described.unwrap_or_else(|| Described::new(cmd))),
            RedisRequest::Pipeline(_) => None,
        };
        let procedure = described.and_then(|described| described.stored_procedure());
        let batch = match request {
            RedisRequest::Pipeline(pipeline) if pipeline.len() >= 2 => Some(pipeline.len()),
            _ => None,
        };
        // Exactly sized: the vector becomes the span's attribute list as it is.
        let len = 3
            + usize::from(self.server_address.is_some())
            + usize::from(self.server_address.is_some() && self.server_port.is_some())
            + usize::from(procedure.is_some())
            + usize::from(batch.is_some())
            + usize::from(self.query_text);
        let text = self.query_text.then(|| match (described, request) {
            (Some(described), _) => command_text(described, &name, self.max_query_text),
            (None, RedisRequest::Pipeline(pipeline)) => pipeline_text(pipeline, self.max_query_text),
            (None, RedisRequest::Command(_)) => StringValue::from(""),
        });
        let mut attributes = Vec::with_capacity(len);
        attributes.push(KeyValue::new(semconv::DB_SYSTEM_NAME, "redis"));
        attributes.push(KeyValue::new(semconv::DB_OPERATION_NAME, name));
        attributes.push(KeyValue::new(semconv::DB_NAMESPACE, db_namespace(db)));
        if let Some(address) = &self.server_address {
            attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
            if let Some(port) = self.server_port {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        if let Some(procedure) = procedure {
            attributes.push(KeyValue::new(semconv::DB_STORED_PROCEDURE_NAME, procedure));
        }
        if let Some(batch) = batch {
            attributes.push(KeyValue::new(semconv::DB_OPERATION_BATCH_SIZE, batch as i64));
        }
        if let Some(text) = text {
            attributes.push(KeyValue::new(semconv::DB_QUERY_TEXT, text));
        }
        attributes
    }

    /// Records the outcome on the span and the metric, and ends the span.
    fn finish(&self, operation: &mut Operation<T::Span>, response: RedisResponse<'_>) {
        let failure = match response {
            RedisResponse::Error(error) => Some(classify(error)),
            RedisResponse::Value(Value::ServerError(error)) => Some(server_failure(error.code())),
            _ => None,
        };
        // Ended where it lies: the span is large, and moving it out would copy it.
        match &mut operation.span {
            Some(Started::Span(span)) => {
                if let Some(failure) = &failure {
                    span.set_attributes(failure_attributes(failure));
                    span.set_status(Status::error(failure.description));
                }
                span.end();
            }
            Some(Started::InContext(cx)) => {
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
            None => {}
        }
        operation.span = None;
        if let Some(metric) = operation.metric.take() {
            let Metric { start, name, namespace } = metric;
            let attributes = || {
                let mut attributes = AttributeList::<7>::new();
                attributes.push(KeyValue::new(semconv::DB_SYSTEM_NAME, "redis"));
                attributes.push(KeyValue::new(semconv::DB_OPERATION_NAME, name.clone()));
                attributes.push(KeyValue::new(semconv::DB_NAMESPACE, namespace.clone()));
                if let Some(address) = &self.server_address {
                    attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
                }
                if let Some(port) = self.server_port {
                    attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
                if let Some(failure) = &failure {
                    attributes.extend(failure_attributes(failure));
                }
                attributes
            };
            // A known command without failure is found by its name and namespace (this
            // connection's server and port are fixed); anything else builds its attributes.
            self.metrics.with(|metrics| match (&name, &failure) {
                (Cow::Borrowed(command), None) => {
                    let mut key = StaticKey::new();
                    key.text(Some(command));
                    if key.inline_text(namespace.as_str()) {
                        metrics.record_keyed(start, &key, attributes);
                    } else {
                        metrics.record(start, attributes().as_slice());
                    }
                }
                _ => metrics.record(start, attributes().as_slice()),
            });
        }
    }
}

fn failure_attributes(failure: &Failure) -> impl Iterator<Item = KeyValue> {
    let status = failure.status_code.clone().map(|code| KeyValue::new(semconv::DB_RESPONSE_STATUS_CODE, code));
    status.into_iter().chain(std::iter::once(KeyValue::new(semconv::ERROR_TYPE, failure.error_type.clone())))
}

/// `db.namespace`: the database index as a string, static for the usual 0-15.
#[inline]
fn db_namespace(db: i64) -> StringValue {
    const INDEXES: [&str; 16] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"];
    match usize::try_from(db).ok().and_then(|i| INDEXES.get(i)) {
        Some(index) => StringValue::from(*index),
        None => StringValue::from(db.to_string()),
    }
}

/// A reply as response hooks see it.
trait Reply {
    fn response(&self) -> RedisResponse<'_>;
}

impl Reply for Value {
    fn response(&self) -> RedisResponse<'_> {
        RedisResponse::Value(self)
    }
}

impl Reply for Vec<Value> {
    fn response(&self) -> RedisResponse<'_> {
        RedisResponse::Values(self)
    }
}

pin_project! {
    /// The future of a traced command: the inner reply, then the span's end. A plain struct, built
    /// once in its box (an `async` block would be built, then moved, with the span inside).
    struct Traced<'a, T: Tracer, F> {
        // Set right after the span starts (the inner connection is not called while the current
        // context is borrowed): the inner connection's boxed future, or a multiplexed
        // connection's own future, unboxed.
        #[pin]
        reply: Option<F>,
        shared: &'a Shared<T>,
        operation: Operation<T::Span>,
    }
}

impl<'a, T: Tracer, F> Traced<'a, T, F> {
    /// Allocates, then starts the span (`span()`), so that it can be written straight into the
    /// box; the reply comes later.
    #[inline(always)]
    fn boxed(shared: &'a Shared<T>, span: impl FnOnce() -> T::Span) -> Box<Self> {
        let slot = Box::new_uninit();
        let operation = Operation { span: Some(Started::Span(span())), metric: None };
        Box::write(slot, Traced { reply: None, shared, operation })
    }
}

impl<T, F, R> Future for Traced<'_, T, F>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
    F: Future<Output = RedisResult<R>>,
    R: Reply,
{
    type Output = RedisResult<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(reply) = this.reply.as_pin_mut() else {
            return Poll::Ready(Err(RedisError::from((redis::ErrorKind::Client, "otel-redis: no reply to wait for"))));
        };
        let result = ready!(reply.poll(cx));
        let response = match &result {
            Ok(reply) => reply.response(),
            Err(error) => RedisResponse::Error(error),
        };
        this.shared.finish(this.operation, response);
        Poll::Ready(result)
    }
}

impl<C, T> ConnectionLike for TracedConnection<C, T>
where
    C: ConnectionLike + Send + 'static,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let db = self.inner.get_db();
        let Self { inner, shared } = self;
        let request = RedisRequest::Command(cmd);
        // A multiplexed connection's own future goes into the traced future's box: one
        // allocation fewer per command. (The type check is resolved at compile time.)
        if is_multiplexed(inner) {
            return match (inner as &mut dyn Any).downcast_mut::<MultiplexedConnection>() {
                Some(con) => {
                    shared.call(request, db, con, |con| con.send_packed_command(cmd), |con| con.req_packed_command(cmd))
                }
                None => not_multiplexed(),
            };
        }
        shared.call(request, db, inner, |con| con.req_packed_command(cmd), |con| con.req_packed_command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let db = self.inner.get_db();
        let Self { inner, shared } = self;
        let request = RedisRequest::Pipeline(pipeline);
        if is_multiplexed(inner) {
            return match (inner as &mut dyn Any).downcast_mut::<MultiplexedConnection>() {
                Some(con) => shared.call(
                    request,
                    db,
                    con,
                    |con| con.send_packed_commands(pipeline, offset, count),
                    |con| con.req_packed_commands(pipeline, offset, count),
                ),
                None => not_multiplexed(),
            };
        }
        shared.call(
            request,
            db,
            inner,
            |con| con.req_packed_commands(pipeline, offset, count),
            |con| con.req_packed_commands(pipeline, offset, count),
        )
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// Whether the inner connection is a `MultiplexedConnection` (known at compile time).
fn is_multiplexed<C: 'static>(inner: &C) -> bool {
    (inner as &dyn Any).is::<MultiplexedConnection>()
}

/// The answer for a connection that passed [`is_multiplexed`] and then failed to downcast, which
/// cannot happen. (Checking first and downcasting second keeps the inner connection usable on the
/// other path: a downcast whose result is returned would hold it borrowed on both.)
fn not_multiplexed<'a, R: Send + 'a>() -> RedisFuture<'a, R> {
    Box::pin(std::future::ready(Err(RedisError::from((
        redis::ErrorKind::Client,
        "otel-redis: not a multiplexed connection",
    )))))
}

impl<S: Span> Drop for Operation<S> {
    fn drop(&mut self) {
        // A future dropped before the reply (the caller gave up): the span still ends, once.
        match &mut self.span {
            Some(Started::Span(span)) => span.end(),
            Some(Started::InContext(cx)) => cx.span().end(),
            None => {}
        }
    }
}
