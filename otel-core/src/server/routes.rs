//! Route templates and span names made once per thread, so that a request takes them without
//! allocating.
//!
//! A thread keeps its own map in front of the process-wide interner, so a request takes the
//! interner's lock only the first time its thread meets a route.

use crate::internal::intern;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// A route template as a `'static` string: interned, or owned once the process keeps
/// [`intern::MAX_INTERNED`] strings. Cloning an interned one copies a pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteTemplate {
    template: Cow<'static, str>,
    /// Its place in the thread's map, when interned.
    id: Option<usize>,
}

impl RouteTemplate {
    /// The template, e.g. `/users/{id}`.
    pub(crate) fn as_str(&self) -> &str {
        &self.template
    }

    /// The template as a `'static` string (no allocation when interned).
    pub(crate) fn to_static(&self) -> Cow<'static, str> {
        self.template.clone()
    }
}

/// One thread's map from route template to its interned form and span names.
#[derive(Debug, Default)]
struct RouteNames {
    ids: HashMap<&'static str, usize, BuildHasherDefault<intern::WordHasher>>,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    template: &'static str,
    /// `(method prefix, span name)`: a route is seldom served under more than a few methods.
    names: Vec<(&'static str, &'static str)>,
}

thread_local! {
    static ROUTES: RefCell<RouteNames> = RefCell::default();
}

/// `template`, interned when the process's bound allows.
pub(crate) fn route(template: &str) -> RouteTemplate {
    let kept = ROUTES.try_with(|routes| routes.try_borrow_mut().ok().map(|mut routes| routes.route(template)));
    kept.ok().flatten().unwrap_or_else(|| match intern::intern(template) {
        Some(interned) => RouteTemplate { template: Cow::Borrowed(interned), id: None },
        None => RouteTemplate { template: Cow::Owned(template.to_owned()), id: None },
    })
}

/// The span name `{prefix} {template}`: interned when the route is, else formatted.
pub(crate) fn span_name(route: &RouteTemplate, prefix: &'static str) -> Cow<'static, str> {
    let kept = ROUTES.try_with(|routes| routes.try_borrow_mut().ok().and_then(|mut r| r.span_name(route, prefix)));
    kept.ok().flatten().map_or_else(|| Cow::Owned(format!("{prefix} {}", route.template)), Cow::Borrowed)
}

impl RouteNames {
    fn route(&mut self, template: &str) -> RouteTemplate {
        if let Some(&id) = self.ids.get(template) {
            return RouteTemplate { template: Cow::Borrowed(self.entries[id].template), id: Some(id) };
        }
        let Some(interned) = intern::intern(template) else {
            return RouteTemplate { template: Cow::Owned(template.to_owned()), id: None };
        };
        let id = self.entries.len();
        self.entries.push(Entry { template: interned, names: Vec::new() });
        self.ids.insert(interned, id);
        RouteTemplate { template: Cow::Borrowed(interned), id: Some(id) }
    }

    fn span_name(&mut self, route: &RouteTemplate, prefix: &'static str) -> Option<&'static str> {
        let Cow::Borrowed(template) = route.template else { return None };
        // A route made on another thread is not mistaken for this thread's entry of the same id.
        let entry = self.entries.get_mut(route.id?).filter(|entry| std::ptr::eq(entry.template, template))?;
        if let Some((_, name)) = entry.names.iter().find(|(p, _)| *p == prefix) {
            return Some(name);
        }
        let name = intern::intern(&format!("{prefix} {template}"))?;
        entry.names.push((prefix, name));
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_names_are_interned_once() {
        let route = route("/users/{id}");
        assert_eq!(route.as_str(), "/users/{id}");
        let again = super::route(&String::from("/users/{id}"));
        assert!(std::ptr::eq(route.as_str(), again.as_str()));
        let other_thread = std::thread::spawn(|| super::route("/users/{id}").to_static()).join().unwrap();
        assert!(std::ptr::eq(route.as_str(), &*other_thread), "process-wide");
        let get = span_name(&route, "GET");
        assert!(matches!(get, Cow::Borrowed("GET /users/{id}")));
        assert!(std::ptr::eq(&*get, &*span_name(&route, "GET")));
        assert_eq!(span_name(&route, "HTTP"), "HTTP /users/{id}");
        assert_eq!(span_name(&super::route("/items"), "GET"), "GET /items");
        // A route made on another thread names the span all the same.
        let foreign = std::thread::spawn(|| {
            super::route("/a");
            super::route("/b")
        })
        .join()
        .unwrap();
        assert_eq!(span_name(&foreign, "GET"), "GET /b");
    }
}
