//! The `tracestate` header: validation by the Level 2 grammar, joining repeated headers, and
//! the 512-character output limit.

use super::traceparent::trim_ows;
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceId, TraceState};

/// The `tracestate` header name.
pub const TRACESTATE_HEADER: &str = "tracestate";

const MAX_MEMBERS: usize = 32;
const MAX_KEY_LEN: usize = 256;
const MAX_VALUE_LEN: usize = 256;
/// The specification asks to propagate at least this many characters.
const OUTPUT_LIMIT: usize = 512;
/// Members longer than this are the first dropped when the output is too long.
const LONG_MEMBER: usize = 128;

/// Parses every `tracestate` header value, in order, as one list of `(key, value)` members.
///
/// Returns `None` when any member is malformed or there are more than 32 members: the
/// specification drops such a header whole. Empty members and empty headers are skipped;
/// of duplicated keys the first is kept.
///
/// ```
/// use otel_core::propagation::parse_tracestate;
/// assert_eq!(parse_tracestate(["a=1, b=2", "c=3"]), Some(vec![("a", "1"), ("b", "2"), ("c", "3")]));
/// assert_eq!(parse_tracestate(["a=1,B=2"]), None);
/// ```
pub fn parse_tracestate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Vec<(&'a str, &'a str)>> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for value in values {
        for member in value.split(',') {
            let member = trim_str(member);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(value) {
                return None;
            }
            if members.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if members.len() == MAX_MEMBERS {
                return None;
            }
            members.push((key, value));
        }
    }
    Some(members)
}

fn trim_str(s: &str) -> &str {
    let trimmed = trim_ows(s.as_bytes());
    // Only ASCII spaces and tabs were removed, so both ends are still on char boundaries.
    let start = trimmed.as_ptr() as usize - s.as_ptr() as usize;
    &s[start..start + trimmed.len()]
}

/// `key = (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")`
fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= MAX_KEY_LEN
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && rest
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@'))
}

/// `value = 0*255(chr) nblk-chr` with `chr` printable ASCII except `,` and `=`, `nblk-chr` not a space.
fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let Some(&last) = bytes.last() else {
        return false;
    };
    let chr = |b: u8| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=';
    bytes.len() <= MAX_VALUE_LEN && bytes.iter().all(|&b| chr(b)) && last != b' '
}

/// The members of a valid `tracestate` that the API's `TraceState` cannot hold.
///
/// The `opentelemetry` API still validates keys by the older `tenant@vendor` grammar, so a key
/// such as `foo@@bar`, valid today, cannot enter a `SpanContext`. Such a header travels in the
/// context beside the span context instead, and is re-emitted for children of the same trace
/// as long as nobody changed the span context's trace state.
#[derive(Debug)]
pub(crate) struct FullTraceState {
    trace_id: TraceId,
    api: TraceState,
    members: Vec<(String, String)>,
}

/// Builds the API trace state, and the full list when the API rejects some members.
pub(crate) fn to_api_trace_state(
    trace_id: TraceId,
    members: Vec<(&str, &str)>,
) -> (TraceState, Option<FullTraceState>) {
    if members.is_empty() {
        return (TraceState::NONE, None);
    }
    if let Ok(state) = TraceState::from_key_value(members.iter().copied()) {
        return (state, None);
    }
    let accepted = members.iter().copied().filter(|&(k, v)| TraceState::from_key_value([(k, v)]).is_ok());
    let api = TraceState::from_key_value(accepted).unwrap_or_default();
    let full = FullTraceState {
        trace_id,
        api: api.clone(),
        members: members.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    };
    (api, Some(full))
}

/// The `tracestate` header to send for `span_context`, or `None` when it is empty.
pub(crate) fn header_for(cx: &Context, span_context: &SpanContext) -> Option<String> {
    let state = span_context.trace_state();
    match cx.get::<FullTraceState>() {
        Some(full) if full.trace_id == span_context.trace_id() && full.api == *state => {
            format_members(full.members.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        _ => format_members(state),
    }
}

fn format_members<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut members: Vec<(&str, &str)> = members.into_iter().collect();
    let member_len = |(k, v): &(&str, &str)| k.len() + 1 + v.len();
    let total =
        |members: &[(&str, &str)]| members.iter().map(member_len).sum::<usize>() + members.len().saturating_sub(1);
    // Over the limit: drop members longer than 128 characters, longest first, then from the right.
    while total(&members) > OUTPUT_LIMIT {
        let longest = members
            .iter()
            .enumerate()
            .filter(|(_, m)| member_len(m) > LONG_MEMBER)
            .max_by_key(|(i, m)| (member_len(m), usize::MAX - i))
            .map(|(i, _)| i);
        match longest {
            Some(i) => members.remove(i),
            None => members.pop().unwrap_or_default(),
        };
    }
    if members.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(total(&members));
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_headers_and_skips_empty_members() {
        assert_eq!(
            parse_tracestate(["foo=1,,bar=2", "", " \tbaz=3 "]),
            Some(vec![("foo", "1"), ("bar", "2"), ("baz", "3")])
        );
    }

    #[test]
    fn drops_the_whole_header_when_one_member_is_bad() {
        for bad in ["foo=1,FOO=2", "foo =1", "@foo=1,bar=2", "foo=bar=baz", "foo=,bar=3", "foo", "foo.bar=1"] {
            assert_eq!(parse_tracestate([bad]), None, "{bad:?} was accepted");
        }
    }

    #[test]
    fn enforces_member_count_and_lengths() {
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tracestate(many[..32].iter().map(String::as_str)).is_some());
        assert!(parse_tracestate(many.iter().map(String::as_str)).is_none());
        let key = "k".repeat(256);
        assert!(parse_tracestate([format!("{key}=1").as_str()]).is_some());
        assert!(parse_tracestate([format!("k{key}=1").as_str()]).is_none());
        let value = "v".repeat(256);
        assert!(parse_tracestate([format!("k={value}").as_str()]).is_some());
        assert!(parse_tracestate([format!("k=v{value}").as_str()]).is_none());
    }

    #[test]
    fn keeps_the_first_of_duplicated_keys() {
        assert_eq!(parse_tracestate(["foo=1", "foo=2"]), Some(vec![("foo", "1")]));
    }

    #[test]
    fn output_drops_long_members_first_then_from_the_right() {
        let long = format!("long={}", "x".repeat(200));
        let medium = |i: usize| format!("m{i}={}", "y".repeat(100));
        let mut members: Vec<(String, String)> = vec![("a".into(), "1".into())];
        members.push(("long".into(), long[5..].to_owned()));
        for i in 0..4 {
            let m = medium(i);
            let (k, v) = m.split_once('=').unwrap();
            members.push((k.to_owned(), v.to_owned()));
        }
        let header = format_members(members.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        assert!(header.len() <= OUTPUT_LIMIT, "{}", header.len());
        assert!(!header.contains("long="), "the long member goes first");
        assert!(header.starts_with("a=1,m0=") && header.contains("m3="), "{header}");
        // Five members of 104 characters: the rightmost must go.
        let more: Vec<String> = (0..5).map(medium).collect();
        let header = format_members(more.iter().map(|m| m.split_once('=').unwrap())).unwrap();
        assert!(header.contains("m3=") && !header.contains("m4="), "{header}");
    }
}
