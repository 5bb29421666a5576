//! sqlcommenter: the query span's `traceparent` (and `tracestate`) appended to the statement as a
//! comment, so the database's own logs and `pg_stat_activity` can be joined to traces.

use opentelemetry::trace::SpanContext;
use std::fmt::Write as _;

/// `sql` with ` /*traceparent='..',tracestate='..'*/` appended (before a trailing `;`): keys
/// sorted, values URL-encoded.
pub(crate) fn append(sql: &str, cx: &SpanContext) -> String {
    let body = sql.trim_end();
    let (statement, tail) = match body.strip_suffix(';') {
        Some(statement) => (statement, &sql[statement.len()..]),
        None => (sql, ""),
    };
    let mut out = String::with_capacity(sql.len() + 80);
    out.push_str(statement);
    let _ =
        write!(out, " /*traceparent='00-{}-{}-{:02x}'", cx.trace_id(), cx.span_id(), cx.trace_flags().to_u8() & 0x03);
    let state = cx.trace_state().header();
    if !state.is_empty() {
        out.push_str(",tracestate='");
        url_encode(&state, &mut out);
        out.push('\'');
    }
    out.push_str("*/");
    out.push_str(tail);
    out
}

/// Percent-encodes everything but unreserved characters (so no `'` can end the value early).
fn url_encode(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    fn context(state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value(state.split(',').filter(|m| !m.is_empty()).filter_map(|m| m.split_once('=')))
                .unwrap(),
        )
    }

    #[test]
    fn appends_before_a_trailing_semicolon() {
        assert_eq!(
            append("SELECT 1;  ", &context("")),
            "SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/;  "
        );
        assert_eq!(
            append("SELECT 1", &context("")),
            "SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/"
        );
    }

    #[test]
    fn tracestate_is_url_encoded() {
        let sql = append("SELECT 1", &context("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
        assert!(sql.ends_with(",tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/"), "{sql}");
    }
}
