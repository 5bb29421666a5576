//! `db.query.text` in redis-cli form: keys kept, every value replaced by `?`, credentials dropped,
//! capped in length. Also the span name of a command or pipeline.

use crate::command::{Command, Keys, lookup};
use opentelemetry::StringValue;
use otel_core::internal::recent;
use redis::{Arg, Cmd, Pipeline};
use std::borrow::Cow;

/// Unknown command names longer than this are cut: a name is not a place for data.
const MAX_UNKNOWN_NAME: usize = 64;

/// A command as the instrumentation sees it: its table entry (when known) and its name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Described<'a> {
    pub(crate) cmd: &'a Cmd,
    pub(crate) known: Option<&'static Command>,
}

impl<'a> Described<'a> {
    /// Looks the command up once; every other function here reuses the result.
    pub(crate) fn new(cmd: &'a Cmd) -> Self {
        let known = match cmd.args_iter().next() {
            Some(Arg::Simple(name)) => lookup(name),
            _ => None,
        };
        Self { cmd, known }
    }

    /// The command name (span name and `db.operation.name`): static for every known command;
    /// `COMMAND` when there is none (no argument, a cursor, or an empty one).
    #[inline]
    pub(crate) fn name(&self) -> Cow<'static, str> {
        if let Some(command) = self.known {
            return Cow::Borrowed(command.name);
        }
        match self.cmd.args_iter().next() {
            Some(Arg::Simple(name)) if !name.is_empty() => {
                let name = &name[..name.len().min(MAX_UNKNOWN_NAME)];
                Cow::Owned(String::from_utf8_lossy(name).to_ascii_uppercase())
            }
            _ => Cow::Borrowed("COMMAND"),
        }
    }

    /// `db.stored_procedure.name`: the SHA of `EVALSHA`, the function of `FCALL`.
    #[inline]
    pub(crate) fn stored_procedure(&self) -> Option<String> {
        self.known.filter(|c| c.keys == Keys::Script && c.name != "EVAL" && c.name != "EVAL_RO")?;
        match self.cmd.args_iter().nth(1) {
            Some(Arg::Simple(procedure)) => Some(String::from_utf8_lossy(procedure).into_owned()),
            _ => None,
        }
    }
}

/// The command name of `cmd` (see [`Described::name`]).
pub(crate) fn command_name(cmd: &Cmd) -> Cow<'static, str> {
    Described::new(cmd).name()
}

/// The span name of a pipeline: `MULTI` for a transaction, `PIPELINE {command}` when every
/// command is the same, else `PIPELINE`.
pub(crate) fn pipeline_name(pipeline: &Pipeline) -> Cow<'static, str> {
    if pipeline.is_transaction() {
        return Cow::Borrowed("MULTI");
    }
    let mut names = pipeline.cmd_iter().map(command_name);
    let Some(first) = names.next() else { return Cow::Borrowed("PIPELINE") };
    if names.all(|name| name == first) { Cow::Owned(format!("PIPELINE {first}")) } else { Cow::Borrowed("PIPELINE") }
}

/// How a hidden argument is shown.
const HIDDEN: &[u8] = b"?";

/// Calls `f` with every argument after the name as the text shows it: a key as it is, anything
/// else `?`. Nothing at all for credentials.
fn for_each_argument<'a>(described: Described<'a>, mut f: impl FnMut(&'a [u8])) {
    let command = described.known;
    let keys = command.map_or(Keys::None, |c| c.keys);
    if keys == Keys::Secret {
        return;
    }
    let mut args = described.cmd.args_iter();
    args.next();
    let count = args.len();
    let mut script_keys: Option<usize> = None;
    for (i, arg) in args.enumerate() {
        let Arg::Simple(bytes) = arg else {
            f(HIDDEN);
            continue;
        };
        let shown = match keys {
            Keys::None | Keys::Secret => false,
            Keys::First => i == 0,
            Keys::FirstTwo => i < 2,
            Keys::All => true,
            Keys::AllButLast => i + 1 < count,
            Keys::Pairs => i % 2 == 0,
            Keys::Script => match i {
                // The script body of EVAL is code with literals in it; a SHA or function name is not.
                0 => !command.is_some_and(|c| c.name.starts_with("EVAL") && !c.name.starts_with("EVALSHA")),
                1 => {
                    script_keys = std::str::from_utf8(bytes).ok().and_then(|n| n.parse().ok());
                    script_keys.is_some()
                }
                _ => script_keys.is_some_and(|n| i - 2 < n),
            },
        };
        f(if shown { bytes } else { HIDDEN });
    }
}

/// The `db.query.text` of a command, `name` being its [`Described::name`].
pub(crate) fn command_text(described: Described<'_>, name: &str, max: usize) -> StringValue {
    let mut raw = Raw::new();
    raw.command(described, name);
    raw.text(max).unwrap_or_else(|| careful(max, |out| write_command(described, out, max)))
}

/// The `db.query.text` of a pipeline: its commands' texts, one per line.
pub(crate) fn pipeline_text(pipeline: &Pipeline, max: usize) -> StringValue {
    let mut raw = Raw::new();
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        if i > 0 {
            raw.push(b"\n");
        }
        let described = Described::new(cmd);
        raw.command(described, &described.name());
    }
    raw.text(max).unwrap_or_else(|| careful(max, |out| write_pipeline(pipeline, out, max)))
}

/// The careful path, for texts that are cut, not UTF-8 or long: written piece by piece.
fn careful(max: usize, write: impl FnOnce(&mut String)) -> StringValue {
    let mut text = String::with_capacity(max.min(2 * RAW));
    write(&mut text);
    text.into()
}

/// Room for the usual text on the stack.
const RAW: usize = 256;

/// A text written as raw bytes and checked as UTF-8 once at the end (each key checked on its own
/// costs several times more), then shared with the same text recorded lately on this thread or
/// copied into a string of the exact length (otel-core's [`recent::query_text`]).
#[repr(align(16))] // the UTF-8 check goes faster on aligned bytes
struct Raw {
    bytes: [u8; RAW],
    len: usize,
    fits: bool,
}

impl Raw {
    fn new() -> Self {
        Self { bytes: [0; RAW], len: 0, fits: true }
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.bytes.get_mut(self.len..end) {
            Some(to) if self.fits => {
                to.copy_from_slice(bytes);
                self.len = end;
            }
            _ => self.fits = false,
        }
    }

    /// The text of a command: its name and the arguments as shown, separated by spaces.
    fn command(&mut self, described: Described<'_>, name: &str) {
        let Some(Arg::Simple(_)) = described.cmd.args_iter().next() else { return };
        self.push(name.as_bytes());
        for_each_argument(described, |arg| {
            self.push(b" ");
            self.push(arg);
        });
    }

    /// The text, unless it did not fit, needs cutting at `max` bytes or is not UTF-8: those take
    /// the careful path.
    fn text(&self, max: usize) -> Option<StringValue> {
        let bytes = self.bytes.get(..self.len).filter(|_| self.fits && self.len < max)?;
        recent::query_text(bytes)
    }
}

/// Appends the redis-cli form of `cmd` to `out`, stopping at `max` bytes (then ending in `...`).
pub(crate) fn write_command(described: Described<'_>, out: &mut String, max: usize) {
    let Some(Arg::Simple(_)) = described.cmd.args_iter().next() else { return };
    push_capped(out, &described.name(), max);
    for_each_argument(described, |arg| {
        if out.len() < max {
            out.push(' ');
            push_capped(out, &String::from_utf8_lossy(arg), max);
        }
    });
    if out.len() >= max {
        truncate(out, max);
    }
}

/// Appends the text of every command of a pipeline, one per line.
pub(crate) fn write_pipeline(pipeline: &Pipeline, out: &mut String, max: usize) {
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        if out.len() >= max {
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        write_command(Described::new(cmd), out, max);
    }
    if out.len() >= max {
        truncate(out, max);
    }
}

fn push_capped(out: &mut String, s: &str, max: usize) {
    let room = max.saturating_sub(out.len());
    if s.len() <= room {
        out.push_str(s);
    } else {
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&s[..end]);
    }
}

/// Cuts `out` to at most `max` bytes on a character boundary and marks the cut with `...`.
fn truncate(out: &mut String, max: usize) {
    let mut end = max.saturating_sub(3).min(out.len());
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out.push_str("...");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cmd: &Cmd) -> String {
        let mut out = String::new();
        write_command(Described::new(cmd), &mut out, 1024);
        out
    }

    /// The `redis_command` fuzz target's first find (issue 27): an empty first argument gave an
    /// empty span name and `db.operation.name`.
    #[test]
    fn an_empty_command_name_is_named_command() {
        let empty = redis::cmd("");
        assert_eq!(command_name(&empty), "COMMAND");
        assert_eq!(text(redis::cmd("").arg("k")), "COMMAND ?");
        let described = Described::new(&empty);
        assert_eq!(command_text(described, &described.name(), 64).as_str(), "COMMAND");
    }

    #[test]
    fn keys_kept_values_hidden() {
        assert_eq!(
            text(redis::cmd("HMSET").arg("myhash").arg("f1").arg("v1").arg("f2").arg("v2")),
            "HMSET myhash ? ? ? ?"
        );
        assert_eq!(text(redis::cmd("set").arg("k").arg("secret").arg("EX").arg(10)), "SET k ? ? ?");
        assert_eq!(text(redis::cmd("MSET").arg("a").arg(1).arg("b").arg(2)), "MSET a ? b ?");
        assert_eq!(text(redis::cmd("DEL").arg("a").arg("b")), "DEL a b");
        assert_eq!(text(redis::cmd("BLPOP").arg("a").arg("b").arg(5)), "BLPOP a b ?");
        assert_eq!(text(redis::cmd("RENAME").arg("a").arg("b")), "RENAME a b");
        assert_eq!(text(&redis::cmd("PING")), "PING");
        assert_eq!(text(redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("pw")), "CONFIG ? ? ?");
        assert_eq!(text(redis::cmd("MYMODULE.DO").arg("x")), "MYMODULE.DO ?");
    }

    #[test]
    fn scripts_keep_keys_and_the_procedure_name() {
        let eval = redis::cmd("EVAL").arg("return redis.call('GET', KEYS[1])").arg(1).arg("k").arg("v").clone();
        assert_eq!(text(&eval), "EVAL ? 1 k ?");
        assert_eq!(Described::new(&eval).stored_procedure(), None);
        let sha = redis::cmd("EVALSHA").arg("abc123").arg(2).arg("k1").arg("k2").arg("v").clone();
        assert_eq!(text(&sha), "EVALSHA abc123 2 k1 k2 ?");
        assert_eq!(Described::new(&sha).stored_procedure().as_deref(), Some("abc123"));
        let fcall = redis::cmd("FCALL").arg("myfn").arg("x").arg("k").clone();
        assert_eq!(text(&fcall), "FCALL myfn ? ?", "an invalid numkeys shows nothing after it");
        assert_eq!(Described::new(&fcall).stored_procedure().as_deref(), Some("myfn"));
    }

    #[test]
    fn credentials_never_appear() {
        assert_eq!(text(redis::cmd("AUTH").arg("user").arg("hunter2")), "AUTH");
        assert_eq!(text(redis::cmd("hello").arg(3).arg("AUTH").arg("u").arg("hunter2")), "HELLO");
    }

    #[test]
    fn long_text_is_capped_on_a_char_boundary() {
        let mut out = String::new();
        write_command(Described::new(redis::cmd("DEL").arg("é".repeat(100)).arg("b")), &mut out, 50);
        assert!(out.len() <= 50 && out.ends_with("..."), "{out} ({})", out.len());
        assert!(out.starts_with("DEL é"));
    }

    #[test]
    fn the_exactly_sized_text_is_the_careful_one() {
        let commands = [
            redis::cmd("GET").arg("k").clone(),
            redis::cmd("hmset").arg("h").arg("f").arg("v").clone(),
            redis::cmd("EVALSHA").arg("abc").arg(1).arg("k").arg("v").clone(),
            redis::cmd("AUTH").arg("pw").clone(),
            redis::cmd("MYMODULE.DO").arg("x").clone(),
            redis::cmd("DEL").arg("é".repeat(30)).clone(),
            redis::cmd("DEL").arg(b"k\xffey".as_slice()).clone(),
            redis::cmd("DEL").arg("a".repeat(100)).clone(),
            redis::cmd("DEL").arg("b".repeat(RAW)).clone(),
            redis::cmd("PING"),
        ];
        for max in [8, 50, 2048] {
            for cmd in &commands {
                let described = Described::new(cmd);
                let text = command_text(described, &described.name(), max);
                let mut careful = String::new();
                write_command(described, &mut careful, max);
                assert_eq!(text.as_str(), careful);
            }
            let mut pipeline = redis::pipe();
            pipeline.set("a", 1).get("é").del(b"\xff".as_slice());
            let mut careful = String::new();
            write_pipeline(&pipeline, &mut careful, max);
            assert_eq!(pipeline_text(&pipeline, max).as_str(), careful);
        }
        assert_eq!(text(redis::cmd("DEL").arg(b"k\xffey".as_slice())), "DEL k\u{FFFD}ey");
    }

    #[test]
    fn a_repeated_text_is_shared_and_never_stands_for_another() {
        let get = |key: &str| {
            let cmd = redis::cmd("GET").arg(key).clone();
            let described = Described::new(&cmd);
            command_text(described, &described.name(), 2048)
        };
        let texts: Vec<StringValue> = ["a", "a", "a", "b", "a", "ab"].into_iter().map(get).collect();
        let shown: Vec<&str> = texts.iter().map(StringValue::as_str).collect();
        assert_eq!(shown, ["GET a", "GET a", "GET a", "GET b", "GET a", "GET ab"]);
        assert!(std::ptr::eq(texts[1].as_str(), texts[4].as_str()), "kept from the second time on");
    }

    #[test]
    fn names_and_pipelines() {
        assert_eq!(command_name(redis::cmd("get").arg("k")), "GET");
        assert!(matches!(command_name(&redis::cmd("GET")), Cow::Borrowed(_)));
        let mut p = redis::pipe();
        p.set("a", 1).set("b", 2);
        assert_eq!(pipeline_name(&p), "PIPELINE SET");
        p.get("a");
        assert_eq!(pipeline_name(&p), "PIPELINE");
        let mut out = String::new();
        write_pipeline(&p, &mut out, 1024);
        assert_eq!(out, "SET a ?\nSET b ?\nGET a");
        let mut t = redis::pipe();
        t.atomic().incr("c", 1);
        assert_eq!(pipeline_name(&t), "MULTI");
    }
}
