//! Process-wide `'static` copies of low-cardinality strings (route templates, span names,
//! query summaries), so that a span takes them without allocating.
//!
//! The set is bounded: past [`MAX_INTERNED`] strings, [`intern`] says no and the caller owns its
//! string (one allocation per span), so a route extractor that wrongly returns raw paths costs
//! memory up to the bound, never without end.
//!
//! [`RouteNames`] puts a per-thread (or per-worker) map in front of the process-wide lock, so a
//! request takes the lock only the first time its thread meets a route.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};

/// How many strings the process keeps at most.
pub const MAX_INTERNED: usize = 10_000;

/// A `'static` copy of `s`, the same for equal strings; `None` once [`MAX_INTERNED`] strings are
/// kept.
///
/// ```
/// let a = otel_core::intern::intern("GET /users/{id}").unwrap();
/// let b = otel_core::intern::intern(&String::from("GET /users/{id}")).unwrap();
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

/// A route template as a `'static` string: interned, or owned once the process keeps
/// [`MAX_INTERNED`] strings. Cloning an interned one copies a pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTemplate {
    template: Cow<'static, str>,
    /// Its place in the [`RouteNames`] that made it, when interned.
    id: Option<usize>,
}

impl RouteTemplate {
    /// The template, e.g. `/users/{id}`.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// The template as a `'static` string (no allocation when interned).
    pub fn to_static(&self) -> Cow<'static, str> {
        self.template.clone()
    }
}

/// One thread's (or one worker's) map from route template to its interned form and span names.
/// Not `Sync`: keep one per thread (`thread_local!`) or per single-threaded worker.
///
/// ```
/// let routes = otel_core::intern::RouteNames::default();
/// let route = routes.route("/users/{id}");
/// assert_eq!(routes.span_name(&route, "GET"), "GET /users/{id}");
/// ```
#[derive(Debug, Default)]
pub struct RouteNames {
    ids: RefCell<HashMap<&'static str, usize, BuildHasherDefault<WordHash>>>,
    entries: RefCell<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    template: &'static str,
    /// `(method prefix, span name)`: a route is seldom served under more than a few methods.
    names: Vec<(&'static str, &'static str)>,
}

impl RouteNames {
    /// `template`, interned when the process's bound allows.
    pub fn route(&self, template: &str) -> RouteTemplate {
        if let Some(&id) = self.ids.borrow().get(template) {
            return RouteTemplate { template: Cow::Borrowed(self.entries.borrow()[id].template), id: Some(id) };
        }
        let Some(interned) = intern(template) else {
            return RouteTemplate { template: Cow::Owned(template.to_owned()), id: None };
        };
        let mut entries = self.entries.borrow_mut();
        let id = entries.len();
        entries.push(Entry { template: interned, names: Vec::new() });
        self.ids.borrow_mut().insert(interned, id);
        RouteTemplate { template: Cow::Borrowed(interned), id: Some(id) }
    }

    /// The span name `{prefix} {template}`: interned when the route is, else formatted.
    pub fn span_name(&self, route: &RouteTemplate, prefix: &'static str) -> Cow<'static, str> {
        self.interned_name(route, prefix)
            .map_or_else(|| Cow::Owned(format!("{prefix} {}", route.template)), Cow::Borrowed)
    }

    fn interned_name(&self, route: &RouteTemplate, prefix: &'static str) -> Option<&'static str> {
        let Cow::Borrowed(template) = route.template else { return None };
        let mut entries = self.entries.borrow_mut();
        // A route made by another map is not mistaken for this map's entry of the same id.
        let entry = entries.get_mut(route.id?).filter(|entry| std::ptr::eq(entry.template, template))?;
        if let Some((_, name)) = entry.names.iter().find(|(p, _)| *p == prefix) {
            return Some(name);
        }
        let name = intern(&format!("{prefix} {template}"))?;
        entry.names.push((prefix, name));
        Some(name)
    }
}

/// A word-at-a-time multiplicative hash (as rustc's FxHash), for keys that come from the
/// application (route templates, statement texts), not from clients: fast and non-keyed, eight
/// bytes per step. The high bits are mixed down, so the low bits can pick a shard.
///
/// ```
/// use otel_core::intern::word_hash;
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

/// [`word_hash`] as a `Hasher`, for the route map.
#[derive(Debug, Default)]
struct WordHash(u64);

impl Hasher for WordHash {
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
    fn routes_and_names_are_interned_once() {
        let routes = RouteNames::default();
        let route = routes.route("/users/{id}");
        assert_eq!(route.as_str(), "/users/{id}");
        let again = routes.route(&String::from("/users/{id}"));
        assert!(std::ptr::eq(route.as_str(), again.as_str()));
        let other_thread = RouteNames::default().route("/users/{id}");
        assert!(std::ptr::eq(route.as_str(), other_thread.as_str()), "process-wide");
        let get = routes.span_name(&route, "GET");
        assert!(matches!(get, Cow::Borrowed("GET /users/{id}")));
        assert!(std::ptr::eq(&*get, &*routes.span_name(&route, "GET")));
        assert_eq!(routes.span_name(&route, "HTTP"), "HTTP /users/{id}");
        let items = routes.route("/items");
        assert_eq!(routes.span_name(&items, "GET"), "GET /items");
        // A route from another map names the span all the same.
        let foreign = RouteNames::default();
        foreign.route("/a");
        let foreign_b = foreign.route("/b");
        assert_eq!(routes.span_name(&foreign_b, "GET"), "GET /b");
    }
}
