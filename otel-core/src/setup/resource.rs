//! The resource: who produced the spans (`service.name`, version, environment, host, process).
//!
//! The SDK's own detectors read the process environment directly and let
//! `OTEL_RESOURCE_ATTRIBUTES` override `OTEL_SERVICE_NAME`; the specification wants the
//! opposite. Here `service.name` comes from, in order: code, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, then the executable's file name.
//!
//! - `OTEL_SERVICE_NAME`: the service name.
//! - `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded
//!   (`deployment.environment.name=prod,team=shop%20core`). A malformed pair is reported and
//!   skipped; the others apply. Code wins over it for the same key.
//!
//! Detected: `host.name` (from the kernel) and `process.pid`, unless given; plus the SDK's
//! `telemetry.sdk.*`.

use crate::config::{Env, report};
use crate::semconv::http::percent_decode;
use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;

/// `OTEL_SERVICE_NAME`: the service name; wins over `service.name` in `OTEL_RESOURCE_ATTRIBUTES`.
pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `OTEL_RESOURCE_ATTRIBUTES`: comma-separated `key=value` resource attributes, percent-encoded.
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

const SERVICE_NAME_KEY: &str = "service.name";
const SERVICE_VERSION_KEY: &str = "service.version";
const DEPLOYMENT_ENVIRONMENT_KEY: &str = "deployment.environment.name";
const HOST_NAME_KEY: &str = "host.name";
const PROCESS_PID_KEY: &str = "process.pid";

/// What code said about the resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResourceSettings {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) deployment_environment: Option<String>,
    pub(crate) attributes: Vec<KeyValue>,
}

impl ResourceSettings {
    /// The resource from code, the environment and detection, in that order of precedence.
    pub(crate) fn build(&self, env: &Env) -> Resource {
        let from_env = env.get(RESOURCE_ATTRIBUTES).map(|value| parse_attributes(&value)).unwrap_or_default();
        let env_value = |key: &str| from_env.iter().rev().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone());

        let service_name = self
            .service_name
            .clone()
            .filter(|s| !s.is_empty())
            .map(Value::from)
            .or_else(|| {
                env.get(SERVICE_NAME).filter(|s| !s.trim().is_empty()).map(|s| Value::from(s.trim().to_owned()))
            })
            .or_else(|| env_value(SERVICE_NAME_KEY))
            .unwrap_or_else(|| Value::from(default_service_name()));

        // Later attributes win: detected, then the environment, then code.
        let mut attributes = vec![KeyValue::new(PROCESS_PID_KEY, i64::from(std::process::id()))];
        if let Some(host) = host_name() {
            attributes.push(KeyValue::new(HOST_NAME_KEY, host));
        }
        attributes.extend(from_env);
        attributes.extend(self.attributes.iter().cloned());
        if let Some(version) = &self.service_version {
            attributes.push(KeyValue::new(SERVICE_VERSION_KEY, version.clone()));
        }
        if let Some(environment) = &self.deployment_environment {
            attributes.push(KeyValue::new(DEPLOYMENT_ENVIRONMENT_KEY, environment.clone()));
        }
        attributes.push(KeyValue::new(Key::from_static_str(SERVICE_NAME_KEY), service_name));

        Resource::builder_empty().with_detector(Box::new(TelemetryResourceDetector)).with_attributes(attributes).build()
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`; malformed pairs are reported and skipped.
pub(crate) fn parse_attributes(value: &str) -> Vec<KeyValue> {
    let mut attributes = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, raw)) = pair.split_once('=') else {
            report(RESOURCE_ATTRIBUTES, pair, "expected key=value");
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            report(RESOURCE_ATTRIBUTES, pair, "empty key");
            continue;
        }
        match percent_decode(raw.trim()) {
            Some(decoded) => attributes.push(KeyValue::new(key.to_owned(), decoded)),
            None => report(RESOURCE_ATTRIBUTES, pair, "invalid percent-encoding or UTF-8 in the value"),
        }
    }
    attributes
}

/// The executable's file name without extension, else `unknown_service`.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .or_else(|| {
            std::env::args_os().next().and_then(|arg0| {
                std::path::Path::new(&arg0).file_stem().map(|stem| stem.to_string_lossy().into_owned())
            })
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

/// The host name as the kernel knows it (no `unsafe`, no extra crate).
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reported_problems;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_fn(move |name| map.get(name).cloned())
    }

    fn get(resource: &Resource, key: &'static str) -> Option<String> {
        resource.get(&Key::from_static_str(key)).map(|v| v.to_string())
    }

    #[test]
    fn service_name_precedence_code_then_variable_then_attributes_then_binary() {
        let all = env(&[(SERVICE_NAME, "from-var"), (RESOURCE_ATTRIBUTES, "service.name=from-attrs")]);
        let code = ResourceSettings { service_name: Some("from-code".into()), ..Default::default() };
        assert_eq!(get(&code.build(&all), "service.name").as_deref(), Some("from-code"));
        let none = ResourceSettings::default();
        assert_eq!(get(&none.build(&all), "service.name").as_deref(), Some("from-var"));
        let attrs_only = env(&[(RESOURCE_ATTRIBUTES, "service.name=from-attrs")]);
        assert_eq!(get(&none.build(&attrs_only), "service.name").as_deref(), Some("from-attrs"));
        let blank = env(&[(SERVICE_NAME, "  ")]);
        let binary = get(&none.build(&blank), "service.name").expect("a default");
        // The unit-test binary is `otel_core-<hash>`.
        assert!(binary.starts_with("otel_core"), "{binary}");
    }

    #[test]
    fn attributes_version_environment_host_and_pid() {
        let vars = env(&[(
            RESOURCE_ATTRIBUTES,
            "service.version=1.0,deployment.environment.name=staging,team=shop%20core,host.name=box",
        )]);
        let resource = ResourceSettings::default().build(&vars);
        assert_eq!(get(&resource, "service.version").as_deref(), Some("1.0"));
        assert_eq!(get(&resource, "deployment.environment.name").as_deref(), Some("staging"));
        assert_eq!(get(&resource, "team").as_deref(), Some("shop core"));
        assert_eq!(get(&resource, "host.name").as_deref(), Some("box"), "given beats detected");
        assert_eq!(get(&resource, "process.pid"), Some(std::process::id().to_string()));
        assert_eq!(get(&resource, "telemetry.sdk.language").as_deref(), Some("rust"));

        let code = ResourceSettings {
            service_version: Some("2.0".into()),
            deployment_environment: Some("production".into()),
            attributes: vec![KeyValue::new("team", "payments")],
            ..Default::default()
        };
        let resource = code.build(&vars);
        assert_eq!(get(&resource, "service.version").as_deref(), Some("2.0"));
        assert_eq!(get(&resource, "deployment.environment.name").as_deref(), Some("production"));
        assert_eq!(get(&resource, "team").as_deref(), Some("payments"));

        let detected = ResourceSettings::default().build(&env(&[]));
        if let Some(host) = host_name() {
            assert_eq!(get(&detected, "host.name"), Some(host));
        }
    }

    #[test]
    fn malformed_pairs_are_reported_and_skipped() {
        let value = "good=1,novalue,=empty,bad=%zz,ok=%41";
        let attributes = parse_attributes(value);
        let keys: Vec<_> = attributes.iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect();
        assert_eq!(keys, [("good".into(), "1".into()), ("ok".into(), "A".into())]);
        let problems = reported_problems();
        for bad in ["novalue", "=empty", "bad=%zz"] {
            assert!(problems.iter().any(|p| p.source == RESOURCE_ATTRIBUTES && p.value == bad), "{bad}");
        }
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%c3%a9"), Some("é".into()));
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }
}
