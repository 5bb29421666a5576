//! RPC semantic conventions for gRPC (semantic conventions v1.44, where they are a release
//! candidate): which requests are gRPC calls, `rpc.method`, the status code's name, and which
//! codes are errors on which side. Shared by every gRPC server and client adapter.
//!
//! v1.44 names the status attribute `rpc.response.status_code`; the conventions' main branch
//! renames it `rpc.status_code` for the next release. [`RPC_RESPONSE_STATUS_CODE`] is the one
//! place that name is written.

mod call;

pub use call::{CallEnd, GrpcCall};

use crate::internal::{intern, recent};
use crate::propagation::HeaderSource;
use crate::semconv::http::{HostPort, ip_text};
use crate::server::ServerRequest;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};
use opentelemetry_semantic_conventions::attribute as semconv;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

/// `rpc.system.name` of a gRPC call.
pub const GRPC: &str = "grpc";

/// The attribute that carries the call's status code (`OK`, `NOT_FOUND`, ...).
pub const RPC_RESPONSE_STATUS_CODE: &str = semconv::RPC_RESPONSE_STATUS_CODE;

/// `rpc.method` of a call whose method is not recognized: a malformed path, or a method the
/// server answered `UNIMPLEMENTED`.
pub const METHOD_OTHER: &str = "_OTHER";

/// The response header (or trailer) that carries a call's status code.
pub const GRPC_STATUS_HEADER: &str = "grpc-status";

/// Whether a `content-type` value names a gRPC call: `application/grpc`, optionally followed by
/// `+{codec}` or parameters. gRPC-Web (`application/grpc-web`) is not: its status travels inside
/// the body, so it keeps HTTP semantics.
///
/// ```
/// use otel_core::semconv::rpc::is_grpc;
/// assert!(is_grpc(b"application/grpc"));
/// assert!(is_grpc(b"application/grpc+proto"));
/// assert!(!is_grpc(b"application/grpc-web"));
/// assert!(!is_grpc(b"application/json"));
/// ```
pub fn is_grpc(content_type: &[u8]) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    content_type.len() >= PREFIX.len()
        && content_type[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        && matches!(content_type.get(PREFIX.len()), None | Some(b'+' | b';' | b' '))
}

/// The method of a gRPC request path, `package.Service/Method` from `/package.Service/Method`;
/// `None` when the path is not of that form (then `rpc.method` is [`METHOD_OTHER`]).
///
/// ```
/// use otel_core::semconv::rpc::grpc_method;
/// assert_eq!(grpc_method("/helloworld.Greeter/SayHello"), Some("helloworld.Greeter/SayHello"));
/// assert_eq!(grpc_method("/helloworld.Greeter"), None);
/// assert_eq!(grpc_method("/a/b/c"), None);
/// ```
pub fn grpc_method(path: &str) -> Option<&str> {
    let method = path.strip_prefix('/')?;
    let slash = method.bytes().position(|b| b == b'/')?;
    let (service, name) = (&method[..slash], &method[slash + 1..]);
    let valid = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    (valid(service) && valid(name)).then_some(method)
}

/// A gRPC status code (0 to 16). A code outside that range is `UNKNOWN`, as gRPC itself treats
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcStatus(u8);

/// The names of the codes, by value, as the conventions record them.
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl GrpcStatus {
    /// `OK`.
    pub const OK: Self = Self(0);
    /// `CANCELLED`: the caller went away.
    pub const CANCELLED: Self = Self(1);
    /// `UNKNOWN`.
    pub const UNKNOWN: Self = Self(2);
    /// `UNIMPLEMENTED`: the server does not know the method.
    pub const UNIMPLEMENTED: Self = Self(12);
    /// `INTERNAL`.
    pub const INTERNAL: Self = Self(13);
    /// `UNAVAILABLE`.
    pub const UNAVAILABLE: Self = Self(14);

    /// The status of `code`.
    pub fn from_code(code: i64) -> Self {
        u8::try_from(code).ok().filter(|&c| usize::from(c) < NAMES.len()).map_or(Self::UNKNOWN, Self)
    }

    /// The status a `grpc-status` value gives: its decimal code, `UNKNOWN` when it is malformed.
    ///
    /// ```
    /// use otel_core::semconv::rpc::GrpcStatus;
    /// assert_eq!(GrpcStatus::parse(b"5").name(), "NOT_FOUND");
    /// assert_eq!(GrpcStatus::parse(b"x").name(), "UNKNOWN");
    /// ```
    pub fn parse(value: &[u8]) -> Self {
        let digits = value.trim_ascii();
        if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
            return Self::UNKNOWN;
        }
        Self::from_code(digits.iter().fold(0, |code, d| code * 10 + i64::from(d - b'0')))
    }

    /// The status gRPC gives a response whose HTTP status is not 200 (gRPC's "HTTP to gRPC
    /// status code mapping"): a proxy or a layer answered instead of the service.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            200 => Self::OK,
            400 => Self::INTERNAL,
            401 => Self(16),
            403 => Self(7),
            404 => Self::UNIMPLEMENTED,
            429 | 502 | 503 | 504 => Self::UNAVAILABLE,
            _ => Self::UNKNOWN,
        }
    }

    /// The code's value.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The code's name (`NOT_FOUND`): `rpc.response.status_code`, and `error.type` when it is an
    /// error.
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }

    /// Whether a server records this code as an error: only the codes the conventions list
    /// (`UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`,
    /// `DATA_LOSS`); the others are the caller's doing.
    pub fn is_server_error(self) -> bool {
        matches!(self.0, 2 | 4 | 12 | 13 | 14 | 15)
    }

    /// Whether a client records this code as an error: every code but `OK`.
    pub fn is_client_error(self) -> bool {
        self != Self::OK
    }
}

/// The side of a call a span describes, which decides which codes are errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The server's span.
    Server,
    /// The client's span.
    Client,
}

impl Side {
    /// Whether `status` is an error on this side.
    pub fn is_error(self, status: GrpcStatus) -> bool {
        match self {
            Self::Server => status.is_server_error(),
            Self::Client => status.is_client_error(),
        }
    }
}

/// The `error.type` of a call that ended with `status` on `side`: the code's name when it is an
/// error there.
pub fn error_type(side: Side, status: GrpcStatus) -> Option<&'static str> {
    side.is_error(status).then(|| status.name())
}

/// Records how a call ended on its span: `rpc.response.status_code`, and for an error on this
/// side `error.type` (the code's name) and the Error status. The status description stays empty:
/// a `grpc-message` is the server's text and may carry request data.
pub fn record_status(span: &SpanRef<'_>, side: Side, status: GrpcStatus) {
    span.set_attribute(KeyValue::new(RPC_RESPONSE_STATUS_CODE, status.name()));
    if let Some(error_type) = error_type(side, status) {
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(""));
    }
}

/// What a call's span and metric say of its method.
///
/// `rpc.method` is the method only when it is recognized (the conventions' rule, which keeps a
/// client that sends random paths from making a metric series or a span name per path). A client
/// calls the methods of its stubs: recognized. A server recognizes a method once it answered a
/// call to it with anything but `UNIMPLEMENTED`; until then a call's span starts named `grpc`
/// and learns its `rpc.method` (the method, or `_OTHER`) when it ends. Methods learned are
/// interned, so a call to one allocates nothing for its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcMethod {
    /// `package.Service/Method`, or the path as received when it is not of that form.
    name: Cow<'static, str>,
    state: MethodState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MethodState {
    /// Not of the form `/package.Service/Method`: `_OTHER`.
    Malformed,
    /// Known to be served: a client's, or one its server answered before.
    Recognized,
    /// A server's method not answered yet: decided when the call ends.
    Pending,
}

impl RpcMethod {
    /// The method of a call a client sends to `path`.
    pub fn client(path: &str) -> Self {
        match grpc_method(path) {
            Some(method) => Self { name: known_method(method), state: MethodState::Recognized },
            None => Self::malformed(path),
        }
    }

    /// The method of a call a server received for `path`.
    pub fn server(path: &str) -> Self {
        match grpc_method(path) {
            Some(method) => match known_method(method) {
                known @ Cow::Borrowed(_) => Self { name: known, state: MethodState::Recognized },
                unknown => Self { name: unknown, state: MethodState::Pending },
            },
            None => Self::malformed(path),
        }
    }

    fn malformed(path: &str) -> Self {
        Self { name: Cow::Owned(path.to_owned()), state: MethodState::Malformed }
    }

    /// The span's name when the call starts: `{rpc.method}`, or `grpc` until the method is
    /// recognized.
    pub fn span_name(&self) -> Cow<'static, str> {
        match self.state {
            MethodState::Recognized => self.name.clone(),
            MethodState::Malformed | MethodState::Pending => Cow::Borrowed(GRPC),
        }
    }

    /// The span attributes known when the call starts: `rpc.system.name`, and `rpc.method`
    /// (with `rpc.method_original` when it is `_OTHER`) unless it is decided at the end.
    pub fn attributes(&self, attributes: &mut Vec<KeyValue>) {
        attributes.push(KeyValue::new(semconv::RPC_SYSTEM_NAME, GRPC));
        match self.state {
            MethodState::Recognized => attributes.push(KeyValue::new(semconv::RPC_METHOD, self.name.clone())),
            MethodState::Malformed => {
                attributes.push(KeyValue::new(semconv::RPC_METHOD, METHOD_OTHER));
                attributes.push(KeyValue::new(semconv::RPC_METHOD_ORIGINAL, self.name.clone()));
            }
            MethodState::Pending => {}
        }
    }

    /// Whether the method is recognized, once the call ended with `answer`: the status its
    /// server answered with, if it answered at all.
    fn recognized(&self, answer: Option<GrpcStatus>) -> bool {
        match self.state {
            MethodState::Recognized => true,
            MethodState::Malformed => false,
            MethodState::Pending => answer.is_some_and(|status| status != GrpcStatus::UNIMPLEMENTED),
        }
    }

    /// `rpc.method` for the metric: the method, or `_OTHER`.
    fn attribute(&self, recognized: bool) -> Cow<'static, str> {
        if recognized { self.name.clone() } else { Cow::Borrowed(METHOD_OTHER) }
    }

    /// Completes the span of a call whose method was decided at its end: its name and
    /// `rpc.method`, or `rpc.method` `_OTHER` and `rpc.method_original`.
    fn record_decision(&self, span: &SpanRef<'_>, recognized: bool) {
        if self.state != MethodState::Pending {
            return;
        }
        if recognized {
            span.update_name(self.name.clone());
            span.set_attribute(KeyValue::new(semconv::RPC_METHOD, self.name.clone()));
        } else {
            span.set_attribute(KeyValue::new(semconv::RPC_METHOD, METHOD_OTHER));
            span.set_attribute(KeyValue::new(semconv::RPC_METHOD_ORIGINAL, self.name.clone()));
        }
    }

    /// Keeps a method its server answered (with anything but `UNIMPLEMENTED`) for later calls,
    /// on either side: only methods a server serves are ever interned, so a client sending
    /// random paths fills nothing.
    fn learn(&self, answer: Option<GrpcStatus>) {
        let served = answer.is_some_and(|status| status != GrpcStatus::UNIMPLEMENTED);
        if served && self.state != MethodState::Malformed && matches!(self.name, Cow::Owned(_)) {
            learn_method(&self.name);
        }
    }
}

/// The attributes of a gRPC server span known when the call arrives, for the sampler:
/// `rpc.system.name`, `rpc.method` (and `rpc.method_original` for a malformed path),
/// `server.address`/`server.port` from the HTTP/2 `:authority` (else `Host`) the client used,
/// and `network.peer.address`/`network.peer.port`.
pub(crate) fn server_attributes<R: ServerRequest + ?Sized>(request: &R, method: &RpcMethod) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(7);
    method.attributes(&mut attributes);
    let authority = request.authority().or_else(|| request.headers().first_str("host"));
    if let Some(HostPort { host, port }) = authority.and_then(HostPort::parse) {
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, recent::server_host(host)));
        if let Some(port) = port {
            attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(peer) = request.peer() {
        attributes.push(KeyValue::new(semconv::NETWORK_PEER_ADDRESS, recent::peer_ip(peer.ip(), ip_text)));
        attributes.push(KeyValue::new(semconv::NETWORK_PEER_PORT, i64::from(peer.port())));
    }
    attributes
}

thread_local! {
    /// The methods this thread has seen answered, interned: a call takes its name from here
    /// without the interner's lock.
    static METHODS: RefCell<HashSet<&'static str, BuildHasherDefault<intern::WordHasher>>> =
        RefCell::default();
}

/// `method`, `'static` when it was learned, else owned.
fn known_method(method: &str) -> Cow<'static, str> {
    let known = METHODS.try_with(|methods| methods.try_borrow().ok().and_then(|m| m.get(method).copied()));
    known.ok().flatten().map_or_else(|| Cow::Owned(method.to_owned()), Cow::Borrowed)
}

/// Interns `method` and keeps it in this thread's set.
fn learn_method(method: &str) {
    if let Some(interned) = intern::intern(method) {
        let _ = METHODS.try_with(|methods| methods.try_borrow_mut().map(|mut m| m.insert(interned)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_name_and_side() {
        assert_eq!(GrpcStatus::from_code(0).name(), "OK");
        assert_eq!(GrpcStatus::from_code(16).name(), "UNAUTHENTICATED");
        assert_eq!(GrpcStatus::from_code(17), GrpcStatus::UNKNOWN);
        assert_eq!(GrpcStatus::from_code(-1), GrpcStatus::UNKNOWN);
        assert_eq!(GrpcStatus::parse(b" 14 "), GrpcStatus::UNAVAILABLE);
        assert_eq!(GrpcStatus::parse(b"99999999999999999999"), GrpcStatus::UNKNOWN);
        assert_eq!(GrpcStatus::parse(b""), GrpcStatus::UNKNOWN);
        let server_errors: Vec<_> =
            (0..17).map(GrpcStatus::from_code).filter(|s| s.is_server_error()).map(GrpcStatus::name).collect();
        assert_eq!(
            server_errors,
            ["UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"]
        );
        assert_eq!(error_type(Side::Server, GrpcStatus::from_code(5)), None);
        assert_eq!(error_type(Side::Client, GrpcStatus::from_code(5)), Some("NOT_FOUND"));
        assert_eq!(error_type(Side::Client, GrpcStatus::OK), None);
        assert_eq!(GrpcStatus::from_http_status(503), GrpcStatus::UNAVAILABLE);
        assert_eq!(GrpcStatus::from_http_status(404), GrpcStatus::UNIMPLEMENTED);
    }

    #[test]
    fn content_types() {
        for yes in ["application/grpc", "application/GRPC+json", "application/grpc; charset=utf-8"] {
            assert!(is_grpc(yes.as_bytes()), "{yes}");
        }
        for no in ["application/grpc-web", "application/grpc-web+proto", "application/grpcx", "text/plain", ""] {
            assert!(!is_grpc(no.as_bytes()), "{no}");
        }
    }

    proptest::proptest! {
        /// Any bytes: the parsers never panic, a parsed status names a code, and a method that
        /// parses comes back from its path.
        #[test]
        fn hostile_input_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = is_grpc(&bytes);
            let status = GrpcStatus::parse(&bytes);
            proptest::prop_assert!(NAMES.contains(&status.name()));
            let text = String::from_utf8_lossy(&bytes);
            if let Some(method) = grpc_method(&text) {
                let path = format!("/{method}");
                proptest::prop_assert_eq!(grpc_method(&path), Some(method));
                proptest::prop_assert_eq!(method.bytes().filter(|&b| b == b'/').count(), 1);
            }
            let _ = RpcMethod::server(&text).span_name();
        }

        /// Every code round-trips through its `grpc-status` text.
        #[test]
        fn status_codes_round_trip(code in 0u8..17) {
            proptest::prop_assert_eq!(GrpcStatus::parse(code.to_string().as_bytes()).code(), code);
        }
    }

    #[test]
    fn a_server_learns_a_method_once_it_answered_it() {
        let pending = RpcMethod::server("/test.Learn/Once");
        assert_eq!(pending.span_name(), "grpc");
        let mut attributes = Vec::new();
        pending.attributes(&mut attributes);
        assert_eq!(attributes, [KeyValue::new(semconv::RPC_SYSTEM_NAME, GRPC)]);
        assert!(!pending.recognized(Some(GrpcStatus::UNIMPLEMENTED)));
        assert!(!pending.recognized(None), "never answered");
        pending.learn(Some(GrpcStatus::UNIMPLEMENTED));
        assert_eq!(RpcMethod::server("/test.Learn/Once").state, MethodState::Pending);
        pending.learn(Some(GrpcStatus::from_code(5)));
        let known = RpcMethod::server("/test.Learn/Once");
        assert_eq!(known.state, MethodState::Recognized);
        assert!(matches!(known.span_name(), Cow::Borrowed("test.Learn/Once")));

        let client = RpcMethod::client("/test.Client/Call");
        assert_eq!(client.span_name(), "test.Client/Call");
        assert!(client.recognized(None));
        assert!(matches!(client.span_name(), Cow::Owned(_)));
        client.learn(Some(GrpcStatus::OK));
        assert!(matches!(RpcMethod::client("/test.Client/Call").span_name(), Cow::Borrowed(_)));

        let malformed = RpcMethod::server("/no-method");
        assert_eq!(malformed.span_name(), "grpc");
        let mut attributes = Vec::new();
        malformed.attributes(&mut attributes);
        assert_eq!(attributes[1], KeyValue::new(semconv::RPC_METHOD, METHOD_OTHER));
        assert_eq!(attributes[2], KeyValue::new(semconv::RPC_METHOD_ORIGINAL, "/no-method"));
    }
}
