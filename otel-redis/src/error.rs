//! Redis errors as `db.response.status_code` and `error.type`, without recording error messages
//! (the server echoes arguments into some of them).

use redis::{ErrorKind, RedisError};
use std::borrow::Cow;

/// What a failed command records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The RESP error prefix (`WRONGTYPE`, `ERR`, `NOSCRIPT`), when the server answered.
    pub(crate) status_code: Option<String>,
    /// A low-cardinality name: the server's error prefix, or the kind of client-side failure.
    pub(crate) error_type: Cow<'static, str>,
    /// A fixed description of the category (never the server's message).
    pub(crate) description: &'static str,
}

pub(crate) fn classify(error: &RedisError) -> Failure {
    if let Some(code) = error.code() {
        return Failure {
            status_code: Some(code.to_owned()),
            error_type: Cow::Owned(code.to_owned()),
            description: "server error",
        };
    }
    let error_type = match error.kind() {
        ErrorKind::Io if error.is_timeout() => "timeout",
        ErrorKind::Io if error.is_connection_refusal() => "connection_refused",
        ErrorKind::Io if error.is_connection_dropped() => "connection_dropped",
        ErrorKind::Io => "io",
        ErrorKind::Parse => "parse",
        ErrorKind::AuthenticationFailed => "authentication_failed",
        ErrorKind::InvalidClientConfig => "invalid_client_config",
        ErrorKind::Client => "client",
        ErrorKind::ClusterConnectionNotFound => "cluster_connection_not_found",
        ErrorKind::RESP3NotSupported => "resp3_not_supported",
        _ => otel_core::semconv::http::ERROR_TYPE_OTHER,
    };
    Failure { status_code: None, error_type: Cow::Borrowed(error_type), description: "client error" }
}

/// A failure for an error the server sent inside an otherwise successful reply.
pub(crate) fn server_failure(code: &str) -> Failure {
    Failure { status_code: Some(code.to_owned()), error_type: Cow::Owned(code.to_owned()), description: "server error" }
}
