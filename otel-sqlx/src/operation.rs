//! One traced database operation: its CLIENT span (started with the attributes a sampler may
//! need, ended exactly once), its pool wait, its outcome and its duration metric.

use crate::cache::{Described, StatementCache};
use crate::hooks::{RequestHookFn, ResponseHookFn, SqlRequest, SqlResponse};
use crate::metrics::Metrics;
use opentelemetry::trace::{Span, SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use otel_core::metrics::{AttributeList, Instruments};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The span attribute with the time a query waited for a pool connection, in seconds: the
/// conventions' `db.client.connection.wait_time` metric recorded on the span. The conventions
/// define no span attribute for it, so it sits in this project's own namespace (`otel_rust.*`),
/// not in `db.*`, which the conventions own.
pub const POOL_WAIT_ATTRIBUTE: &str = "otel_rust.db.client.connection.wait_time";

/// The name of the span of a pool wait longer than the threshold.
pub const POOL_WAIT_SPAN_NAME: &str = "db.client.connection.wait";

/// Settings and state shared by a pool and every connection and transaction taken from it.
pub(crate) struct Shared<T> {
    pub(crate) tracer: T,
    pub(crate) system: &'static str,
    pub(crate) namespace: Option<StringValue>,
    pub(crate) server_address: Option<StringValue>,
    pub(crate) server_port: Option<u16>,
    pub(crate) pool_name: StringValue,
    pub(crate) query_text: bool,
    pub(crate) returned_rows: bool,
    pub(crate) require_sampled_parent: bool,
    pub(crate) wait_threshold: Duration,
    pub(crate) sqlcommenter: bool,
    pub(crate) cache: StatementCache,
    pub(crate) metrics: Instruments<Arc<Metrics>>,
    pub(crate) request_hook: Option<RequestHookFn>,
    pub(crate) response_hook: Option<ResponseHookFn>,
}

/// A started span: bare, or in a context once a child (the wait span) needs it as parent or a
/// hook needs a `SpanRef` (which only a context gives).
enum Started<S> {
    Span(S),
    InContext(Context),
}

/// One operation in flight. Finishing it (or dropping it: the caller gave up, or dropped a
/// stream early, which is not an error) ends its span exactly once.
pub(crate) struct Operation<'s, T: Tracer> {
    shared: &'s Shared<T>,
    /// Boxed: an SDK span is about 300 bytes, and an operation moves through several futures
    /// (into the query's boxed future, across its awaits); one allocation costs less than
    /// copying it each time (measured: about 600 instructions per query less).
    span: Option<Box<Started<T::Span>>>,
    described: Option<Arc<Described>>,
    /// When the operation started (only measured for the duration metric).
    start: Option<Instant>,
    rows: u64,
}

impl<T> Shared<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Starts the operation for `sql` under the current context; `None` when there is nothing to
    /// record (no span may record, no metrics, no sqlcommenter).
    pub(crate) fn start(&self, sql: &str) -> Option<Operation<'_, T>> {
        self.start_commented(sql).0
    }

    /// [`start`](Self::start), and the context sqlcommenter writes into the statement: the
    /// span's, or its parent's when the span does not record; `None` when sqlcommenter is off,
    /// there is no valid context, or the statement holds a comment of its own. Returned apart:
    /// only the statement needs it, and the operation is moved through the query's future.
    pub(crate) fn start_commented(&self, sql: &str) -> (Option<Operation<'_, T>>, Option<SpanContext>) {
        let parent = Context::current();
        let parent_span = parent.span();
        let parent_context = parent_span.span_context();
        let may_record = parent_context.is_sampled() || !self.require_sampled_parent;
        if !may_record && !self.sqlcommenter && !self.metrics.active() {
            return (None, None);
        }
        let described = self.cache.get(sql);
        let span = if may_record { self.start_span(&described, &parent, parent_context.is_sampled()) } else { None };
        if span.is_none() && !self.sqlcommenter && !self.metrics.active() {
            return (None, None);
        }
        let comment_context = self
            .sqlcommenter
            .then(|| match &span {
                Some(span) => span.span_context().clone(),
                _ => parent_context.clone(),
            })
            .filter(|cx| cx.is_valid() && !described.has_comment);
        let mut span = span.map(|span| Box::new(Started::Span(span)));
        if let Some(started) = span.as_deref_mut()
            && (self.request_hook.is_some() || self.response_hook.is_some())
        {
            self.hooked(started, sql, &described);
        }
        let operation = Operation {
            shared: self,
            span,
            described: Some(described),
            start: self.metrics.active().then(Instant::now),
            rows: 0,
        };
        (Some(operation), comment_context)
    }

    /// Puts a just-started span into a context, where hooks get it as a `SpanRef`, and runs the
    /// request hook. Only with a hook set: without, the span stays bare (no context to allocate).
    fn hooked(&self, started: &mut Started<T::Span>, sql: &str, described: &Described) {
        let Started::Span(span) = std::mem::replace(started, Started::InContext(Context::new())) else { return };
        let cx = Context::new().with_span(span);
        if let Some(hook) = &self.request_hook {
            let request = SqlRequest {
                sql,
                summary: described.summary.as_ref().map(StringValue::as_str),
                db_system_name: self.system,
                db_namespace: self.namespace.as_ref().map(StringValue::as_str),
            };
            hook.on_request(&cx.span(), &request);
        }
        *started = Started::InContext(cx);
    }

    /// Starts the span; `None` when the sampler drops it.
    ///
    /// Under a sampled parent the span will almost always be sampled too, so its attributes go
    /// into the builder (one vector sized for the attributes added later too), where samplers see
    /// them. Otherwise the span starts bare and gets its attributes only if it records: an
    /// unsampled query allocates nothing here.
    fn start_span(&self, described: &Described, parent: &Context, parent_sampled: bool) -> Option<T::Span> {
        let mut builder = SpanBuilder::from_name(described.name.clone()).with_kind(SpanKind::Client);
        if parent_sampled {
            builder = builder.with_attributes(self.attributes(described));
        }
        let mut span = self.tracer.build_with_context(builder, parent);
        if !span.is_recording() {
            return None;
        }
        if !parent_sampled {
            span.set_attributes(self.attributes(described));
        }
        Some(span)
    }

    fn attributes(&self, described: &Described) -> Vec<KeyValue> {
        // The start attributes, then room for the wait, the rows and a failure's two.
        let mut attributes = Vec::with_capacity(10);
        self.query_attributes(described, &mut attributes);
        if self.query_text {
            attributes.push(KeyValue::new(semconv::DB_QUERY_TEXT, described.text.clone()));
        }
        attributes
    }

    /// A span covering a pool wait that took `wait` and just ended, child of `parent`.
    pub(crate) fn wait_span(&self, parent: &Context, wait: Duration) {
        let end = SystemTime::now();
        let attributes = vec![
            KeyValue::new(semconv::DB_SYSTEM_NAME, self.system),
            KeyValue::new(semconv::DB_CLIENT_CONNECTION_POOL_NAME, self.pool_name.clone()),
        ];
        let builder = SpanBuilder::from_name(POOL_WAIT_SPAN_NAME)
            .with_kind(SpanKind::Internal)
            .with_start_time(end.checked_sub(wait).unwrap_or(end))
            .with_attributes(attributes);
        self.tracer.build_with_context(builder, parent).end_with_timestamp(end);
    }

    /// Records a pool wait that ended now: the wait metric, and for a wait past the threshold a
    /// wait span under `parent` (when the parent records).
    pub(crate) fn waited(&self, parent: &Context, wait: Duration, timed_out: bool) {
        self.metrics.with(|metrics| metrics.waited(wait, timed_out));
        if wait >= self.wait_threshold && parent.span().is_recording() {
            self.wait_span(parent, wait);
        }
    }
}

impl<T> Operation<'_, T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// The connection arrived after `wait`: the span records it, and a long wait gets its own
    /// child span.
    pub(crate) fn acquired(&mut self, wait: Duration, timed_out: bool) {
        let shared = self.shared;
        shared.metrics.with(|metrics| metrics.waited(wait, timed_out));
        let Some(started) = self.span.as_deref_mut() else { return };
        match started {
            Started::Span(span) if wait < shared.wait_threshold => {
                span.set_attribute(KeyValue::new(POOL_WAIT_ATTRIBUTE, wait.as_secs_f64()));
            }
            Started::InContext(cx) => Self::wait_attribute_and_span(shared, cx, wait),
            Started::Span(_) => {
                // The wait span needs the query span as its parent: put it in a context.
                let Started::Span(span) = std::mem::replace(started, Started::InContext(Context::new())) else {
                    return;
                };
                let cx = Context::new().with_span(span);
                Self::wait_attribute_and_span(shared, &cx, wait);
                *started = Started::InContext(cx);
            }
        }
    }

    fn wait_attribute_and_span(shared: &Shared<T>, cx: &Context, wait: Duration) {
        cx.span().set_attribute(KeyValue::new(POOL_WAIT_ATTRIBUTE, wait.as_secs_f64()));
        if wait >= shared.wait_threshold {
            shared.wait_span(cx, wait);
        }
    }
}

impl<T: Tracer> Shared<T> {
    /// What a query's span and its duration metric both record: the pool's system, namespace,
    /// server and port, and the statement's summary.
    fn query_attributes(&self, described: &Described, attributes: &mut impl Extend<KeyValue>) {
        attributes.extend(Some(KeyValue::new(semconv::DB_SYSTEM_NAME, self.system)));
        attributes.extend(self.namespace.clone().map(|namespace| KeyValue::new(semconv::DB_NAMESPACE, namespace)));
        attributes.extend(self.server_address.clone().map(|address| KeyValue::new(semconv::SERVER_ADDRESS, address)));
        attributes.extend(self.server_port.map(|port| KeyValue::new(semconv::SERVER_PORT, i64::from(port))));
        attributes.extend(described.summary.clone().map(|summary| KeyValue::new(semconv::DB_QUERY_SUMMARY, summary)));
    }
}

impl<T: Tracer> Operation<'_, T> {
    /// Counts returned rows.
    pub(crate) fn add_rows(&mut self, rows: u64) {
        self.rows += rows;
    }

    /// Ends the operation with `outcome`, the result the library returns (its response hook runs
    /// first).
    pub(crate) fn finish(mut self, outcome: Result<(), &sqlx::Error>) {
        self.end(outcome, true);
    }

    /// Ends the span and records the metric, once. `finished`: the operation came to its end
    /// (else it was dropped before, and the response hook, which describes an outcome, is not
    /// called).
    fn end(&mut self, outcome: Result<(), &sqlx::Error>, finished: bool) {
        let Some(described) = self.described.take() else { return };
        let failure = outcome.err().and_then(Failure::of);
        if let Some(mut started) = self.span.take() {
            match &mut *started {
                Started::Span(span) => {
                    self.record(span, failure.as_ref());
                    span.end();
                }
                Started::InContext(cx) => {
                    let span = cx.span();
                    if finished && let Some(hook) = &self.shared.response_hook {
                        let response = match outcome {
                            Ok(()) => SqlResponse::Done { returned_rows: self.rows },
                            Err(error) => SqlResponse::Error(error),
                        };
                        hook.on_response(&span, &response);
                    }
                    if self.shared.returned_rows && failure.is_none() {
                        span.set_attribute(self.rows_attribute());
                    }
                    if let Some(failure) = &failure {
                        span.set_attributes(failure.attributes());
                        span.set_status(Status::error(failure.description));
                    }
                    span.end();
                }
            }
        }
        if let Some(start) = self.start {
            let shared = self.shared;
            let attributes = || {
                let mut attributes = AttributeList::<7>::new();
                shared.query_attributes(&described, &mut attributes);
                if let Some(failure) = &failure {
                    attributes.extend(failure.attributes());
                }
                attributes
            };
            // A query without failure records through its statement's bound handle (the pool's
            // system, namespace, server and port are fixed); a failure builds its attributes.
            shared.metrics.with(|metrics| {
                if failure.is_none() {
                    let bound = described.duration.get_or_init(|| metrics.operation.bind(attributes().as_slice()));
                    metrics.operation.record_bound(bound, start, attributes);
                } else {
                    metrics.operation.record(start, attributes().as_slice());
                }
            });
        }
    }

    fn record(&self, span: &mut T::Span, failure: Option<&Failure>) {
        if self.shared.returned_rows && failure.is_none() {
            span.set_attribute(self.rows_attribute());
        }
        if let Some(failure) = failure {
            span.set_attributes(failure.attributes());
            span.set_status(Status::error(failure.description));
        }
    }

    fn rows_attribute(&self) -> KeyValue {
        KeyValue::new(semconv::DB_RESPONSE_RETURNED_ROWS, i64::try_from(self.rows).unwrap_or(i64::MAX))
    }
}

impl<T: Tracer> Drop for Operation<'_, T> {
    fn drop(&mut self) {
        // Not finished: the caller dropped the future or the stream (not an error). The span
        // ends here, once, with what is known so far (no response hook: there is no outcome).
        self.end(Ok(()), false);
    }
}

/// What a failed operation records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// `db.response.status_code`: the SQLSTATE (PostgreSQL, MySQL/MariaDB) or the SQLite result
    /// code, when the database answered with an error.
    pub(crate) status_code: Option<String>,
    /// `error.type`: that code, or a low-cardinality name of the client-side failure.
    pub(crate) error_type: Cow<'static, str>,
    /// A fixed description of the category (never the database's message, which can quote
    /// values).
    pub(crate) description: &'static str,
}

impl Failure {
    /// The failure `error` stands for; `None` for `RowNotFound` (`fetch_one` found no row: the
    /// database did what was asked).
    pub(crate) fn of(error: &sqlx::Error) -> Option<Self> {
        use sqlx::Error::*;
        let client = |name: &'static str| Failure {
            status_code: None,
            error_type: Cow::Borrowed(name),
            description: "client error",
        };
        Some(match error {
            RowNotFound => return None,
            Database(error) => match error.code() {
                Some(code) => Failure {
                    status_code: Some(code.clone().into_owned()),
                    error_type: Cow::Owned(code.into_owned()),
                    description: "database error",
                },
                None => Failure {
                    status_code: None,
                    error_type: Cow::Borrowed(otel_core::semconv::http::ERROR_TYPE_OTHER),
                    description: "database error",
                },
            },
            PoolTimedOut => client("pool_timed_out"),
            PoolClosed => client("pool_closed"),
            Io(_) => client("io"),
            Tls(_) => client("tls"),
            Protocol(_) => client("protocol"),
            Configuration(_) => client("configuration"),
            WorkerCrashed => client("worker_crashed"),
            TypeNotFound { .. } => client("type_not_found"),
            ColumnNotFound(_) | ColumnIndexOutOfBounds { .. } => client("column_not_found"),
            ColumnDecode { .. } | Decode(_) => client("decode"),
            Encode(_) => client("encode"),
            InvalidArgument(_) => client("invalid_argument"),
            _ => client(otel_core::semconv::http::ERROR_TYPE_OTHER),
        })
    }

    fn attributes(&self) -> impl Iterator<Item = KeyValue> + use<> {
        let status = self.status_code.clone().map(|code| KeyValue::new(semconv::DB_RESPONSE_STATUS_CODE, code));
        status.into_iter().chain(std::iter::once(KeyValue::new(semconv::ERROR_TYPE, self.error_type.clone())))
    }
}
