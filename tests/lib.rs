//! End-to-end tests across the adapters, against real servers, Redis, databases and a Kafka
//! broker on loopback (`scripts/services.sh start`). The tests are this package's test targets.
