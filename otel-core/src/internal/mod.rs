//! Speed plumbing shared by the adapters: not part of the documented API, and free to change.
//!
//! What is here makes the request path cheap, not different: spans started so that an unsampled
//! request skips attribute work ([`span_start`]), strings made once and shared ([`intern`],
//! [`recent`]), and one-pass header scans for the maps that can walk their entries.
//! Adapters use it; applications never need it.

pub mod intern;
pub mod recent;
pub mod span_start;

pub use crate::propagation::carrier::{SCAN_LIMIT, first_of_each, trace_headers};
