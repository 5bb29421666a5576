//! What differs between the databases: `db.system.name`, the SQL dialect, where the server and
//! database names come from, and how MariaDB is told apart from MySQL.
//!
//! All of it is read once, when the pool is wrapped, from the pool's connect options (for sqlx's
//! `Any` driver, its URL): queries only read what was stored then.

use crate::sql::Dialect;
use futures_util::future::BoxFuture;
use sqlx::{Connection, Database, Pool};

/// A database `TracedPool` can trace: PostgreSQL (feature `postgres`), MySQL and MariaDB
/// (feature `mysql`), SQLite (feature `sqlite`) and sqlx's `Any` driver
/// (feature `any`). Sealed.
pub trait TracedDatabase: Database + private::Sealed {}

/// What the spans record of the database a pool connects to.
#[derive(Debug)]
#[allow(unreachable_pub)] // named by the sealed trait, in a private module
pub struct Target {
    /// `db.system.name` before asking the server (MySQL's protocol also serves MariaDB).
    pub(crate) system: &'static str,
    /// The lexical rules of the statements.
    pub(crate) dialect: Dialect,
    pub(crate) address: Option<String>,
    /// Only when not the system's default.
    pub(crate) port: Option<u16>,
    pub(crate) namespace: Option<String>,
}

pub(crate) mod private {
    use super::*;

    #[allow(unreachable_pub)] // public in a private module: the sealing pattern
    pub trait Sealed: Database {
        /// The system, dialect, server address, port (only when not the default) and database
        /// name of the pool's connections.
        fn target(options: &<Self::Connection as Connection>::Options) -> Target;
        /// `db.system.name` as the server reports itself, `system` being what the options say
        /// (MariaDB answers MySQL's protocol).
        fn detect_system<'p>(_pool: &'p Pool<Self>, system: &'static str) -> BoxFuture<'p, &'static str> {
            Box::pin(std::future::ready(system))
        }
    }
}

/// PostgreSQL's port, not recorded.
#[cfg(any(feature = "postgres", feature = "any"))]
const POSTGRES_PORT: u16 = 5432;
/// MySQL's and MariaDB's port, not recorded.
#[cfg(any(feature = "mysql", feature = "any"))]
const MYSQL_PORT: u16 = 3306;

/// `db.system.name` of a server speaking MySQL's protocol: `mariadb` when it is one, else `mysql`;
/// any other `system` as it is.
pub(crate) fn mysql_or_mariadb(system: &'static str, mariadb: bool) -> &'static str {
    match system {
        "mysql" | "mariadb" if mariadb => "mariadb",
        "mysql" | "mariadb" => "mysql",
        _ => system,
    }
}

/// Whether a server's answer to `SELECT VERSION()` names MariaDB.
#[cfg(any(feature = "mysql", feature = "any"))]
fn says_mariadb(version: Result<String, sqlx::Error>) -> bool {
    version.is_ok_and(|version| version.contains("MariaDB"))
}

#[cfg(feature = "postgres")]
impl TracedDatabase for sqlx::Postgres {}

#[cfg(feature = "postgres")]
impl private::Sealed for sqlx::Postgres {
    fn target(options: &sqlx::postgres::PgConnectOptions) -> Target {
        let (address, port) = match options.get_socket() {
            Some(socket) => (socket.to_string_lossy().into_owned(), None),
            None => (options.get_host().to_owned(), Some(options.get_port()).filter(|&p| p != POSTGRES_PORT)),
        };
        // Without a database name, PostgreSQL connects to the one named after the user.
        let namespace = options.get_database().unwrap_or(options.get_username()).to_owned();
        Target {
            system: "postgresql",
            dialect: Dialect::Postgres,
            address: Some(address),
            port,
            namespace: Some(namespace),
        }
    }
}

#[cfg(feature = "mysql")]
impl TracedDatabase for sqlx::MySql {}

#[cfg(feature = "mysql")]
impl private::Sealed for sqlx::MySql {
    fn target(options: &sqlx::mysql::MySqlConnectOptions) -> Target {
        let (address, port) = match options.get_socket() {
            Some(socket) => (socket.to_string_lossy().into_owned(), None),
            None => (options.get_host().to_owned(), Some(options.get_port()).filter(|&p| p != MYSQL_PORT)),
        };
        Target {
            system: "mysql",
            dialect: Dialect::MySql,
            address: Some(address),
            port,
            namespace: options.get_database().map(str::to_owned),
        }
    }

    fn detect_system<'p>(pool: &'p Pool<Self>, system: &'static str) -> BoxFuture<'p, &'static str> {
        Box::pin(async move {
            mysql_or_mariadb(system, says_mariadb(sqlx::query_scalar("SELECT VERSION()").fetch_one(pool).await))
        })
    }
}

#[cfg(feature = "sqlite")]
impl TracedDatabase for sqlx::Sqlite {}

#[cfg(feature = "sqlite")]
impl private::Sealed for sqlx::Sqlite {
    fn target(options: &sqlx::sqlite::SqliteConnectOptions) -> Target {
        // The database is a file: its path names it; an in-memory database has no name.
        let file = options.get_filename().to_string_lossy();
        let in_memory = file.is_empty() || file == ":memory:" || file.starts_with("file:") && file.contains("memory");
        Target {
            system: "sqlite",
            dialect: Dialect::Sqlite,
            address: None,
            port: None,
            namespace: (!in_memory).then(|| file.into_owned()),
        }
    }
}

#[cfg(feature = "any")]
impl TracedDatabase for sqlx::Any {}

#[cfg(feature = "any")]
impl private::Sealed for sqlx::Any {
    fn target(options: &sqlx::any::AnyConnectOptions) -> Target {
        any::target(options)
    }

    fn detect_system<'p>(pool: &'p Pool<Self>, system: &'static str) -> BoxFuture<'p, &'static str> {
        match system {
            "mysql" | "mariadb" => Box::pin(async move {
                mysql_or_mariadb(system, says_mariadb(sqlx::query_scalar("SELECT VERSION()").fetch_one(pool).await))
            }),
            _ => Box::pin(std::future::ready(system)),
        }
    }
}

/// sqlx's `Any` driver: the database is known from the URL's scheme, and the server and
/// database from the URL as the drivers read it. Only the host, port, path and the query
/// parameters naming a host, socket or database are read: never the user or the password.
#[cfg(feature = "any")]
mod any {
    use super::{MYSQL_PORT, POSTGRES_PORT, Target};
    use crate::sql::Dialect;

    pub(super) fn target(options: &sqlx::any::AnyConnectOptions) -> Target {
        let url = &options.database_url;
        // The last value of a repeated parameter wins, as in the drivers.
        let parameter = |keys: &[&str]| {
            url.query_pairs()
                .filter(|(key, _)| keys.contains(&key.as_ref()))
                .last()
                .map(|(_, value)| value.into_owned())
        };
        let host = || url.host_str().filter(|host| !host.is_empty()).map(decode);
        let database = || Some(url.path().trim_start_matches('/')).filter(|path| !path.is_empty()).map(decode);
        match url.scheme() {
            "postgres" | "postgresql" => {
                let address = parameter(&["host", "hostaddr"]).or_else(host);
                // A host starting with `/` is the directory of the server's Unix socket.
                let socket = address.as_deref().is_some_and(|address| address.starts_with('/'));
                let port = parameter(&["port"]).and_then(|port| port.parse().ok()).or(url.port());
                Target {
                    system: "postgresql",
                    dialect: Dialect::Postgres,
                    address,
                    port: port.filter(|&port| port != POSTGRES_PORT && !socket),
                    namespace: parameter(&["dbname"]).or_else(database),
                }
            }
            scheme @ ("mysql" | "mariadb") => {
                let (address, port) = match parameter(&["socket"]) {
                    Some(socket) => (Some(socket), None),
                    None => (host(), url.port().filter(|&port| port != MYSQL_PORT)),
                };
                Target {
                    // The scheme says MariaDB; `wrap` and `connect` ask the server anyway.
                    system: if scheme == "mariadb" { "mariadb" } else { "mysql" },
                    dialect: Dialect::MySql,
                    address,
                    port,
                    namespace: database(),
                }
            }
            "sqlite" => {
                // As the SQLite driver reads its URL: the file name up to the parameters.
                let rest = url.as_str().trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let file = rest.split(['?', '#']).next().unwrap_or_default();
                let in_memory =
                    file.is_empty() || file == ":memory:" || parameter(&["mode"]).as_deref() == Some("memory");
                Target {
                    system: "sqlite",
                    dialect: Dialect::Sqlite,
                    address: None,
                    port: None,
                    namespace: (!in_memory).then(|| decode(file)),
                }
            }
            // A driver the application installed itself: the conventions' name for another SQL
            // database, and the most permissive dialect (it knows `?`, `:name`, `@name`,
            // `[ident]`): whatever it does not recognise is sanitized, never leaked.
            _ => Target {
                system: "other_sql",
                dialect: Dialect::Sqlite,
                address: host(),
                port: url.port(),
                namespace: database(),
            },
        }
    }

    /// Percent-decodes a part of the URL (an invalid escape leaves it as written).
    fn decode(text: &str) -> String {
        otel_core::semconv::http::percent_decode(text).unwrap_or_else(|| text.to_owned())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn of(url: &str) -> (&'static str, Dialect, Option<String>, Option<u16>, Option<String>) {
            let target = target(&url.parse().unwrap_or_else(|error| panic!("{url}: {error}")));
            (target.system, target.dialect, target.address, target.port, target.namespace)
        }

        fn some(text: &str) -> Option<String> {
            Some(text.to_owned())
        }

        #[test]
        fn postgresql_urls() {
            use Dialect::Postgres;
            let pg = "postgresql";
            assert_eq!(
                of("postgres://app:secret@db.internal/shop"),
                (pg, Postgres, some("db.internal"), None, some("shop"))
            );
            assert_eq!(
                of("postgresql://app@db.internal:5433/shop"),
                (pg, Postgres, some("db.internal"), Some(5433), some("shop"))
            );
            assert_eq!(of("postgres://127.0.0.1:5432/test"), (pg, Postgres, some("127.0.0.1"), None, some("test")));
            assert_eq!(
                of("postgres://app@[::1]:6000/my%20db"),
                (pg, Postgres, some("[::1]"), Some(6000), some("my db"))
            );
            // No database: the user is not recorded in its place.
            assert_eq!(of("postgres://app:secret@localhost"), (pg, Postgres, some("localhost"), None, None));
            // A Unix socket, in the host or a parameter: no port.
            assert_eq!(
                of("postgres://%2Fvar%2Frun%2Fpostgresql/shop"),
                (pg, Postgres, some("/var/run/postgresql"), None, some("shop"))
            );
            assert_eq!(
                of("postgres:///shop?host=/run/postgresql&port=5433"),
                (pg, Postgres, some("/run/postgresql"), None, some("shop"))
            );
            assert_eq!(
                of("postgres://localhost/x?dbname=shop&port=5439&sslmode=disable"),
                (pg, Postgres, some("localhost"), Some(5439), some("shop"))
            );
        }

        #[test]
        fn mysql_and_mariadb_urls() {
            use Dialect::MySql;
            assert_eq!(
                of("mysql://root:pw@127.0.0.1:3306/test"),
                ("mysql", MySql, some("127.0.0.1"), None, some("test"))
            );
            assert_eq!(of("mysql://root@db:3307"), ("mysql", MySql, some("db"), Some(3307), None));
            assert_eq!(of("mariadb://app@db/shop"), ("mariadb", MySql, some("db"), None, some("shop")));
            assert_eq!(
                of("mysql://root@localhost:3307/shop?socket=/run/mysqld/mysqld.sock"),
                ("mysql", MySql, some("/run/mysqld/mysqld.sock"), None, some("shop"))
            );
        }

        #[test]
        fn sqlite_urls() {
            use Dialect::Sqlite;
            assert_eq!(of("sqlite:///tmp/app.db?mode=rwc"), ("sqlite", Sqlite, None, None, some("/tmp/app.db")));
            assert_eq!(of("sqlite://data/app.db"), ("sqlite", Sqlite, None, None, some("data/app.db")));
            assert_eq!(of("sqlite:app.db"), ("sqlite", Sqlite, None, None, some("app.db")));
            assert_eq!(of("sqlite:///tmp/my%20app.db"), ("sqlite", Sqlite, None, None, some("/tmp/my app.db")));
            for memory in ["sqlite::memory:", "sqlite://?mode=memory", "sqlite://a.db?mode=memory"] {
                assert_eq!(of(memory), ("sqlite", Sqlite, None, None, None), "{memory}");
            }
        }

        #[test]
        fn other_urls() {
            assert_eq!(
                of("mssql://sa:pw@db:1433/shop"),
                ("other_sql", Dialect::Sqlite, some("db"), Some(1433), some("shop"))
            );
        }

        #[test]
        fn decoding() {
            assert_eq!(decode("a%20b%2Fc"), "a b/c");
            assert_eq!(decode("100%"), "100%");
            assert_eq!(decode("%zz%4"), "%zz%4");
            assert_eq!(decode("caf%C3%A9"), "café");
        }
    }
}
