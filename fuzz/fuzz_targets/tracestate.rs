//! `tracestate`: otel-core's Level 2 parser (repeated headers joined, 32 members, key grammar,
//! 256-character keys and values) and the 512-character output limit, behind a valid
//! `traceparent`. What the parser accepts obeys the grammar; an accepted header survives inject
//! and extract (cut to 512 characters by whole members) (see `otel_fuzz::check_trace_context`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_core::propagation::parse_tracestate;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03";

fn valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b))
        && key.len() <= 256
}

fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

fuzz_target!(|data: &[u8]| {
    // The input as header values, one per line.
    let lines: Vec<&str> = data.split(|&b| b == b'\n').map(|l| std::str::from_utf8(l).unwrap_or("\u{fffd}")).collect();
    if let Some(members) = parse_tracestate(lines.iter().copied()) {
        assert!(members.len() <= 32, "{} members", members.len());
        for (i, (key, value)) in members.iter().enumerate() {
            assert!(valid_key(key), "invalid key accepted: {key:?}");
            assert!(valid_value(value), "invalid value accepted: {value:?}");
            assert!(members[..i].iter().all(|(k, _)| k != key), "duplicate key kept: {key:?}");
        }
    }
    // As headers after one valid traceparent: mostly `tracestate` lines.
    let mut headers = http::HeaderMap::new();
    headers.append("traceparent", http::HeaderValue::from_static(TRACEPARENT));
    let extra = otel_fuzz::header_map(data, &["tracestate", "tracestate", "tracestate"]);
    for (name, value) in extra.iter() {
        headers.append(name.clone(), value.clone());
    }
    otel_fuzz::check_trace_context(&headers);
});
