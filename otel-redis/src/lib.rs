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

// The README's examples are compiled as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
