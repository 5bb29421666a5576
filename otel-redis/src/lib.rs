//! OpenTelemetry for redis-rs: a traced connection that works wherever a connection does.
//!
//! Wrap a `MultiplexedConnection`, a `ConnectionManager` or a cluster connection in
//! [`TracedConnection`]; every `AsyncCommands` call, `redis::cmd(..).query_async`, pipeline and
//! transaction then becomes a CLIENT span per the database semantic conventions, with no other
//! code change:
//!
//! - span name and `db.operation.name`: the command (`GET`, `HMSET`); `PIPELINE`, or
//!   `PIPELINE SET` when every command is the same, with `db.operation.batch.size`; `MULTI` for
//!   transactions;
//! - `db.system.name` = `redis`, `db.namespace` (the database index), `server.address`,
//!   `server.port` (when not 6379);
//! - `db.query.text` in redis-cli form with keys kept and every value replaced by `?`
//!   (`HMSET myhash ? ? ? ?`); `AUTH` and `HELLO` record the command name only; capped in length;
//! - `db.stored_procedure.name` for `EVALSHA` and `FCALL`;
//! - on failure, `db.response.status_code` (the RESP error prefix, e.g. `WRONGTYPE`) and
//!   `error.type`; a nil reply is not an error. Error messages are never recorded (the server
//!   echoes arguments into some of them).

// docs.rs (`--cfg docsrs`): each feature-gated item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod command;
mod connection;
mod error;
mod query;

pub use connection::{RedisRequest, RedisResponse, TracedConnection, TracedConnectionBuilder};

/// Entry points of the fuzz targets (`fuzz/`), compiled only in cargo-fuzz's builds
/// (`--cfg fuzzing`): the public API of a normal build does not have them.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use crate::query::{Described, command_text, pipeline_name, pipeline_text, write_command};

    /// A command's span name, `db.stored_procedure.name` and `db.query.text` (at most `max`
    /// bytes), by the fast path and by the careful one.
    pub fn describe(cmd: &redis::Cmd, max: usize) -> (String, Option<String>, String, String) {
        let described = Described::new(cmd);
        let name = described.name();
        let text = command_text(described, &name, max);
        let mut careful = String::new();
        write_command(described, &mut careful, max);
        (name.into_owned(), described.stored_procedure(), text.as_str().to_owned(), careful)
    }

    /// A pipeline's span name and `db.query.text` (at most `max` bytes).
    pub fn describe_pipeline(pipeline: &redis::Pipeline, max: usize) -> (String, String) {
        (pipeline_name(pipeline).into_owned(), pipeline_text(pipeline, max).as_str().to_owned())
    }
}

// The README's examples are compiled as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
