//! `sql`: otel-sqlx's tokenizer and summary, in each dialect. Never panics; the summary is at most
//! 255 bytes and at most twice the text (parts are the text's own words, one space apart); the
//! sanitized text is no longer than the text (each literal becomes one `?`); truncation stays
//! within its limit on a character boundary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_sqlx::fuzzing::{Dialect, MAX_SUMMARY, analyze, truncate};

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
        let analysis = analyze(&sql, dialect);
        assert!(analysis.summary.len() <= MAX_SUMMARY, "summary of {} bytes", analysis.summary.len());
        assert!(analysis.summary.len() <= 2 * sql.len(), "summary {:?} longer than twice the text", analysis.summary);
        if let Some(sanitized) = &analysis.sanitized {
            assert!(sanitized.len() <= sql.len(), "sanitized {sanitized:?} longer than the text");
            assert!(sanitized.contains('?'));
        }
    }
    let max = 3 + usize::from(data.first().copied().unwrap_or(0));
    let cut = truncate(&sql, max);
    assert!(cut.len() <= max, "cut to {} bytes for {max}", cut.len());
    assert!(sql.starts_with(cut.trim_end_matches("...")) || cut == sql);
});
