//! `db.query.text` in redis-cli form: keys kept, every value replaced by `?`, credentials dropped,
//! capped in length. Also the span name of a command or pipeline.

use crate::command::{Command, Keys, lookup};
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

    /// The command name (span name and `db.operation.name`): static for every known command.
    pub(crate) fn name(&self) -> Cow<'static, str> {
        if let Some(command) = self.known {
            return Cow::Borrowed(command.name);
        }
        match self.cmd.args_iter().next() {
            Some(Arg::Simple(name)) => {
                let name = &name[..name.len().min(MAX_UNKNOWN_NAME)];
                Cow::Owned(String::from_utf8_lossy(name).to_ascii_uppercase())
            }
            _ => Cow::Borrowed("COMMAND"),
        }
    }

    /// `db.stored_procedure.name`: the SHA of `EVALSHA`, the function of `FCALL`.
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

/// Appends the redis-cli form of `cmd` to `out`, stopping at `max` bytes (then ending in `...`).
pub(crate) fn write_command(described: Described<'_>, out: &mut String, max: usize) {
    let mut args = described.cmd.args_iter();
    let Some(Arg::Simple(_)) = args.next() else { return };
    let command = described.known;
    let keys = command.map_or(Keys::None, |c| c.keys);
    push_capped(out, &described.name(), max);
    if keys == Keys::Secret {
        return;
    }
    let count = args.len();
    let mut script_keys: Option<usize> = None;
    for (i, arg) in args.enumerate() {
        if out.len() >= max {
            break;
        }
        let bytes = match arg {
            Arg::Simple(bytes) => bytes,
            _ => b"?".as_slice(),
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
        out.push(' ');
        if shown {
            push_capped(out, &String::from_utf8_lossy(bytes), max);
        } else {
            out.push('?');
        }
    }
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
