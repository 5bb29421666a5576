//! Attribute text that repeats request after request, made once per thread and then shared.
//!
//! A service sees the same few host names (its own, the services it calls) and the same few
//! peers (its load balancers, its proxies) over and over. Their `server.address`,
//! `client.address` and `network.peer.address` values are kept for the last few distinct values
//! each thread saw, as `Arc<str>`: a span then takes a reference count, not an allocation and a
//! copy (whose free would happen on the exporter's thread, the allocator's slow path). Bounded:
//! [`SLOTS`] texts per kind and thread, each at most [`MAX_LEN`] bytes (longer text is simply
//! allocated for its span).

use opentelemetry::StringValue;
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

/// Distinct values kept per kind and thread.
const SLOTS: usize = 4;

/// Longer text is not kept.
const MAX_LEN: usize = 255;

/// The last [`SLOTS`] distinct keys and their text, replaced in turn.
struct Recent<K> {
    entries: [Option<(K, Arc<str>)>; SLOTS],
    next: usize,
}

impl<K: PartialEq> Recent<K> {
    const fn new() -> Self {
        Self { entries: [None, None, None, None], next: 0 }
    }

    fn text(&mut self, key: K, matches: impl Fn(&K, &str) -> bool, make: impl Fn() -> Arc<str>) -> Arc<str> {
        if let Some((_, text)) = self.entries.iter().flatten().find(|(k, text)| matches(k, text)) {
            return Arc::clone(text);
        }
        let text = make();
        if text.len() <= MAX_LEN {
            self.entries[self.next] = Some((key, Arc::clone(&text)));
            self.next = (self.next + 1) % SLOTS;
        }
        text
    }
}

thread_local! {
    static SERVER_HOSTS: RefCell<Recent<()>> = const { RefCell::new(Recent::new()) };
    static CLIENT_HOSTS: RefCell<Recent<()>> = const { RefCell::new(Recent::new()) };
    static PEERS: RefCell<Recent<IpAddr>> = const { RefCell::new(Recent::new()) };
}

type Memo<K> = std::thread::LocalKey<RefCell<Recent<K>>>;

/// The text for `key` from the thread's `memo`, or made afresh when the memo is gone (thread
/// exit) or busy.
fn kept<K: PartialEq>(
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
}
