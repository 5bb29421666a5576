//! HTTP semantic conventions for server and client spans (OpenTelemetry semconv 1.x).
//!
//! Each function takes borrowed request parts and gives attribute values without allocating
//! where a static string serves, so both server adapters and both client adapters apply the
//! same rules.

mod address;
mod client;
mod headers;
mod method;
mod server;
mod status;
mod url;

pub use address::{HostPort, client_address, server_address};
pub use client::{ClientRequest, protocol_version, record_client_failure, record_client_response};
pub use headers::{DEFAULT_SENSITIVE_HEADERS, HeaderCapture, REDACTED, SensitiveHeaders};
pub use method::{HttpMethod, KnownMethods, OTHER_METHOD, span_name};
pub(crate) use method::{STANDARD_METHODS, standard_method_index};
pub(crate) use server::{ip_text, record_failure, server_attributes};
pub use status::{
    ERROR_TYPE_CANCELLED, ERROR_TYPE_OTHER, ERROR_TYPE_PANIC, client_error_type, server_error_type, status_code_str,
};
pub use url::{DEFAULT_SENSITIVE_QUERY_PARAMETERS, SensitiveQueryParameters, percent_decode, redact_query, redact_url};

/// Whether `s` is an RFC 9110 token: the grammar of header names and method names.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
