//! `error.type` for a request that failed before a response: a low-cardinality name.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::io;

/// Names a transport error for `error.type`: a short, low-cardinality name, never a dump of the
/// error. [`DefaultErrorType`] covers every `std::error::Error`; a closure covers the rest:
///
/// ```
/// use std::borrow::Cow;
/// use otel_tower::client::ErrorType;
///
/// let by_kind = |error: &tower::BoxError| -> Cow<'static, str> {
///     if error.to_string().contains("timed out") { Cow::Borrowed("timeout") } else { Cow::Borrowed("_OTHER") }
/// };
/// let error: tower::BoxError = "request timed out".into();
/// assert_eq!(by_kind.error_type(&error), "timeout");
/// ```
pub trait ErrorType<E>: Send + Sync + 'static {
    /// The `error.type` of `error`.
    fn error_type(&self, error: &E) -> Cow<'static, str>;
}

impl<E, F> ErrorType<E> for F
where
    F: Fn(&E) -> Cow<'static, str> + Send + Sync + 'static,
{
    fn error_type(&self, error: &E) -> Cow<'static, str> {
        self(error)
    }
}

/// The kind of the first `std::io::Error` in the error's source chain (`connection_refused`,
/// `timed_out`, ...), else `_OTHER`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultErrorType;

impl<E: StdError + 'static> ErrorType<E> for DefaultErrorType {
    fn error_type(&self, error: &E) -> Cow<'static, str> {
        Cow::Borrowed(io_error_type(error).unwrap_or(otel_core::semconv::http::ERROR_TYPE_OTHER))
    }
}

/// Walks the source chain for an I/O error and names its kind.
fn io_error_type(error: &(dyn StdError + 'static)) -> Option<&'static str> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            return Some(io_kind_name(io.kind()));
        }
        current = error.source();
    }
    None
}

fn io_kind_name(kind: io::ErrorKind) -> &'static str {
    use io::ErrorKind::*;
    match kind {
        ConnectionRefused => "connection_refused",
        ConnectionReset => "connection_reset",
        ConnectionAborted => "connection_aborted",
        NotConnected => "not_connected",
        AddrInUse => "addr_in_use",
        AddrNotAvailable => "addr_not_available",
        BrokenPipe => "broken_pipe",
        TimedOut => "timed_out",
        UnexpectedEof => "unexpected_eof",
        HostUnreachable => "host_unreachable",
        NetworkUnreachable => "network_unreachable",
        NetworkDown => "network_down",
        PermissionDenied => "permission_denied",
        InvalidInput => "invalid_input",
        InvalidData => "invalid_data",
        Interrupted => "interrupted",
        _ => "io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Wrapper(io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error")
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn names_the_io_kind_in_the_chain() {
        let error = Wrapper(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(DefaultErrorType.error_type(&error), "connection_refused");
        let plain = fmt::Error;
        assert_eq!(DefaultErrorType.error_type(&plain), "_OTHER");
    }
}
