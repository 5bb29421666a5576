//! Which requests get no span: exact paths, path prefixes, regular expressions, a predicate.

use regex::RegexSet;
use std::fmt;
use std::sync::Arc;

/// The request as an exclusion rule sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestTarget<'a> {
    /// The method as received, e.g. `GET`.
    pub method: &'a str,
    /// The path, e.g. `/health`.
    pub path: &'a str,
    /// The query without `?`, when there is one.
    pub query: Option<&'a str>,
    /// Path and query as received, e.g. `/health?probe=1`: what regular expressions match.
    pub path_and_query: &'a str,
}

impl<'a> RequestTarget<'a> {
    /// Splits a request target (`/path?query`) for the rules.
    pub fn new(method: &'a str, path_and_query: &'a str) -> Self {
        // A byte scan: `split_once` sets up a searcher, which costs more than a short path.
        let (path, query) = match path_and_query.bytes().position(|b| b == b'?') {
            Some(at) => (&path_and_query[..at], Some(&path_and_query[at + 1..])),
            None => (path_and_query, None),
        };
        Self { method, path, query, path_and_query }
    }
}

/// Whether the path of `path_and_query` is `path` (which holds no `?`).
fn is_path(path_and_query: &str, path: &str) -> bool {
    path_and_query.starts_with(path) && matches!(path_and_query.as_bytes().get(path.len()), None | Some(b'?'))
}

pub(crate) type Predicate = Arc<dyn Fn(&RequestTarget<'_>) -> bool + Send + Sync>;

/// The exclusion rules of a server adapter. Exact and prefix checks compare borrowed strings and
/// never allocate; regular expressions are compiled once into one set.
#[derive(Clone, Default)]
pub(crate) struct UrlExclusion {
    exact: Box<[Box<str>]>,
    prefixes: Box<[Box<str>]>,
    regexes: Option<RegexSet>,
    predicate: Option<Predicate>,
}

impl fmt::Debug for UrlExclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlExclusion")
            .field("exact", &self.exact)
            .field("prefixes", &self.prefixes)
            .field("regexes", &self.regexes.as_ref().map(RegexSet::patterns))
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl UrlExclusion {
    pub(crate) fn new(
        exact: Vec<String>,
        prefixes: Vec<String>,
        regexes: Option<RegexSet>,
        predicate: Option<Predicate>,
    ) -> Self {
        // A path holds no `?`: a path rule with one can never match, and without them a rule can
        // be checked against the path and query as received (see `excludes`).
        let boxed = |v: Vec<String>| v.into_iter().filter(|p| !p.contains('?')).map(String::into_boxed_str).collect();
        Self { exact: boxed(exact), prefixes: boxed(prefixes), regexes, predicate }
    }

    /// True when no rule is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty() && self.regexes.is_none() && self.predicate.is_none()
    }

    /// [`is_excluded`](Self::is_excluded) for a request target as received (`/path?query`): the
    /// path and prefix rules hold no `?`, so they compare with the target's start and the query
    /// is split off only for a predicate.
    #[inline]
    pub(crate) fn excludes(&self, method: &str, path_and_query: &str) -> bool {
        self.matches(path_and_query, || RequestTarget::new(method, path_and_query))
    }

    /// Whether the request matches any rule. Cheapest checks first.
    #[cfg(test)]
    pub(crate) fn is_excluded(&self, target: &RequestTarget<'_>) -> bool {
        self.matches(target.path_and_query, || *target)
    }

    /// The rules against the target as received; `target` splits it, for a predicate only.
    #[inline]
    fn matches<'a>(&self, path_and_query: &'a str, target: impl FnOnce() -> RequestTarget<'a>) -> bool {
        self.exact.iter().any(|p| is_path(path_and_query, p))
            || self.prefixes.iter().any(|p| path_and_query.starts_with(&**p))
            || ((self.regexes.is_some() || self.predicate.is_some()) && self.matches_by_rule(path_and_query, target))
    }

    /// The regular expressions and the predicate (out of line: the path checks are inlined).
    #[inline(never)]
    fn matches_by_rule<'a>(&self, path_and_query: &'a str, target: impl FnOnce() -> RequestTarget<'a>) -> bool {
        self.regexes.as_ref().is_some_and(|set| set.is_match(path_and_query))
            || self.predicate.as_ref().is_some_and(|f| f(&target()))
    }

    /// The regular expressions in force (from code and from the environment).
    pub(crate) fn patterns(&self) -> &[String] {
        self.regexes.as_ref().map_or(&[], RegexSet::patterns)
    }
}
