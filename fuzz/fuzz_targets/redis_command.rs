//! `redis_command`: otel-redis's command describer (span name, `db.stored_procedure.name`,
//! `db.query.text` with values hidden) on commands and pipelines of arbitrary binary arguments.
//! Never panics; the fast path and the careful path write the same text; the text stays within
//! its limit; credentials (`AUTH`) show no argument.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otel_redis::fuzzing::{describe, describe_pipeline};

/// Commands from the input: `0xff` starts a new command, `0xfe` adds a cursor argument (an
/// argument that is not bytes), any other byte `n` is an argument of the next `n` bytes (fewer
/// at the end).
fn commands(mut data: &[u8]) -> Vec<redis::Cmd> {
    let mut commands = vec![redis::Cmd::new()];
    while let Some((&byte, rest)) = data.split_first() {
        data = rest;
        let current = commands.last_mut().expect("never empty");
        match byte {
            0xff => commands.push(redis::Cmd::new()),
            0xfe => {
                current.cursor_arg(0);
            }
            n => {
                let (arg, rest) = data.split_at(usize::from(n).min(data.len()));
                current.arg(arg);
                data = rest;
            }
        }
    }
    commands
}

fuzz_target!(|data: &[u8]| {
    let Some((&limit, data)) = data.split_first() else { return };
    // The connection's limit is at least 8 bytes (default 2048).
    let max = if limit == 0 { 2048 } else { 8 + usize::from(limit) * 4 };
    let commands = commands(data);
    for cmd in &commands {
        let (name, _procedure, text, careful) = describe(cmd, max);
        assert!(!name.is_empty());
        assert!(name.len() <= 3 * 64, "name of {} bytes", name.len());
        assert_eq!(text, careful, "the fast and the careful path differ");
        assert!(text.len() <= max, "text of {} bytes for {max}", text.len());
        if name == "AUTH" {
            assert_eq!(text, "AUTH", "credentials shown");
        }
    }
    let mut pipeline = redis::pipe();
    for cmd in commands {
        pipeline.add_command(cmd);
    }
    if limit % 2 == 1 {
        pipeline.atomic();
    }
    let (name, text) = describe_pipeline(&pipeline, max);
    assert!(!name.is_empty());
    assert!(text.len() <= max, "pipeline text of {} bytes for {max}", text.len());
});
