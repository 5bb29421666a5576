//! What every PostgreSQL test binary needs.

/// Where PostgreSQL may be: `DATABASE_URL`, else the local server `scripts/services.sh start`
/// runs, as user `postgres` then `root`.
pub(crate) fn postgres_candidates() -> Vec<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => vec![url],
        Err(_) => {
            vec!["postgres://postgres@127.0.0.1:5432/test".to_owned(), "postgres://root@127.0.0.1:5432/test".to_owned()]
        }
    }
}
