//! Attribute text that repeats span after span, made once per thread and then shared.
//!
//! A service sees the same few host names (its own, the services it calls) and the same few
//! peers (its load balancers, its proxies) over and over, and a client often sends the same
//! command again (a hot cache key read on every request). Their `server.address`,
//! `client.address`, `network.peer.address` and `db.query.text` values are kept for the last few
//! distinct values each thread saw, as `Arc<str>`: a span then takes a reference count, not an
//! allocation and a copy (whose free would happen on the exporter's thread, the allocator's slow
//! path). Bounded: [`SLOTS`] texts per kind and thread, each at most [`MAX_LEN`] bytes (longer
//! text is simply allocated for its span).
//!
//! Query texts may as well never repeat (a new key each time), so one is kept only the second
//! time the thread meets it lately: a text seen once costs a fingerprint, not an `Arc` and an
//! eviction.

use opentelemetry::StringValue;
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

/// Distinct values kept per kind and thread.
pub const SLOTS: usize = 4;

/// Longer text is not kept.
pub const MAX_LEN: usize = 255;

/// The last [`SLOTS`] items pushed, the oldest replaced by each new one.
struct Ring<T> {
    items: [Option<T>; SLOTS],
    next: usize,
}

impl<T> Ring<T> {
    const fn new() -> Self {
        Self { items: [const { None }; SLOTS], next: 0 }
    }

    fn push(&mut self, item: T) {
        self.items[self.next] = Some(item);
        self.next = (self.next + 1) % SLOTS;
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }
}

/// The last [`SLOTS`] distinct keys and their text.
struct Recent<K>(Ring<(K, Arc<str>)>);

impl<K> Recent<K> {
    const fn new() -> Self {
        Self(Ring::new())
    }

    fn find(&self, matches: impl Fn(&K, &str) -> bool) -> Option<Arc<str>> {
        self.0.iter().find(|(k, text)| matches(k, text)).map(|(_, text)| Arc::clone(text))
    }

    fn text(&mut self, key: K, matches: impl Fn(&K, &str) -> bool, make: impl Fn() -> Arc<str>) -> Arc<str> {
        if let Some(text) = self.find(matches) {
            return text;
        }
        let text = make();
        self.keep(key, &text);
        text
    }

    /// Keeps `text` in place of the oldest entry, unless it is too long.
    fn keep(&mut self, key: K, text: &Arc<str>) {
        if text.len() <= MAX_LEN {
            self.0.push((key, Arc::clone(text)));
        }
    }
}

thread_local! {
    static SERVER_HOSTS: RefCell<Recent<()>> = const { RefCell::new(Recent::new()) };
    static CLIENT_HOSTS: RefCell<Recent<()>> = const { RefCell::new(Recent::new()) };
    static PEERS: RefCell<Recent<IpAddr>> = const { RefCell::new(Recent::new()) };
    static QUERIES: RefCell<Queries> = const { RefCell::new(Queries::new()) };
}

type Memo<K> = std::thread::LocalKey<RefCell<Recent<K>>>;

/// The text for `key` from the thread's `memo`, or made afresh when the memo is gone (thread
/// exit) or busy.
fn kept<K>(
    memo: &'static Memo<K>,
    key: K,
    matches: impl Fn(&K, &str) -> bool,
    make: impl Fn() -> Arc<str>,
) -> StringValue {
    let kept = memo.try_with(|recent| Some(recent.try_borrow_mut().ok()?.text(key, &matches, &make)));
    kept.ok().flatten().unwrap_or_else(make).into()
}

/// `server.address` of an incoming request.
pub(crate) fn server_host(host: &str) -> StringValue {
    kept(&SERVER_HOSTS, (), |_, text| text == host, || Arc::from(host))
}

/// `server.address` of an outgoing request.
pub(crate) fn client_host(host: &str) -> StringValue {
    kept(&CLIENT_HOSTS, (), |_, text| text == host, || Arc::from(host))
}

/// A peer's IP address as text (`format` makes it the first time).
pub(crate) fn peer_ip(ip: IpAddr, format: fn(IpAddr) -> Arc<str>) -> StringValue {
    kept(&PEERS, ip, |k, _| *k == ip, || format(ip))
}

/// Query texts kept and the fingerprints of texts seen once lately.
struct Queries {
    kept: Recent<()>,
    seen: Ring<u64>,
}

impl Queries {
    const fn new() -> Self {
        Self { kept: Recent::new(), seen: Ring::new() }
    }

    fn text(&mut self, bytes: &[u8]) -> Option<StringValue> {
        if let Some(text) = self.kept.find(|_, text| text.as_bytes() == bytes) {
            return Some(text.into());
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let print = super::intern::word_hash(bytes);
        if bytes.len() > MAX_LEN || !self.seen.iter().any(|&seen| seen == print) {
            self.seen.push(print);
            return Some(String::from(text).into());
        }
        let text = Arc::from(text);
        self.kept.keep((), &text);
        Some(text.into())
    }
}

/// A `db.query.text` value from the bytes a client wrote it in, shared with the same text the
/// thread recorded lately; `None` when the bytes are not UTF-8 (the caller then writes the text
/// its careful way). A text is kept the second time the thread meets it; until then (and when
/// longer than [`MAX_LEN`]) the value is a string of its own.
///
/// ```
/// use otel_core::internal::recent::query_text;
///
/// let first = query_text(b"GET session:42").unwrap();
/// let second = query_text(b"GET session:42").unwrap();
/// let third = query_text(b"GET session:42").unwrap();
/// assert_eq!(first.as_str(), "GET session:42");
/// assert!(std::ptr::eq(second.as_str(), third.as_str()), "kept from the second time on");
/// assert!(query_text(b"GET \xff").is_none());
/// ```
pub fn query_text(bytes: &[u8]) -> Option<StringValue> {
    let kept = QUERIES.try_with(|queries| queries.try_borrow_mut().ok().map(|mut queries| queries.text(bytes)));
    match kept {
        Ok(Some(text)) => text,
        // The memo is gone (thread exit) or busy.
        _ => std::str::from_utf8(bytes).ok().map(|text| String::from(text).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &StringValue, b: &StringValue) -> bool {
        std::ptr::eq(a.as_str().as_ptr(), b.as_str().as_ptr())
    }

    #[test]
    fn a_repeated_host_is_shared_and_a_new_one_replaces_the_oldest() {
        let first = server_host("api.example.com");
        assert_eq!(first.as_str(), "api.example.com");
        assert!(same(&first, &server_host("api.example.com")), "kept");
        for other in ["a.example", "b.example", "c.example"] {
            server_host(other);
        }
        assert!(same(&first, &server_host("api.example.com")), "four kept");
        server_host("d.example"); // replaces the oldest: api.example.com
        let again = server_host("api.example.com");
        assert_eq!(again.as_str(), "api.example.com");
        assert!(!same(&first, &again), "made again");
        assert!(!same(&client_host("api.example.com"), &again), "clients keep their own");
    }

    #[test]
    fn long_text_is_not_kept() {
        let long = "h".repeat(MAX_LEN + 1);
        let a = client_host(&long);
        assert_eq!(a.as_str(), long);
        assert!(!same(&a, &client_host(&long)));
    }

    #[test]
    fn peers_by_address() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let format: fn(IpAddr) -> Arc<str> = |ip| Arc::from(ip.to_string());
        let a = peer_ip(ip, format);
        assert_eq!(a.as_str(), "10.0.0.7");
        assert!(same(&a, &peer_ip(ip, |_| unreachable!("kept"))));
        assert_eq!(peer_ip("::1".parse().unwrap(), format).as_str(), "::1");
    }

    #[test]
    fn a_query_text_is_kept_from_its_second_time() {
        let once = query_text(b"GET user:42").expect("UTF-8");
        let twice = query_text(b"GET user:42").unwrap();
        assert_eq!((once.as_str(), twice.as_str()), ("GET user:42", "GET user:42"));
        assert!(!same(&once, &twice), "seen once: not kept yet");
        assert!(same(&twice, &query_text(b"GET user:42").unwrap()), "kept");
        assert!(!same(&twice, &server_host("GET user:42")), "hosts keep their own");
        for key in 0..SLOTS {
            query_text(format!("GET other:{key}").as_bytes()); // seen once: evicts nothing kept
        }
        assert!(same(&twice, &query_text(b"GET user:42").unwrap()), "still kept");
    }

    #[test]
    fn a_query_text_that_is_not_utf8_or_long_is_not_kept() {
        for _ in 0..3 {
            assert!(query_text(b"GET user:\xc3").is_none(), "cut in a character");
        }
        assert_eq!(query_text("SET café ?".as_bytes()).unwrap().as_str(), "SET café ?");
        let long = format!("GET {}", "k".repeat(MAX_LEN));
        let texts: Vec<_> = (0..3).map(|_| query_text(long.as_bytes()).unwrap()).collect();
        assert_eq!(texts[2].as_str(), long);
        assert!(!same(&texts[1], &texts[2]));
    }
}
