//! What every Redis test binary needs: where Redis is, and how to say it is not there.

/// `REDIS_URL`, else the local Redis `scripts/services.sh start` runs.
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Fails the test, saying how to start Redis.
pub(crate) fn unreachable(url: &str, error: impl std::fmt::Display) -> ! {
    panic!(
        "Redis is not reachable at {url} ({error}). Start it with `scripts/services.sh start` \
         (or `redis-server --daemonize yes --port 6379 --save '' --appendonly no`), or set REDIS_URL."
    )
}
