//! End-to-end tests across the adapters, against real servers, Redis, databases and a Kafka
//! broker on loopback (`scripts/services.sh start`). The tests are this package's test targets.

// The workspace README's examples are compiled as doctests here, where every adapter is a
// dependency, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct WorkspaceReadme;
