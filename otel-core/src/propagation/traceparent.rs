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
        Self::parse_bytes(value.as_bytes())
    }

    /// [`Traceparent::parse`] on the raw header bytes: a valid value is ASCII, so no UTF-8
    /// check is needed first. What a later version appends must be ASCII too: a value that is
    /// not UTF-8 reaches a propagator's `&str` carriers as undecodable, and both ways in must
    /// agree.
    pub fn parse_bytes(value: &[u8]) -> Option<Self> {
        let bytes = trim_ows(value);
        if bytes.len() < LEN {
            return None;
        }
        let version = hex_u8(bytes[0], bytes[1])?;
        if version == 0xff {
            return None;
        }
        // Version 00 has exactly four fields; a later version may append `-...` after them.
        if (version == 0 && bytes.len() != LEN) || (bytes.len() > LEN && (bytes[LEN] != b'-' || !bytes.is_ascii())) {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_high = hex_u64(&bytes[3..19])?;
        let trace_low = hex_u64(&bytes[19..35])?;
        let span_id = hex_u64(&bytes[36..52])?;
        let flags = hex_u8(bytes[53], bytes[54])?;
        let trace_id = (u128::from(trace_high) << 64) | u128::from(trace_low);
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
        let out = Self::to_bytes(trace_id, span_id, flags);
        std::str::from_utf8(&out).map(str::to_owned).unwrap_or_default()
    }

    /// The header value as bytes (ASCII), without allocating.
    pub fn to_bytes(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> [u8; LEN] {
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let trace = u128::from_be_bytes(trace_id.to_bytes());
        let span = u64::from_be_bytes(span_id.to_bytes());
        out[3..11].copy_from_slice(&hex8((trace >> 96) as u32));
        out[11..19].copy_from_slice(&hex8((trace >> 64) as u32));
        out[19..27].copy_from_slice(&hex8((trace >> 32) as u32));
        out[27..35].copy_from_slice(&hex8(trace as u32));
        out[36..44].copy_from_slice(&hex8((span >> 32) as u32));
        out[44..52].copy_from_slice(&hex8(span as u32));
        write_hex(&mut out[53..LEN], &[kept_flags(flags).to_u8()]);
        out
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
/// `traceparent`).
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

/// Two lowercase hex digits.
fn hex_u8(high: u8, low: u8) -> Option<u8> {
    let (high, low) = (HEX[usize::from(high)], HEX[usize::from(low)]);
    ((high | low) & 0xf0 == 0).then_some((high << 4) | low)
}

/// Exactly 16 lowercase hex digits: the ids of every incoming request go through here, and a
/// byte-by-byte loop costs ten times the instructions. On x86-64 all sixteen at once in an SSE2
/// register (SSE2 is part of x86-64 itself); elsewhere, or built with `--cfg otel_core_swar`,
/// eight at a time in a `u64` (SWAR). `otel-core/benches/hex.sh` compares the two: the SSE2 path
/// is the only `unsafe` of the workspace, and stays because that benchmark shows it pays.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let digits: &[u8; 16] = digits.try_into().ok()?;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2", not(otel_core_swar)))]
    // SAFETY: the function only needs SSE2, which this build enables (the `cfg` above).
    #[allow(unsafe_code)]
    return unsafe { sse2::hex_u64(digits) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2", not(otel_core_swar))))]
    return swar_hex_u64(digits);
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        _mm_add_epi8, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_packus_epi16, _mm_set_epi64x, _mm_set1_epi8, _mm_set1_epi16, _mm_setzero_si128, _mm_slli_epi16,
        _mm_srli_epi16, _mm_sub_epi8,
    };

    /// Sixteen hex digits, the first the most significant, judged and converted lane by lane.
    #[target_feature(enable = "sse2")]
    #[cfg_attr(otel_core_swar, allow(dead_code))]
    pub(super) fn hex_u64(digits: &[u8; 16]) -> Option<u64> {
        let (first, second) = digits.split_at(8);
        let lanes = |half: &[u8]| i64::from_le_bytes(half.try_into().unwrap_or_default());
        let v = _mm_set_epi64x(lanes(second), lanes(first));
        // A digit minus '0' is 0..=9, a letter minus 'a' is 0..=5; anything else wraps above.
        let digit = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let is_digit = _mm_cmpeq_epi8(_mm_min_epu8(digit, _mm_set1_epi8(9)), digit);
        let letter = _mm_sub_epi8(v, _mm_set1_epi8(b'a' as i8));
        let is_letter = _mm_cmpeq_epi8(_mm_min_epu8(letter, _mm_set1_epi8(5)), letter);
        if _mm_movemask_epi8(_mm_or_si128(is_digit, is_letter)) != 0xffff {
            return None;
        }
        let nibbles = _mm_or_si128(
            _mm_and_si128(is_digit, digit),
            _mm_and_si128(is_letter, _mm_add_epi8(letter, _mm_set1_epi8(10))),
        );
        // Each 16-bit lane holds two nibbles, the high one first in memory: into one byte.
        let pairs = _mm_or_si128(_mm_slli_epi16(nibbles, 4), _mm_srli_epi16(nibbles, 8));
        let bytes = _mm_packus_epi16(_mm_and_si128(pairs, _mm_set1_epi16(0xff)), _mm_setzero_si128());
        // The first byte is the most significant.
        Some((_mm_cvtsi128_si64(bytes) as u64).swap_bytes())
    }
}

/// [`hex_u64`] eight digits at a time in a `u64` (SWAR), for targets without SSE2.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2", not(otel_core_swar)), allow(dead_code))]
fn swar_hex_u64(digits: &[u8; 16]) -> Option<u64> {
    let (high, low) = digits.split_at(8);
    let high = hex_u32(u64::from_be_bytes(high.try_into().ok()?))?;
    let low = hex_u32(u64::from_be_bytes(low.try_into().ok()?))?;
    Some((u64::from(high) << 32) | u64::from(low))
}

const ONES: u64 = u64::MAX / 255; // 0x0101..01
const HIGH_BITS: u64 = ONES * 0x80;

/// The high bit of each byte lane of `x` whose value lies strictly between `m` and `n`
/// (`m` < 128, `n` <= 128); exact per lane, bytes >= 128 never match.
const fn lanes_between(x: u64, m: u64, n: u64) -> u64 {
    let low7 = x & (ONES * 127);
    (ONES * (127 + n)).wrapping_sub(low7) & !x & low7.wrapping_add(ONES * (127 - m)) & HIGH_BITS
}

/// Eight hex digits, the first in the most significant byte, into their 32-bit value.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2", not(otel_core_swar)), allow(dead_code))]
fn hex_u32(chunk: u64) -> Option<u32> {
    let digits = lanes_between(chunk, b'0' as u64 - 1, b'9' as u64 + 1);
    let letters = lanes_between(chunk, b'a' as u64 - 1, b'f' as u64 + 1);
    if digits | letters != HIGH_BITS {
        return None;
    }
    // '0'..'9' and 'a'..'f' have the digit's value (minus 9 for letters) in their low nibble.
    let nibbles = (chunk & (ONES * 0x0f)) + (letters >> 7) * 9;
    // Pack eight nibbles (one per byte) into 32 bits: pairs, then quads, then all eight.
    let pairs = (nibbles | (nibbles >> 4)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    Some(((quads | (quads >> 16)) & 0xffff_ffff) as u32)
}

/// Eight lowercase hex digits of `x`, computed in a `u64` at once.
fn hex8(x: u32) -> [u8; 8] {
    let x = u64::from(x);
    let x = ((x & 0xffff_0000) << 16) | (x & 0xffff);
    let x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
    let x = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
    // Each byte is a nibble: '0'..'9' or 'a'..'f'.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + letters * 0x27).to_be_bytes()
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
    fn every_byte_in_every_position_is_judged_as_the_table_does() {
        for position in 0..16 {
            for byte in 0..=255u8 {
                let mut digits = *b"0123456789abcdef";
                digits[position] = byte;
                let expected = digits.iter().try_fold(0u64, |acc, &b| {
                    let v = HEX[usize::from(b)];
                    (v < 16).then_some((acc << 4) | u64::from(v))
                });
                assert_eq!(hex_u64(&digits), expected, "byte {byte:#04x} at {position}");
                assert_eq!(swar_hex_u64(&digits), expected, "SWAR: byte {byte:#04x} at {position}");
            }
        }
        for digits in [b"ffffffffffffffff", b"0000000000000000", b"0123456789abcdef", b"fedcba9876543210"] {
            let expected = u64::from_str_radix(std::str::from_utf8(digits).unwrap(), 16).ok();
            assert_eq!(hex_u64(digits), expected);
            assert_eq!(swar_hex_u64(digits), expected);
        }
        assert_eq!(hex_u64(b"0123"), None, "not sixteen digits");
        assert_eq!(hex_u64(b"0123456789abcdef0"), None, "not sixteen digits");
    }

    proptest::proptest! {
        /// Random digits, mostly valid ones: both fast parsers agree with the table.
        #[test]
        fn the_fast_parser_agrees_with_the_table(digits in proptest::collection::vec(
            proptest::prop_oneof![
                8 => proptest::sample::select(b"0123456789abcdef".to_vec()),
                1 => proptest::num::u8::ANY,
            ],
            16,
        )) {
            let digits: [u8; 16] = digits.try_into().unwrap();
            let expected = digits.iter().try_fold(0u64, |acc, &b| {
                let v = HEX[usize::from(b)];
                (v < 16).then_some((acc << 4) | u64::from(v))
            });
            proptest::prop_assert_eq!(hex_u64(&digits), expected);
            proptest::prop_assert_eq!(swar_hex_u64(&digits), expected);
        }
    }

    #[test]
    fn hex8_writes_lowercase_hex() {
        for x in [0u32, 1, 9, 10, 15, 16, 0x0123_4567, 0x89ab_cdef, 0xa0b0_c0d0, 0xffff_ffff, 0x9999_9999, 0xaaaa_aaaa]
        {
            assert_eq!(std::str::from_utf8(&hex8(x)).unwrap(), format!("{x:08x}"));
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

    /// The `kafka_headers` fuzz target's second finding (issue 27): a later version followed by
    /// bytes that are not UTF-8 was accepted from bytes, but rejected through `&str` carriers
    /// (where it is undecodable), so the two ways in disagreed. A value is ASCII, whole.
    #[test]
    fn what_a_later_version_appends_is_ascii() {
        let value = b"99-22222222222222222222222222222222-2222222222222222-22-\xff";
        assert_eq!(Traceparent::parse_bytes(value), None);
        assert_eq!(
            Traceparent::parse_bytes(&value[..value.len() - 1]).map(|t| t.span_id),
            Some(SpanId::from(0x2222_2222_2222_2222))
        );
        assert_eq!(Traceparent::parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-é"), None);
    }
}
