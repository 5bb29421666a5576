//! Semantic-convention rules shared by the adapters, written once.

pub mod http;
