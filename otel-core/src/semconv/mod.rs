//! Semantic-convention rules shared by the adapters, written once.

pub mod http;
pub mod rpc;

/// The instrumentation scope of an adapter's spans and metrics: its crate's name and version,
/// and the schema URL of the semantic conventions this workspace follows.
///
/// ```
/// let scope = otel_core::semconv::instrumentation_scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
/// assert_eq!(scope.name(), "otel-core");
/// ```
pub fn instrumentation_scope(name: &'static str, version: &'static str) -> opentelemetry::InstrumentationScope {
    opentelemetry::InstrumentationScope::builder(name)
        .with_version(version)
        .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
        .build()
}
