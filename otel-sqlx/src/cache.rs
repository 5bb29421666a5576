//! Statements already seen: what their spans record is computed once per statement text, so a
//! repeated query does no parsing, only one hash of its text and one read of a shard.
//!
//! The cache is bounded (an arbitrary entry of a full shard makes room), split in shards so that
//! concurrent queries rarely touch the same lock, and read-mostly: the hot path takes a shared
//! read lock on one shard; writes happen only when a new statement text appears.

use crate::sql::{Analysis, Dialect, analyze, truncate};
use opentelemetry::StringValue;
use otel_core::metrics::BoundDuration;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, RwLock};

const SHARDS: usize = 16;

/// What every span of one statement text records.
#[derive(Debug)]
pub(crate) struct Described {
    /// The text the entry is for (the key is its hash).
    sql: Arc<str>,
    /// The span name: the summary, or the database system when there is none.
    pub(crate) name: Cow<'static, str>,
    /// `db.query.summary`.
    pub(crate) summary: Option<StringValue>,
    /// `db.query.text`: the text (literals replaced by `?` unless it is parameterized), capped.
    pub(crate) text: StringValue,
    /// Whether the text holds a comment (sqlcommenter leaves it alone).
    pub(crate) has_comment: bool,
    /// `db.client.operation.duration` bound to this statement's attributes without failure (the
    /// pool's are fixed), on its first successful execution with metrics on.
    pub(crate) duration: OnceLock<BoundDuration>,
}

type Shard = RwLock<HashMap<u64, Arc<Described>, BuildHasherDefault<Prehashed>>>;

/// A bounded, sharded map from statement text to [`Described`].
pub(crate) struct StatementCache {
    shards: Box<[Shard]>,
    per_shard: usize,
    dialect: Dialect,
    system_name: &'static str,
    max_text: usize,
    /// Whether a parameterized text has its inline literals replaced too.
    sanitize_always: bool,
}

impl StatementCache {
    pub(crate) fn new(
        capacity: usize,
        dialect: Dialect,
        system_name: &'static str,
        max_text: usize,
        sanitize_always: bool,
    ) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            dialect,
            system_name,
            max_text,
            sanitize_always,
        }
    }

    /// The description of `sql`, from the cache or computed (and cached).
    pub(crate) fn get(&self, sql: &str) -> Arc<Described> {
        // Statement texts are the application's, not an attacker's: a collision only costs a
        // re-parse.
        let hash = otel_core::internal::intern::word_hash(sql.as_bytes());
        let shard = &self.shards[(hash as usize) % SHARDS];
        {
            let map = shard.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(found) = map.get(&hash)
                && *found.sql == *sql
            {
                return Arc::clone(found);
            }
        }
        let described = Arc::new(self.describe(sql));
        let mut map = shard.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= self.per_shard
            && !map.contains_key(&hash)
            && let Some(&victim) = map.keys().next()
        {
            map.remove(&victim);
        }
        map.insert(hash, Arc::clone(&described));
        described
    }

    fn describe(&self, sql: &str) -> Described {
        let Analysis { summary, sanitized, parameterized, has_comment } = analyze(sql, self.dialect);
        // The conventions: a parameterized text as written, any other with its literals replaced.
        let sanitized = sanitized.filter(|_| self.sanitize_always || !parameterized);
        let sql: Arc<str> = Arc::from(sql);
        let text = match sanitized {
            Some(sanitized) => StringValue::from(Arc::<str>::from(truncate(&sanitized, self.max_text).as_ref())),
            None => match truncate(&sql, self.max_text) {
                Cow::Borrowed(_) => StringValue::from(Arc::clone(&sql)),
                Cow::Owned(cut) => StringValue::from(Arc::<str>::from(cut)),
            },
        };
        let (name, summary) = if summary.is_empty() {
            (Cow::Borrowed(self.system_name), None)
        } else {
            let name = intern(summary);
            let summary = match &name {
                Cow::Borrowed(name) => StringValue::from(*name),
                Cow::Owned(name) => StringValue::from(Arc::<str>::from(name.as_str())),
            };
            (name, Some(summary))
        };
        Described { sql, name, summary, text, has_comment, duration: OnceLock::new() }
    }
}

/// A `'static` copy of `name` (otel-core's bounded interner), so that spans take their name
/// without allocating. Summaries are low-cardinality by design (operations and table names);
/// past the bound, names are owned (one allocation per span).
fn intern(name: String) -> Cow<'static, str> {
    otel_core::internal::intern::intern(&name).map_or(Cow::Owned(name), Cow::Borrowed)
}

/// The keys are already hashes: use them as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_texts_share_one_description() {
        let cache = StatementCache::new(64, Dialect::Postgres, "postgresql", 2048, false);
        let first = cache.get("SELECT * FROM users WHERE id = $1");
        let second = cache.get(&String::from("SELECT * FROM users WHERE id = $1"));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.name, "SELECT users");
        assert!(matches!(first.name, Cow::Borrowed(_)), "interned");
        assert_eq!(first.text.as_str(), "SELECT * FROM users WHERE id = $1");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = StatementCache::new(32, Dialect::Sqlite, "sqlite", 2048, false);
        for i in 0..1000 {
            cache.get(&format!("SELECT * FROM t{i}"));
        }
        let total: usize = cache.shards.iter().map(|s| s.read().unwrap().len()).sum();
        assert!(total <= 32, "{total} entries");
    }

    #[test]
    fn texts_without_summary_are_named_after_the_system() {
        let cache = StatementCache::new(8, Dialect::MySql, "mariadb", 16, false);
        let described = cache.get("  ");
        assert_eq!(described.name, "mariadb");
        assert!(described.summary.is_none());
        let long = cache.get("SELECT aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(long.text.as_str(), "SELECT aaaaaa...");
    }

    #[test]
    fn a_parameterized_text_is_recorded_as_written_unless_asked() {
        for (dialect, sql) in [(Dialect::Postgres, "SELECT $1::int + 1"), (Dialect::MySql, "SELECT ? + 1")] {
            let cache = StatementCache::new(8, dialect, "db", 2048, false);
            assert_eq!(cache.get(sql).text.as_str(), sql);
            assert_eq!(cache.get("SELECT 1 + 'a'").text.as_str(), "SELECT ? + ?", "no parameter: sanitized");
            let always = StatementCache::new(8, dialect, "db", 2048, true);
            assert_eq!(always.get(sql).text.as_str(), sql.replace(" 1", " ?"));
        }
    }
}
