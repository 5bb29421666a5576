//! A small SQL tokenizer and what the spans need from it: the query summary
//! (`INSERT shipping_details SELECT orders`), the query text with inline literals replaced by
//! `?`, and whether the text already holds a comment (sqlcommenter leaves those alone).
//!
//! It is not a parser: it reads tokens (words, quoted identifiers, literals, placeholders,
//! comments, punctuation) per dialect and applies a few rules to them. It works on bytes, cuts
//! only at ASCII delimiters (so every slice is valid UTF-8) and never panics, whatever the input.

use std::borrow::Cow;

/// The lexical rules that differ between databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(unreachable_pub)] // named by the sealed trait, in private modules
pub enum Dialect {
    /// `"ident"`, `$1`, `$tag$ ... $tag$`, `E'\n'`, nested block comments.
    Postgres,
    /// `` `ident` ``, `"string"`, backslash escapes, `#` comments, `?`.
    MySql,
    /// `"ident"`, `` `ident` ``, `[ident]`, `?`, `?1`, `:name`, `@name`, `$name`.
    Sqlite,
}

/// The longest summary, in bytes (the conventions' limit); it is cut at a token.
pub(crate) const MAX_SUMMARY: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Word,
    QuotedIdent,
    Literal,
    Placeholder,
    Comment,
    Punct(u8),
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// What the spans need from one statement text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// `db.query.summary`; empty when nothing was recognised.
    pub(crate) summary: String,
    /// The text with every inline literal replaced by `?`; `None` when it has no literal (the
    /// text is then recorded as it is).
    pub(crate) sanitized: Option<String>,
    /// Whether the text takes bind parameters (`$1`, `?`, `:name`): the conventions then want it
    /// recorded as written, the placeholders showing that values travel apart.
    pub(crate) parameterized: bool,
    /// Whether the text holds a comment.
    pub(crate) has_comment: bool,
}

/// Analyses `sql`.
pub(crate) fn analyze(sql: &str, dialect: Dialect) -> Analysis {
    let tokens = tokenize(sql, dialect);
    let has_comment = tokens.iter().any(|t| t.kind == Kind::Comment);
    let significant: Vec<Token> = tokens.iter().copied().filter(|t| t.kind != Kind::Comment).collect();
    let summary = summarize(sql, &significant);
    let sanitized = sanitize(sql, &tokens);
    let parameterized = tokens.iter().any(|t| t.kind == Kind::Placeholder);
    Analysis { summary, sanitized, parameterized, has_comment }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_byte(b: u8, dialect: Dialect) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 || (b == b'$' && dialect != Dialect::Sqlite)
}

fn tokenize(sql: &str, dialect: Dialect) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::with_capacity(bytes.len() / 4 + 1);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let at = |k: usize| bytes.get(k).copied().unwrap_or(0);
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if (b == b'-' && at(i + 1) == b'-' && (dialect != Dialect::MySql || is_mysql_dash_comment(at(i + 2))))
            || (b == b'#' && dialect == Dialect::MySql)
        {
            i = line_end(bytes, i);
            Kind::Comment
        } else if b == b'/' && at(i + 1) == b'*' {
            i = block_comment_end(bytes, i, dialect == Dialect::Postgres);
            Kind::Comment
        } else if b == b'\'' {
            i = quoted_end(bytes, i, b'\'', dialect == Dialect::MySql);
            Kind::Literal
        } else if b == b'"' {
            if dialect == Dialect::MySql {
                i = quoted_end(bytes, i, b'"', true);
                Kind::Literal
            } else {
                i = quoted_end(bytes, i, b'"', false);
                Kind::QuotedIdent
            }
        } else if b == b'`' && dialect != Dialect::Postgres {
            i = quoted_end(bytes, i, b'`', false);
            Kind::QuotedIdent
        } else if b == b'[' && dialect == Dialect::Sqlite {
            i = bytes[i + 1..].iter().position(|&c| c == b']').map_or(bytes.len(), |p| i + p + 2);
            Kind::QuotedIdent
        } else if b.is_ascii_digit() || (b == b'.' && at(i + 1).is_ascii_digit()) {
            i = number_end(bytes, i);
            Kind::Literal
        } else if b == b'$' && dialect == Dialect::Postgres {
            if at(i + 1).is_ascii_digit() {
                i += 1;
                while at(i).is_ascii_digit() {
                    i += 1;
                }
                Kind::Placeholder
            } else if let Some(end) = dollar_quoted_end(bytes, i) {
                i = end;
                Kind::Literal
            } else {
                i += 1;
                Kind::Punct(b'$')
            }
        } else if b == b'?' && dialect != Dialect::Postgres {
            i += 1;
            while at(i).is_ascii_digit() {
                i += 1;
            }
            Kind::Placeholder
        } else if matches!(b, b':' | b'@' | b'$') && dialect == Dialect::Sqlite && is_word_start(at(i + 1)) {
            i += 1;
            while is_word_byte(at(i), dialect) {
                i += 1;
            }
            Kind::Placeholder
        } else if is_word_start(b) {
            while i < bytes.len() && is_word_byte(bytes[i], dialect) {
                i += 1;
            }
            // String prefixes: E'..' (backslash escapes), B'..', X'..', N'..', MySQL's _charset'..'.
            let word = &bytes[start..i];
            if at(i) == b'\'' && is_string_prefix(word, dialect) {
                let backslash = dialect == Dialect::MySql || word.eq_ignore_ascii_case(b"e");
                i = quoted_end(bytes, i, b'\'', backslash);
                Kind::Literal
            } else if word.eq_ignore_ascii_case(b"true") || word.eq_ignore_ascii_case(b"false") {
                Kind::Literal
            } else {
                Kind::Word
            }
        } else {
            // A whole UTF-8 character outside words is one punctuation token (never cut inside).
            i += 1;
            while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                i += 1;
            }
            Kind::Punct(b)
        };
        tokens.push(Token { kind, start, end: i.min(bytes.len()) });
    }
    tokens
}

fn is_mysql_dash_comment(next: u8) -> bool {
    next == 0 || next.is_ascii_whitespace() || next.is_ascii_control()
}

fn is_string_prefix(word: &[u8], dialect: Dialect) -> bool {
    match word {
        [c] => matches!(c.to_ascii_lowercase(), b'e' | b'b' | b'x' | b'n'),
        [b'_', ..] => dialect == Dialect::MySql,
        _ => false,
    }
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |p| from + p)
}

fn block_comment_end(bytes: &[u8], from: usize, nested: bool) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth = if nested || depth == 0 { depth + 1 } else { depth };
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The end of a quoted run that starts at `from` (the quote): a doubled quote is an escaped quote,
/// and with `backslash` a backslash escapes the next byte. Unterminated runs end at the text's end.
fn quoted_end(bytes: &[u8], from: usize, quote: u8, backslash: bool) -> usize {
    let mut i = from + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash && b == b'\\' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn number_end(bytes: &[u8], from: usize) -> usize {
    let at = |k: usize| bytes.get(k).copied().unwrap_or(0);
    let mut i = from;
    if at(i) == b'0' && matches!(at(i + 1), b'x' | b'X' | b'b' | b'B' | b'o' | b'O') && at(i + 2).is_ascii_hexdigit() {
        i += 2;
        while at(i).is_ascii_hexdigit() || at(i) == b'_' {
            i += 1;
        }
        return i;
    }
    while at(i).is_ascii_digit() || at(i) == b'_' {
        i += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(at(i), b'e' | b'E')
        && (at(i + 1).is_ascii_digit() || (matches!(at(i + 1), b'+' | b'-') && at(i + 2).is_ascii_digit()))
    {
        i += 2;
        while at(i).is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// `$tag$ ... $tag$` (the tag may be empty) starting at `from`; `None` when it is not one.
fn dollar_quoted_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from + 1;
    if bytes.get(i).is_some_and(|&b| is_word_start(b)) {
        while bytes.get(i).is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80) {
            i += 1;
        }
    }
    if bytes.get(i) != Some(&b'$') {
        return None;
    }
    let tag = &bytes[from..=i];
    let body = i + 1;
    let end = bytes.get(body..)?.windows(tag.len()).position(|w| w == tag);
    Some(end.map_or(bytes.len(), |p| body + p + tag.len()))
}

/// The text with every literal replaced by `?`, or `None` when there is none.
fn sanitize(sql: &str, tokens: &[Token]) -> Option<String> {
    if !tokens.iter().any(|t| t.kind == Kind::Literal) {
        return None;
    }
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for token in tokens.iter().filter(|t| t.kind == Kind::Literal) {
        out.push_str(sql.get(copied..token.start).unwrap_or_default());
        out.push('?');
        copied = token.end;
    }
    out.push_str(sql.get(copied..).unwrap_or_default());
    Some(out)
}

/// Statements recognised only as the first word of a statement (they take no table target).
const LEADING_OPERATIONS: &[&str] = &[
    "ANALYZE",
    "ATTACH",
    "BEGIN",
    "CHECKPOINT",
    "COMMIT",
    "DEALLOCATE",
    "DECLARE",
    "DETACH",
    "DO",
    "END",
    "EXECUTE",
    "EXPLAIN",
    "GRANT",
    "LISTEN",
    "LOCK",
    "NOTIFY",
    "PRAGMA",
    "PREPARE",
    "REINDEX",
    "RELEASE",
    "RESET",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SET",
    "SHOW",
    "START",
    "UNLISTEN",
    "USE",
    "VACUUM",
    "VALUES",
];

/// Kinds of objects DDL statements name (`CREATE TABLE`, `DROP INDEX`).
const OBJECT_KINDS: &[&str] = &[
    "DATABASE",
    "EXTENSION",
    "FUNCTION",
    "INDEX",
    "PROCEDURE",
    "ROLE",
    "SCHEMA",
    "SEQUENCE",
    "TABLE",
    "TRIGGER",
    "TYPE",
    "USER",
    "VIEW",
];

/// Words that may sit between a DDL verb and the object kind, or before a DML target.
const MODIFIERS: &[&str] = &[
    "ABORT",
    "CONCURRENTLY",
    "DELAYED",
    "EXISTS",
    "FAIL",
    "FROM",
    "GLOBAL",
    "HIGH_PRIORITY",
    "IF",
    "IGNORE",
    "INTO",
    "LOCAL",
    "LOW_PRIORITY",
    "MATERIALIZED",
    "NOT",
    "ONLY",
    "OR",
    "QUICK",
    "REPLACE",
    "ROLLBACK",
    "TEMP",
    "TEMPORARY",
    "UNIQUE",
    "UNLOGGED",
];

/// Words after which a table reference (or its alias) is over.
const CLAUSE_WORDS: &[&str] = &[
    "CROSS",
    "EXCEPT",
    "FETCH",
    "FOR",
    "FULL",
    "GROUP",
    "HAVING",
    "INNER",
    "INTERSECT",
    "JOIN",
    "LATERAL",
    "LEFT",
    "LIMIT",
    "NATURAL",
    "OFFSET",
    "ON",
    "ORDER",
    "OUTER",
    "RETURNING",
    "RIGHT",
    "SET",
    "STRAIGHT_JOIN",
    "UNION",
    "USING",
    "VALUES",
    "WHERE",
    "WINDOW",
    "WITH",
];

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Builds `db.query.summary` from the significant (non-comment) tokens.
fn summarize(sql: &str, tokens: &[Token]) -> String {
    Summarizer { sql, tokens, parts: String::new(), full: false, ctes: Vec::new() }.run()
}

struct Summarizer<'a> {
    sql: &'a str,
    tokens: &'a [Token],
    parts: String,
    full: bool,
    ctes: Vec<&'a str>,
}

impl<'a> Summarizer<'a> {
    fn text(&self, i: usize) -> &'a str {
        self.tokens.get(i).and_then(|t| self.sql.get(t.start..t.end)).unwrap_or_default()
    }

    fn word(&self, i: usize) -> Option<&'a str> {
        self.tokens.get(i).filter(|t| t.kind == Kind::Word).map(|_| self.text(i))
    }

    fn is_word(&self, i: usize, expected: &str) -> bool {
        self.word(i).is_some_and(|w| w.eq_ignore_ascii_case(expected))
    }

    fn punct(&self, i: usize) -> Option<u8> {
        match self.tokens.get(i)?.kind {
            Kind::Punct(b) => Some(b),
            _ => None,
        }
    }

    /// Appends one part, unless the summary would grow past its limit (then it stops for good).
    fn push(&mut self, part: &str) {
        if self.full || part.is_empty() {
            return;
        }
        let extra = part.len() + usize::from(!self.parts.is_empty());
        if self.parts.len() + extra > MAX_SUMMARY {
            self.full = true;
            return;
        }
        if !self.parts.is_empty() {
            self.parts.push(' ');
        }
        self.parts.push_str(part);
    }

    fn push_upper(&mut self, word: &str) {
        let upper = word.to_ascii_uppercase();
        self.push(&upper);
    }

    fn run(mut self) -> String {
        let mut i = 0;
        let mut depth = 0usize;
        // Paren depths of the SELECTs being read: a FROM belongs to the innermost one only at
        // its own depth (so `EXTRACT(YEAR FROM ts)` names no table).
        let mut selects: Vec<usize> = Vec::new();
        let mut statement_start = true;
        while i < self.tokens.len() && !self.full {
            match self.tokens[i].kind {
                Kind::Punct(b'(') => {
                    depth += 1;
                    i += 1;
                    continue;
                }
                Kind::Punct(b')') => {
                    depth = depth.saturating_sub(1);
                    while selects.last().is_some_and(|&d| d > depth) {
                        selects.pop();
                    }
                    i += 1;
                    continue;
                }
                Kind::Punct(b';') => {
                    statement_start = true;
                    depth = 0;
                    selects.clear();
                    i += 1;
                    continue;
                }
                Kind::Word => {}
                _ => {
                    statement_start = false;
                    i += 1;
                    continue;
                }
            }
            let word = self.text(i);
            let previous = i.checked_sub(1).and_then(|p| self.word(p)).unwrap_or_default();
            let at_start = statement_start;
            statement_start = false;
            i += 1;
            if word.eq_ignore_ascii_case("SELECT") {
                self.push("SELECT");
                selects.push(depth);
            } else if word.eq_ignore_ascii_case("WITH") && at_start {
                i = self.read_ctes(i);
            } else if (word.eq_ignore_ascii_case("FROM") || word.eq_ignore_ascii_case("JOIN"))
                && selects.last() == Some(&depth)
                && !previous.eq_ignore_ascii_case("DISTINCT")
            {
                i = self.read_tables(i, word.eq_ignore_ascii_case("FROM"));
            } else if word.eq_ignore_ascii_case("INSERT")
                || (word.eq_ignore_ascii_case("REPLACE") && at_start)
                || word.eq_ignore_ascii_case("MERGE")
            {
                self.push_upper(word);
                i = self.read_target(self.skip_modifiers(i));
            } else if word.eq_ignore_ascii_case("UPDATE") || word.eq_ignore_ascii_case("DELETE") {
                // `DO UPDATE`, `KEY UPDATE`, `FOR UPDATE`, `ON DELETE CASCADE` are clauses.
                if !is_one_of(previous, &["DO", "KEY", "FOR", "ON", "NO"]) {
                    self.push_upper(word);
                    i = self.read_target(self.skip_modifiers(i));
                }
            } else if word.eq_ignore_ascii_case("USING") && selects.is_empty() && depth == 0 {
                // MERGE ... USING source
                i = self.read_target(i);
            } else if is_one_of(word, &["CREATE", "DROP", "ALTER", "TRUNCATE"]) && at_start {
                i = self.read_ddl(word, i);
            } else if is_one_of(word, &["CALL", "EXEC"]) && at_start {
                self.push_upper(word);
                i = self.read_target(i);
            } else if at_start && is_one_of(word, LEADING_OPERATIONS) {
                self.push_upper(word);
            }
        }
        self.parts
    }

    fn skip_modifiers(&self, mut i: usize) -> usize {
        while self.word(i).is_some_and(|w| is_one_of(w, MODIFIERS)) {
            i += 1;
        }
        i
    }

    /// `WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (`: remembers the names (they are
    /// not tables) and returns the index of the first token of the first body.
    fn read_ctes(&mut self, mut i: usize) -> usize {
        if self.is_word(i, "RECURSIVE") {
            i += 1;
        }
        if let Some(kind) = self.tokens.get(i).map(|t| t.kind)
            && matches!(kind, Kind::Word | Kind::QuotedIdent)
        {
            self.ctes.push(unquote(self.text(i)));
        }
        // Later CTE names (after `),`) are collected as they appear.
        let mut depth = 0usize;
        let mut j = i + 1;
        while j < self.tokens.len() {
            match self.punct(j) {
                Some(b'(') => depth += 1,
                Some(b')') => depth = depth.saturating_sub(1),
                Some(b',') if depth == 0 => {
                    if let Some(kind) = self.tokens.get(j + 1).map(|t| t.kind)
                        && matches!(kind, Kind::Word | Kind::QuotedIdent)
                    {
                        self.ctes.push(unquote(self.text(j + 1)));
                    }
                }
                Some(b';') => break,
                _ if depth == 0
                    && self.word(j).is_some_and(|w| is_one_of(w, &["SELECT", "INSERT", "UPDATE", "DELETE"])) =>
                {
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        i + 1
    }

    /// A table: a possibly qualified, possibly quoted name. Returns the index after it, and
    /// pushes it unless it is a CTE's name.
    fn read_target(&mut self, i: usize) -> usize {
        self.read_reference(i, false)
    }

    /// A name, pushed unless it is a CTE's or (when `in_from`) a table function's
    /// (`FROM generate_series(1, 3)`); after `INSERT INTO t` a parenthesis is a column list.
    fn read_reference(&mut self, i: usize, in_from: bool) -> usize {
        let (name, next) = self.qualified_name(i);
        if let Some(name) = name
            && !(in_from && self.punct(next) == Some(b'('))
            && !self.ctes.iter().any(|c| c.eq_ignore_ascii_case(&name))
        {
            self.push(&name);
        }
        next
    }

    /// `FROM a [AS] x, b y JOIN ...`: every table of the list.
    fn read_tables(&mut self, mut i: usize, list: bool) -> usize {
        loop {
            if self.is_word(i, "LATERAL") || self.is_word(i, "ONLY") {
                i += 1;
            }
            if self.punct(i) == Some(b'(') {
                return i; // a subquery: its SELECT is read by the main loop
            }
            i = self.read_reference(i, true);
            // Skip a function call's arguments, an alias, and `AS alias`.
            if self.punct(i) == Some(b'(') {
                return i;
            }
            if self.is_word(i, "AS") {
                i += 1;
            }
            if self.tokens.get(i).is_some_and(|t| matches!(t.kind, Kind::Word | Kind::QuotedIdent))
                && !self.word(i).is_some_and(|w| is_one_of(w, CLAUSE_WORDS) || w.eq_ignore_ascii_case("SELECT"))
            {
                i += 1;
            }
            if list && self.punct(i) == Some(b',') {
                i += 1;
                continue;
            }
            return i;
        }
    }

    /// `CREATE [OR REPLACE] [UNIQUE] TABLE [IF NOT EXISTS] name`: `CREATE TABLE name`.
    fn read_ddl(&mut self, verb: &str, mut i: usize) -> usize {
        i = self.skip_modifiers(i);
        let mut operation = verb.to_ascii_uppercase();
        if let Some(kind) = self.word(i).filter(|w| is_one_of(w, OBJECT_KINDS)) {
            operation.push(' ');
            operation.push_str(&kind.to_ascii_uppercase());
            i += 1;
        }
        self.push(&operation);
        i = self.skip_modifiers(i);
        self.read_target(i)
    }

    /// `schema.table`, `"Quoted"."Name"`: the name without quotes, and the index after it.
    fn qualified_name(&self, mut i: usize) -> (Option<String>, usize) {
        let mut name = String::new();
        loop {
            match self.tokens.get(i).map(|t| t.kind) {
                Some(Kind::Word) if !is_one_of(self.text(i), CLAUSE_WORDS) || !name.is_empty() => {
                    name.push_str(self.text(i));
                }
                Some(Kind::QuotedIdent) => name.push_str(unquote(self.text(i))),
                _ => break,
            }
            i += 1;
            if self.punct(i) == Some(b'.') && self.tokens.get(i + 1).is_some_and(|t| t.end > t.start) {
                name.push('.');
                i += 1;
            } else {
                break;
            }
        }
        ((!name.is_empty()).then_some(name), i)
    }
}

/// A quoted identifier without its quotes (`"a""b"` stays `a""b`: rare, harmless).
fn unquote(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(b'"'), Some(b'"')) | (Some(b'`'), Some(b'`')) | (Some(b'['), Some(b']')) if text.len() >= 2 => {
            text.get(1..text.len() - 1).unwrap_or(text)
        }
        _ => text,
    }
}

/// `text` cut to at most `max` bytes on a character boundary, ending with `...` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub(3);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + 3);
    cut.push_str(&text[..end]);
    cut.push_str("...");
    Cow::Owned(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn summary(sql: &str, dialect: Dialect) -> String {
        analyze(sql, dialect).summary
    }

    #[test]
    fn summaries_of_tricky_statements() {
        use Dialect::*;
        let table: &[(&str, Dialect, &str)] = &[
            ("SELECT * FROM documents WHERE id = $1", Postgres, "SELECT documents"),
            (
                "INSERT INTO shipping_details (id, order_id) SELECT id, order_id FROM orders",
                Postgres,
                "INSERT shipping_details SELECT orders",
            ),
            ("select a.x, b.y from songs a join artists b on a.id = b.id", Postgres, "SELECT songs artists"),
            (
                "SELECT * FROM songs, artists s, public.albums AS al WHERE 1=1",
                Postgres,
                "SELECT songs artists public.albums",
            ),
            ("SELECT * FROM \"Weird Table\" t", Postgres, "SELECT Weird Table"),
            ("SELECT * FROM `orders` o LEFT JOIN `items` i USING (id)", MySql, "SELECT orders items"),
            ("SELECT * FROM [my table]", Sqlite, "SELECT my table"),
            ("UPDATE users SET name = 'x' WHERE id = 1", Postgres, "UPDATE users"),
            ("DELETE FROM sessions WHERE expires < now()", Postgres, "DELETE sessions"),
            (
                "WITH recent AS (SELECT * FROM orders WHERE created > now() - interval '1 day') SELECT * FROM recent JOIN users u ON u.id = recent.user_id",
                Postgres,
                "SELECT orders SELECT users",
            ),
            (
                "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT sum(n) FROM t",
                Postgres,
                "SELECT SELECT SELECT",
            ),
            (
                "WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved",
                Postgres,
                "DELETE a INSERT b SELECT",
            ),
            ("SELECT EXTRACT(YEAR FROM created) FROM events", Postgres, "SELECT events"),
            ("SELECT * FROM (SELECT id FROM inner_t) AS sub", Postgres, "SELECT SELECT inner_t"),
            ("SELECT id FROM a WHERE id IN (SELECT a_id FROM b)", Postgres, "SELECT a SELECT b"),
            ("SELECT * FROM generate_series(1, 10)", Postgres, "SELECT"),
            ("-- leading comment\nSELECT /* from fake */ * FROM t", Postgres, "SELECT t"),
            ("SELECT 'FROM fake' FROM t", Postgres, "SELECT t"),
            ("SELECT $$ FROM fake $$, $tag$ it's FROM x $tag$ FROM t", Postgres, "SELECT t"),
            ("SELECT E'it\\'s FROM x' FROM t", Postgres, "SELECT t"),
            ("SELECT \"FROM fake\" FROM t", MySql, "SELECT t"),
            ("SELECT 'it\\'s FROM x' FROM t # FROM fake", MySql, "SELECT t"),
            ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = excluded.a", Postgres, "INSERT t"),
            ("INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2", MySql, "INSERT t"),
            ("SELECT * FROM t FOR UPDATE", Postgres, "SELECT t"),
            ("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)", Sqlite, "INSERT kv"),
            ("REPLACE INTO kv VALUES (?, ?)", MySql, "REPLACE kv"),
            ("CREATE TABLE IF NOT EXISTS users (id INT)", Postgres, "CREATE TABLE users"),
            ("CREATE UNIQUE INDEX idx_users ON users (email)", Postgres, "CREATE INDEX idx_users"),
            ("DROP TABLE IF EXISTS old_users", Postgres, "DROP TABLE old_users"),
            ("TRUNCATE TABLE logs", MySql, "TRUNCATE TABLE logs"),
            ("CALL refresh_stats(1)", Postgres, "CALL refresh_stats"),
            ("BEGIN", Postgres, "BEGIN"),
            ("commit", Postgres, "COMMIT"),
            ("SET search_path TO app", Postgres, "SET"),
            ("PRAGMA journal_mode = WAL", Sqlite, "PRAGMA"),
            (
                "MERGE INTO target t USING source s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
                Postgres,
                "MERGE target source UPDATE",
            ),
            ("SELECT 1; SELECT * FROM t", Postgres, "SELECT SELECT t"),
            ("SELECT a IS DISTINCT FROM b FROM t", Postgres, "SELECT t"),
            ("", Postgres, ""),
            ("   ", Postgres, ""),
            ("not sql at all", Postgres, ""),
            ("SELECT * FROM 'unterminated", Postgres, "SELECT"),
            ("SELECT * FROM café", Postgres, "SELECT café"),
        ];
        for (sql, dialect, expected) in table {
            assert_eq!(summary(sql, *dialect), *expected, "summary of {sql:?}");
        }
    }

    #[test]
    fn literals_become_placeholders() {
        use Dialect::*;
        let table: &[(&str, Dialect, Option<&str>)] = &[
            ("SELECT * FROM t WHERE id = $1", Postgres, None),
            ("SELECT * FROM t WHERE id = ?", MySql, None),
            ("SELECT * FROM t2 WHERE id = ?1 AND n = :name", Sqlite, None),
            (
                "SELECT * FROM t WHERE name = 'O''Brien' AND n > 42",
                Postgres,
                Some("SELECT * FROM t WHERE name = ? AND n > ?"),
            ),
            ("SELECT -1.5e3, 0xFF, x'0a', TRUE, false", MySql, Some("SELECT -?, ?, ?, ?, ?")),
            ("SELECT DATE '2024-01-01', '2024-01-01'::date", Postgres, Some("SELECT DATE ?, ?::date")),
            ("SELECT $$secret$$, $a$x$a$", Postgres, Some("SELECT ?, ?")),
            ("SELECT \"secret\" FROM t", MySql, Some("SELECT ? FROM t")),
            ("SELECT \"column\" FROM t", Postgres, None),
            ("SELECT 'a\\'b' FROM t", MySql, Some("SELECT ? FROM t")),
            ("SELECT E'a\\'b', 'c\\' FROM t", Postgres, Some("SELECT ?, ? FROM t")),
            ("SELECT col1 FROM t1 -- 5", Postgres, None),
            ("SELECT 'unterminated", Postgres, Some("SELECT ?")),
        ];
        for (sql, dialect, expected) in table {
            assert_eq!(analyze(sql, *dialect).sanitized.as_deref(), *expected, "text of {sql:?}");
        }
    }

    #[test]
    fn comments_are_detected() {
        assert!(analyze("SELECT 1 /* c */", Dialect::Postgres).has_comment);
        assert!(analyze("SELECT 1 -- c", Dialect::Sqlite).has_comment);
        assert!(analyze("SELECT 1 # c", Dialect::MySql).has_comment);
        assert!(!analyze("SELECT '/* not */'", Dialect::Postgres).has_comment);
        assert!(!analyze("SELECT 1--1", Dialect::MySql).has_comment);
    }

    #[test]
    fn summaries_are_cut_at_a_token() {
        let tables: Vec<String> = (0..100).map(|i| format!("table_number_{i}")).collect();
        let sql = format!("SELECT * FROM {}", tables.join(", "));
        let summary = summary(&sql, Dialect::Postgres);
        assert!(summary.len() <= MAX_SUMMARY, "{}", summary.len());
        assert!(summary.ends_with(|c: char| c.is_ascii_digit()));
        assert!(summary.starts_with("SELECT table_number_0 table_number_1"));
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 8), "éé...");
        assert_eq!(truncate("abcdefghij", 8), "abcde...");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(sql in any::<String>()) {
            for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                let analysis = analyze(&sql, dialect);
                prop_assert!(analysis.summary.len() <= MAX_SUMMARY);
            }
        }

        #[test]
        fn never_panics_on_sql_like_text(sql in r#"([a-zA-Z_ ]{0,8}|[$'"`\[\]();,.?:@#/*\-\\]|[0-9.eE+x]{1,4}|\$[a-z]{0,2}\$|é){0,40}"#) {
            for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                let analysis = analyze(&sql, dialect);
                prop_assert!(analysis.summary.len() <= MAX_SUMMARY);
                if let Some(text) = analysis.sanitized {
                    prop_assert!(text.len() <= sql.len() + 1);
                }
            }
        }
    }
}
