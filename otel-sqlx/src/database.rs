//! What differs between the databases: `db.system.name`, the SQL dialect, where the server and
//! database names come from, and how MariaDB is told apart from MySQL.

use crate::sql::Dialect;
use futures_util::future::BoxFuture;
use sqlx::{Connection, Database, Pool};

/// A database `TracedPool` can trace: PostgreSQL (feature `postgres`), MySQL and MariaDB
/// (feature `mysql`) and SQLite (feature `sqlite`). Sealed.
pub trait TracedDatabase: Database + private::Sealed {}

/// Where the spans' server and database attributes come from.
#[derive(Debug, Default)]
#[allow(unreachable_pub)] // named by the sealed trait, in a private module
pub struct Server {
    pub(crate) address: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) namespace: Option<String>,
}

pub(crate) mod private {
    use super::*;

    #[allow(unreachable_pub)] // public in a private module: the sealing pattern
    pub trait Sealed: Database {
        /// `db.system.name` when nothing more is known.
        const SYSTEM_NAME: &'static str;
        /// The lexical rules of the statements.
        const DIALECT: Dialect;
        /// The server's address, port (only when not the default) and database name.
        fn server(options: &<Self::Connection as Connection>::Options) -> Server;
        /// `db.system.name` as the server reports itself (MariaDB answers MySQL's protocol).
        fn detect_system(_pool: &Pool<Self>) -> BoxFuture<'_, &'static str> {
            Box::pin(std::future::ready(Self::SYSTEM_NAME))
        }
    }
}

#[cfg(feature = "postgres")]
impl TracedDatabase for sqlx::Postgres {}

#[cfg(feature = "postgres")]
impl private::Sealed for sqlx::Postgres {
    const SYSTEM_NAME: &'static str = "postgresql";
    const DIALECT: Dialect = Dialect::Postgres;

    fn server(options: &sqlx::postgres::PgConnectOptions) -> Server {
        let (address, port) = match options.get_socket() {
            Some(socket) => (socket.to_string_lossy().into_owned(), None),
            None => (options.get_host().to_owned(), Some(options.get_port()).filter(|&p| p != 5432)),
        };
        // Without a database name, PostgreSQL connects to the one named after the user.
        let namespace = options.get_database().unwrap_or(options.get_username()).to_owned();
        Server { address: Some(address), port, namespace: Some(namespace) }
    }
}

#[cfg(feature = "mysql")]
impl TracedDatabase for sqlx::MySql {}

#[cfg(feature = "mysql")]
impl private::Sealed for sqlx::MySql {
    const SYSTEM_NAME: &'static str = "mysql";
    const DIALECT: Dialect = Dialect::MySql;

    fn server(options: &sqlx::mysql::MySqlConnectOptions) -> Server {
        let (address, port) = match options.get_socket() {
            Some(socket) => (socket.to_string_lossy().into_owned(), None),
            None => (options.get_host().to_owned(), Some(options.get_port()).filter(|&p| p != 3306)),
        };
        Server { address: Some(address), port, namespace: options.get_database().map(str::to_owned) }
    }

    fn detect_system(pool: &Pool<Self>) -> BoxFuture<'_, &'static str> {
        Box::pin(async move {
            let version: Result<String, _> = sqlx::query_scalar("SELECT VERSION()").fetch_one(pool).await;
            match version {
                Ok(version) if version.contains("MariaDB") => "mariadb",
                _ => "mysql",
            }
        })
    }
}

#[cfg(feature = "sqlite")]
impl TracedDatabase for sqlx::Sqlite {}

#[cfg(feature = "sqlite")]
impl private::Sealed for sqlx::Sqlite {
    const SYSTEM_NAME: &'static str = "sqlite";
    const DIALECT: Dialect = Dialect::Sqlite;

    fn server(options: &sqlx::sqlite::SqliteConnectOptions) -> Server {
        // The database is a file: its path names it; an in-memory database has no name.
        let file = options.get_filename().to_string_lossy();
        let in_memory = file.is_empty() || file == ":memory:" || file.starts_with("file:") && file.contains("memory");
        Server { address: None, port: None, namespace: (!in_memory).then(|| file.into_owned()) }
    }
}
