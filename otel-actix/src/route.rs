//! Route templates and span names as `&'static str`, so that naming a span costs no allocation.
//!
//! actix-web hands the matched pattern out as a fresh `String`; the span needs it twice (as
//! `http.route` and inside the name `GET /users/{id}`). Patterns come only from the routes the
//! application registered, so there are few of them: each distinct pattern and name is stored
//! once for the life of the process, and each worker keeps a lock-free map from pattern to those
//! strings (actix-web services live on one thread). The process-wide lock is taken only the first
//! time a worker meets a pattern or name.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A matched route: its interned template and its place in the worker's cache.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    pub(crate) template: &'static str,
    id: usize,
}

/// One worker's cache of interned routes and span names.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    ids: RefCell<HashMap<Box<str>, usize, BuildHasherDefault<Fnv>>>,
    entries: RefCell<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    template: &'static str,
    /// `(method prefix, span name)`: a route is seldom served under more than a few methods.
    names: Vec<(&'static str, &'static str)>,
}

impl RouteCache {
    /// The interned form of a pattern actix matched.
    pub(crate) fn route(&self, pattern: &str) -> Route {
        if let Some(&id) = self.ids.borrow().get(pattern) {
            return Route { template: self.entries.borrow()[id].template, id };
        }
        let template = intern(pattern);
        let mut entries = self.entries.borrow_mut();
        let id = entries.len();
        entries.push(Entry { template, names: Vec::new() });
        self.ids.borrow_mut().insert(pattern.into(), id);
        Route { template, id }
    }

    /// `{prefix} {route}`, interned.
    pub(crate) fn span_name(&self, route: Route, prefix: &'static str) -> &'static str {
        let mut entries = self.entries.borrow_mut();
        let Some(entry) = entries.get_mut(route.id) else {
            return intern(&format!("{prefix} {}", route.template));
        };
        if let Some((_, name)) = entry.names.iter().find(|(p, _)| *p == prefix) {
            return name;
        }
        let name = intern(&format!("{prefix} {}", route.template));
        entry.names.push((prefix, name));
        name
    }
}

/// FNV-1a: route patterns are short and come from the application, not from clients, so a fast
/// non-keyed hash is safe here.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Stores `s` once for the life of the process.
fn intern(s: &str) -> &'static str {
    static STRINGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut strings = STRINGS.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(existing) = strings.get(s) {
        return existing;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    strings.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_names_are_interned_once() {
        let cache = RouteCache::default();
        let route = cache.route("/users/{id}");
        assert_eq!(route.template, "/users/{id}");
        assert!(std::ptr::eq(route.template, cache.route(&String::from("/users/{id}")).template));
        assert!(std::ptr::eq(route.template, RouteCache::default().route("/users/{id}").template), "process-wide");
        let get = cache.span_name(route, "GET");
        assert_eq!(get, "GET /users/{id}");
        assert!(std::ptr::eq(get, cache.span_name(route, "GET")));
        assert_eq!(cache.span_name(route, "HTTP"), "HTTP /users/{id}");
        assert_eq!(cache.span_name(cache.route("/items"), "GET"), "GET /items");
    }
}
