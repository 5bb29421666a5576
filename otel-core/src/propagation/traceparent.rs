//! The `traceparent` header: `version-traceid-parentid-flags`, parsed byte by byte.

use super::kept_flags;
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

/// The `traceparent` header name.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// Length of a version-00 `traceparent`: `2-32-16-2` hex digits and three dashes.
const LEN: usize = 55;

/// A valid `traceparent` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceparent {
    /// The trace id (never all zeros).
    pub trace_id: TraceId,
    /// The caller's span id (never all zeros).
    pub span_id: SpanId,
    /// The flags, with only the sampled and random bits kept.
    pub flags: TraceFlags,
}

impl Traceparent {
    /// Parses a header value, or `None` when it breaks any rule of the specification.
    ///
    /// ```
    /// use otel_core::propagation::Traceparent;
    /// assert!(Traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some());
    /// assert!(Traceparent::parse("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = trim_ows(value.as_bytes());
        if bytes.len() < LEN {
            return None;
        }
        let version = hex_u8(&bytes[0..2])?;
        if version == 0xff {
            return None;
        }
        // Version 00 has exactly four fields; a later version may append `-...` after them.
        if (version == 0 && bytes.len() != LEN) || (bytes.len() > LEN && bytes[LEN] != b'-') {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_id = hex_u128(&bytes[3..35])?;
        let span_id = hex_u64(&bytes[36..52])?;
        let flags = hex_u8(&bytes[53..55])?;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Self {
            trace_id: TraceId::from(trace_id),
            span_id: SpanId::from(span_id),
            flags: kept_flags(TraceFlags::new(flags)),
        })
    }

    /// Formats a version-00 header value, keeping only the sampled and random flag bits.
    pub fn format(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> String {
        // Written into a stack buffer, then copied once: it runs for every outgoing request.
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        write_hex(&mut out[3..35], &trace_id.to_bytes());
        write_hex(&mut out[36..52], &span_id.to_bytes());
        write_hex(&mut out[53..LEN], &[kept_flags(flags).to_u8()]);
        std::str::from_utf8(&out).map(str::to_owned).unwrap_or_default()
    }
}

/// Strips the optional white space (spaces and tabs) HTTP allows around a header value.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Value of each byte as a lowercase hex digit; `0xff` for anything else (uppercase is invalid in
/// `traceparent`). A table keeps the parse branch-free: it runs on every request.
static HEX: [u8; 256] = {
    let mut table = [0xff_u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Up to 16 hex digits; `None` when any is not a lowercase hex digit.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    let mut invalid = 0u8;
    for &b in digits {
        let digit = HEX[usize::from(b)];
        invalid |= digit;
        value = (value << 4) | u64::from(digit & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(value)
}

fn hex_u128(digits: &[u8]) -> Option<u128> {
    let (high, low) = digits.split_at(16);
    Some((u128::from(hex_u64(high)?) << 64) | u128::from(hex_u64(low)?))
}

fn hex_u8(digits: &[u8]) -> Option<u8> {
    hex_u64(&digits[..2]).map(|v| v as u8)
}

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_a_valid_header() {
        let parent = Traceparent::parse(VALID).unwrap();
        assert_eq!(format!("{:032x}", parent.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(format!("{:016x}", parent.span_id), "b7ad6b7169203331");
        assert!(parent.flags.is_sampled());
    }

    #[test]
    fn round_trips_through_format() {
        let parent = Traceparent::parse(VALID).unwrap();
        assert_eq!(Traceparent::format(parent.trace_id, parent.span_id, parent.flags), VALID);
    }

    #[test]
    fn keeps_random_bit_and_zeroes_unknown_bits() {
        let parent = Traceparent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff").unwrap();
        assert_eq!(parent.flags.to_u8(), 0x03);
        let out = Traceparent::format(parent.trace_id, parent.span_id, TraceFlags::new(0xfe));
        assert!(out.ends_with("-02"), "{out}");
    }

    #[test]
    fn rejects_wrong_lengths_and_characters() {
        for bad in [
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "000-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-001",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.x",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "",
            "é0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(Traceparent::parse(bad).is_none(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn accepts_future_versions_and_surrounding_white_space() {
        for good in [
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds",
            " \t00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\t ",
        ] {
            assert!(Traceparent::parse(good).is_some(), "{good:?} was rejected");
        }
    }
}
