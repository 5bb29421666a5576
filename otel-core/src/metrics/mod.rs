//! The HTTP, RPC and database metrics of the semantic conventions, shared by every adapter.
//!
//! Adapters hold these as `Option<...>`: when metrics are off, nothing here runs. Every
//! instrument records through [`bound`]'s handles: per thread, or bound once where the attribute
//! sets are few and known (a pool's name, a request's method and scheme).

mod active;
mod attribute_list;
pub mod bound;
mod source;

pub use attribute_list::AttributeList;
pub use bound::{CachedCounter, CachedHistogram, CachedUpDownCounter, FixedHistogram, FixedUpDownCounter, StaticKey};
pub(crate) use source::records;
pub use source::{Instruments, MeterSource, global_meter_provider_installed};

use crate::internal::recent;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::{attribute as semconv, metric};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// The bucket boundaries the conventions recommend for HTTP and RPC durations, in seconds.
pub const HTTP_DURATION_BUCKETS: [f64; 14] =
    [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// A histogram of seconds with explicit bucket advice: how every duration metric of the
/// conventions is made.
pub fn seconds_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    buckets: &[f64],
) -> Histogram<f64> {
    meter.f64_histogram(name).with_unit("s").with_description(description).with_boundaries(buckets.to_vec()).build()
}

/// `http.server.request.duration` and `http.server.active_requests`.
#[derive(Clone, Debug)]
pub struct HttpServerMetrics {
    duration: CachedHistogram,
    active: active::ActiveRequests,
}

impl HttpServerMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            duration: CachedHistogram::new(seconds_histogram(
                meter,
                metric::HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
                &HTTP_DURATION_BUCKETS,
            )),
            active: active::ActiveRequests::new(
                meter
                    .i64_up_down_counter(metric::HTTP_SERVER_ACTIVE_REQUESTS)
                    .with_unit("{request}")
                    .with_description("Number of active HTTP server requests.")
                    .build(),
            ),
        }
    }

    /// Counts a request as active until the returned guard finishes or is dropped.
    pub fn start(
        self: &Arc<Self>,
        method: &'static str,
        scheme: &'static str,
        protocol_version: Option<&'static str>,
    ) -> ActiveServerRequest {
        let slot = active::ActiveRequests::slot(method, scheme);
        self.active.add(1, slot, method, scheme);
        ActiveServerRequest(InFlight {
            metrics: Some(Arc::clone(self)),
            slot,
            method,
            scheme,
            protocol_version,
            route: None,
            start: Instant::now(),
        })
    }
}

/// One request in flight. [`ActiveServerRequest::finish`] records its duration; dropping it
/// unfinished (the request was cancelled or the handler panicked) records it with
/// `error.type` = `_OTHER`. Either way the active count goes down exactly once.
#[derive(Debug)]
pub struct ActiveServerRequest(InFlight);

#[derive(Debug)]
struct InFlight {
    metrics: Option<Arc<HttpServerMetrics>>,
    slot: active::Slot,
    method: &'static str,
    scheme: &'static str,
    protocol_version: Option<&'static str>,
    route: Option<Cow<'static, str>>,
    start: Instant,
}

/// How a request ended, for the duration metric.
#[derive(Debug, Default)]
pub struct RequestOutcome {
    /// `http.response.status_code`, when a response was produced.
    pub status: Option<u16>,
    /// `error.type`, when the request failed.
    pub error_type: Option<Cow<'static, str>>,
}

impl ActiveServerRequest {
    /// Sets `http.route`, once the router matched one.
    pub fn set_route(&mut self, route: Cow<'static, str>) {
        self.0.route = Some(route);
    }

    /// The `http.route` set so far.
    pub fn route(&self) -> Option<&str> {
        self.0.route.as_deref()
    }

    /// Records the request's duration with its outcome and stops counting it as active; once:
    /// later calls, and the drop, record nothing.
    pub fn finish(&mut self, outcome: RequestOutcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: RequestOutcome) {
        let request = &self.0;
        let Some(metrics) = &request.metrics else { return };
        metrics.active.add(-1, request.slot, request.method, request.scheme);
        let seconds = request.start.elapsed().as_secs_f64();
        // The attributes are made from references: only a thread's first request of a set needs
        // them, and moving the texts around would cost every request.
        let attributes = || {
            let mut attributes = AttributeList::<6>::new();
            attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, request.method));
            attributes.push(KeyValue::new(semconv::URL_SCHEME, request.scheme));
            if let Some(status) = outcome.status {
                attributes.push(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
            }
            if let Some(route) = &request.route {
                attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
            }
            if let Some(error_type) = &outcome.error_type {
                attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
            }
            if let Some(version) = request.protocol_version {
                attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
            }
            attributes
        };
        let mut key = StaticKey::new();
        key.text(Some(request.method));
        key.text(Some(request.scheme));
        key.number(outcome.status.map(i64::from));
        let keyed = key_text(&mut key, request.route.as_ref()) && key_text(&mut key, outcome.error_type.as_ref());
        key.text(request.protocol_version);
        if keyed {
            metrics.duration.record_keyed(seconds, &key, attributes);
        } else {
            metrics.duration.record(seconds, attributes().as_slice());
        }
        self.0.metrics = None;
    }
}

/// Adds an optional text to `key`: a `'static` one (an interned route, a named error) by
/// address, an owned one by value; `false` when an owned one is too long to key.
#[inline]
fn key_text(key: &mut StaticKey, text: Option<&Cow<'static, str>>) -> bool {
    match text {
        Some(Cow::Owned(text)) => key.inline_text(text),
        Some(Cow::Borrowed(text)) => {
            key.text(Some(text));
            true
        }
        None => {
            key.text(None);
            true
        }
    }
}

impl Drop for ActiveServerRequest {
    fn drop(&mut self) {
        self.record(RequestOutcome {
            status: None,
            error_type: Some(Cow::Borrowed(crate::semconv::http::ERROR_TYPE_OTHER)),
        });
    }
}

/// `http.client.request.duration`.
#[derive(Clone, Debug)]
pub struct HttpClientMetrics {
    duration: CachedHistogram,
}

/// A client request being timed for `http.client.request.duration`: what the metric needs from
/// the request, kept from the moment it is sent until its outcome is known.
#[derive(Debug)]
pub struct ClientRequestStart {
    start: Instant,
    method: &'static str,
    /// `server.address`, empty when the destination is unknown.
    server_address: StringValue,
    server_port: Option<u16>,
    scheme: Option<&'static str>,
}

impl ClientRequestStart {
    /// Starts timing a request now. `method` is the normalized method; `scheme` is the URL's
    /// (recorded as `url.scheme` when it is `http` or `https`).
    pub fn now(method: &'static str, server_address: &str, server_port: Option<u16>, scheme: &str) -> Self {
        let scheme = match scheme {
            "http" => Some("http"),
            "https" => Some("https"),
            _ => None,
        };
        // The thread's recent hosts: a host called again takes a reference, not a copy.
        let server_address =
            if server_address.is_empty() { StringValue::from("") } else { recent::client_host(server_address) };
        Self { start: Instant::now(), method, server_address, server_port, scheme }
    }
}

impl HttpClientMetrics {
    /// Creates the instrument on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            duration: CachedHistogram::new(seconds_histogram(
                meter,
                metric::HTTP_CLIENT_REQUEST_DURATION,
                "Duration of HTTP client requests.",
                &HTTP_DURATION_BUCKETS,
            )),
        }
    }

    /// Records the duration of `request` with its outcome: the status code when a response
    /// arrived, `error.type` when it failed (transport error, 4xx or 5xx), the protocol version
    /// when known.
    pub fn finish(
        &self,
        request: ClientRequestStart,
        status: Option<u16>,
        error_type: Option<Cow<'static, str>>,
        protocol_version: Option<&'static str>,
    ) {
        let seconds = request.start.elapsed().as_secs_f64();
        let ClientRequestStart { method, server_address, server_port, scheme, .. } = request;
        // An unknown destination (a relative URI without `Host`) records no address at all.
        let server = (!server_address.as_str().is_empty()).then_some((server_address, server_port));
        let mut key = StaticKey::new();
        key.text(Some(method));
        let mut keyed = server.as_ref().is_none_or(|(address, _)| key.inline_text(address.as_str()));
        key.number(server_port.map(i64::from));
        key.text(scheme);
        key.number(status.map(i64::from));
        keyed = keyed && key_text(&mut key, error_type.as_ref());
        key.text(protocol_version);
        let attributes = move || {
            let mut attributes = AttributeList::<7>::new();
            attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method));
            if let Some((address, port)) = server {
                attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address));
                if let Some(port) = port {
                    attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
            }
            if let Some(scheme) = scheme {
                attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme));
            }
            if let Some(status) = status {
                attributes.push(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
            }
            if let Some(error_type) = error_type {
                attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type));
            }
            if let Some(version) = protocol_version {
                attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
            }
            attributes
        };
        if keyed {
            self.duration.record_keyed(seconds, &key, attributes);
        } else {
            self.duration.record(seconds, attributes().as_slice());
        }
    }
}

/// The bucket boundaries the conventions recommend for database operation durations, in seconds.
pub const DB_DURATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// `db.client.operation.duration`, shared by the database adapters.
#[derive(Clone, Debug)]
pub struct DbClientMetrics {
    duration: CachedHistogram,
}

impl DbClientMetrics {
    /// Creates the instrument on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            duration: CachedHistogram::new(seconds_histogram(
                meter,
                metric::DB_CLIENT_OPERATION_DURATION,
                "Duration of database client operations.",
                &DB_DURATION_BUCKETS,
            )),
        }
    }

    /// Records one operation that started at `start`, with its attributes (`db.system.name`,
    /// `db.operation.name`, `db.namespace`, `server.address`, `server.port`, and on failure
    /// `error.type` and `db.response.status_code`).
    pub fn record(&self, start: Instant, attributes: &[KeyValue]) {
        self.duration.record(start.elapsed().as_secs_f64(), attributes);
    }

    /// [`record`](Self::record), with `key` naming the attributes that vary from operation to
    /// operation (the operation's name or summary, the namespace when a command can change it);
    /// `attributes` makes the whole set, called only when this thread has no handle for `key`.
    /// The attributes left out of `key` must be the same for every operation recorded with this
    /// instance: adapters make one per pool or connection, whose system, server and port are fixed.
    pub fn record_keyed<const N: usize>(
        &self,
        start: Instant,
        key: &StaticKey,
        attributes: impl FnOnce() -> AttributeList<N>,
    ) {
        self.duration.record_keyed(start.elapsed().as_secs_f64(), key, attributes);
    }

    /// The duration bound to `attributes` for good, for a caller that records one attribute set
    /// many times and can keep the handle with it (a statement's successful executions): each
    /// [`record_bound`](Self::record_bound) is then a call on the handle, with no lookup.
    pub fn bind(&self, attributes: &[KeyValue]) -> BoundDuration {
        BoundDuration {
            instrument: self.duration.id(),
            histogram: FixedHistogram::new(self.duration.instrument(), attributes),
        }
    }

    /// Records one operation that started at `start` through `bound`, when it was bound on these
    /// instruments; else (bound on instruments since rebuilt for another meter provider) like
    /// [`record_keyed`](Self::record_keyed) without a key, with `attributes`.
    pub fn record_bound<const N: usize>(
        &self,
        bound: &BoundDuration,
        start: Instant,
        attributes: impl FnOnce() -> AttributeList<N>,
    ) {
        if bound.instrument == self.duration.id() {
            bound.histogram.record(start.elapsed().as_secs_f64());
        } else {
            self.record(start, attributes().as_slice());
        }
    }
}

/// `db.client.operation.duration` bound to one attribute set by [`DbClientMetrics::bind`].
pub struct BoundDuration {
    /// The instrument it was bound on.
    instrument: u64,
    histogram: FixedHistogram,
}

impl fmt::Debug for BoundDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundDuration").field("instrument", &self.instrument).finish_non_exhaustive()
    }
}

/// `rpc.server.call.duration` or `rpc.client.call.duration`, shared by the gRPC server and client
/// adapters. A clone shares the instrument.
#[derive(Clone, Debug)]
pub struct RpcCallMetrics {
    duration: CachedHistogram,
}

/// One gRPC call being timed, and what its metric point needs beyond the outcome.
#[derive(Debug)]
pub struct RpcCallStart {
    start: Instant,
    /// `server.address` and `server.port` (a client's destination; opt-in on the server, so
    /// never recorded there).
    server: Option<(Cow<'static, str>, Option<u16>)>,
}

impl RpcCallStart {
    /// Starts timing a call now, with the client's destination (`None` on a server).
    pub fn now(server: Option<(Cow<'static, str>, Option<u16>)>) -> Self {
        Self { start: Instant::now(), server }
    }
}

impl RpcCallMetrics {
    /// `rpc.server.call.duration` on `meter`.
    pub fn server(meter: &Meter) -> Self {
        Self::new(meter, metric::RPC_SERVER_CALL_DURATION, "Measures the duration of an incoming RPC.")
    }

    /// `rpc.client.call.duration` on `meter`.
    pub fn client(meter: &Meter) -> Self {
        Self::new(meter, metric::RPC_CLIENT_CALL_DURATION, "Measures the duration of an outgoing RPC.")
    }

    fn new(meter: &Meter, name: &'static str, description: &'static str) -> Self {
        let duration = seconds_histogram(meter, name, description, &HTTP_DURATION_BUCKETS);
        Self { duration: CachedHistogram::new(duration) }
    }

    /// Records the duration of `call`: `rpc.system.name`, `rpc.method`, the status code when one
    /// was returned, `error.type` when the call failed, and a client's `server.address` and
    /// `server.port`.
    pub fn finish(
        &self,
        call: RpcCallStart,
        method: Cow<'static, str>,
        status: Option<&'static str>,
        error_type: Option<Cow<'static, str>>,
    ) {
        let mut attributes = AttributeList::<6>::new();
        attributes.push(KeyValue::new(semconv::RPC_SYSTEM_NAME, crate::semconv::rpc::GRPC));
        attributes.push(KeyValue::new(semconv::RPC_METHOD, method));
        if let Some(status) = status {
            attributes.push(KeyValue::new(crate::semconv::rpc::RPC_RESPONSE_STATUS_CODE, status));
        }
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type));
        }
        if let Some((address, port)) = call.server {
            attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address));
            if let Some(port) = port {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        self.duration.record(call.start.elapsed().as_secs_f64(), attributes.as_slice());
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::MetricRecorder;
    use opentelemetry::metrics::MeterProvider;

    #[test]
    fn a_bound_duration_records_on_the_instruments_it_was_bound_on_and_falls_back_on_others() {
        let (first, second) = (MetricRecorder::new(), MetricRecorder::new());
        let on_first = DbClientMetrics::new(&first.provider().meter("test"));
        let on_second = DbClientMetrics::new(&second.provider().meter("test"));
        let attributes = || {
            let mut attributes = AttributeList::<1>::new();
            attributes.push(KeyValue::new("db.query.summary", "SELECT users"));
            attributes
        };
        let bound = on_first.bind(attributes().as_slice());
        on_first.record_bound(&bound, Instant::now(), attributes);
        // Instruments rebuilt for another provider: the handle bound on the first is not used.
        on_second.record_bound(&bound, Instant::now(), attributes);
        let point = [("db.query.summary=SELECT users".to_owned(), 1)];
        assert_eq!(first.histogram("db.client.operation.duration"), point);
        assert_eq!(second.histogram("db.client.operation.duration"), point);
    }
}
