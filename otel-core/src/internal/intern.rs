//! The one process-wide interner and the one fast hash of this workspace.
//!
//! [`intern`] keeps `'static` copies of low-cardinality strings (route templates, span names,
//! query summaries, topic names, configured method names), so that a span takes them without
//! allocating. The set is bounded: past [`MAX_INTERNED`] strings it says no and the caller owns
//! its string (one allocation per span), so a route extractor that wrongly returns raw paths
//! costs memory up to the bound, never without end.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// How many strings the process keeps at most.
pub const MAX_INTERNED: usize = 10_000;

/// A `'static` copy of `s`, the same for equal strings; `None` once [`MAX_INTERNED`] strings are
/// kept.
///
/// ```
/// let a = otel_core::internal::intern::intern("GET /users/{id}").unwrap();
/// let b = otel_core::internal::intern::intern(&String::from("GET /users/{id}")).unwrap();
/// assert!(std::ptr::eq(a, b));
/// ```
pub fn intern(s: &str) -> Option<&'static str> {
    static STRINGS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut strings = STRINGS.lock().unwrap_or_else(PoisonError::into_inner);
    let strings = strings.get_or_insert_with(HashSet::new);
    if let Some(&known) = strings.get(s) {
        return Some(known);
    }
    if strings.len() >= MAX_INTERNED {
        return None;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    strings.insert(leaked);
    Some(leaked)
}

/// A word-at-a-time multiplicative hash (as rustc's FxHash), for keys that come from the
/// application (route templates, statement texts), not from clients: fast and non-keyed, eight
/// bytes per step. The high bits are mixed down, so the low bits can pick a shard.
///
/// ```
/// use otel_core::internal::intern::word_hash;
/// assert_eq!(word_hash(b"/users/{id}"), word_hash(String::from("/users/{id}").as_bytes()));
/// assert_ne!(word_hash(b"/users/{id}"), word_hash(b"/users/{id}/"));
/// ```
pub fn word_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// [`word_hash`] as a `Hasher`, for maps whose keys come from the application (route
/// templates, gRPC methods a server answered), not from clients.
#[derive(Debug, Default)]
pub struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.rotate_left(5) ^ word_hash(bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_are_one_copy() {
        let a = intern("GET /orders/{id}").unwrap();
        assert!(std::ptr::eq(a, intern(&String::from("GET /orders/{id}")).unwrap()));
        assert_ne!(a.as_ptr(), intern("GET /orders").unwrap().as_ptr());
    }

    #[test]
    fn hashes_tell_texts_apart() {
        let texts: [&[u8]; 6] = [b"", b"GET a", b"GET b", b"GET user:12345678", b"GET user:12345679", b"GET a\0"];
        let hashes: HashSet<u64> = texts.iter().map(|t| word_hash(t)).collect();
        assert_eq!(hashes.len(), texts.len());
    }
}
