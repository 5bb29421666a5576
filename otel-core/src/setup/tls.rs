//! OTLP over `https://`: rustls (with the `ring` provider) for both transports, configured by the
//! specification's variables, each signal's own winning over the general one:
//! - `OTEL_EXPORTER_OTLP_({SIGNAL}_)CERTIFICATE`: a PEM file of the certificates that verify the
//!   collector's. Unset: the system's trust store.
//! - `OTEL_EXPORTER_OTLP_({SIGNAL}_)CLIENT_CERTIFICATE` and `..._CLIENT_KEY`: PEM files of the
//!   client's certificate chain and private key, for a collector that requires mutual TLS. Both
//!   or neither.
//!
//! A file that cannot be read or parsed is reported and the signal's OTLP exporter is left out
//! (never a silent fall back to an unverified or anonymous connection).

use crate::config::{Env, report};
use crate::setup::otlp::first_set;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// `OTEL_EXPORTER_OTLP_CERTIFICATE`: PEM file of the certificates trusted for the collector.
pub const OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`: PEM file of the client's certificate chain.
pub const OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_CLIENT_KEY`: PEM file of the client's private key.
pub const OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";

/// The per-signal names of the three variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TlsVariables {
    pub(crate) certificate: &'static str,
    pub(crate) client_certificate: &'static str,
    pub(crate) client_key: &'static str,
}

/// The PEM contents read for one signal (read when the exporter is built).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// The trusted certificates, PEM; `None`: the system's trust store.
    pub(crate) ca: Option<Vec<u8>>,
    /// The client's certificate chain and key, PEM.
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret; the rest says nothing useful byte by byte.
        f.debug_struct("TlsFiles").field("ca", &self.ca.is_some()).field("identity", &self.identity.is_some()).finish()
    }
}

impl TlsFiles {
    /// Reads the files the variables name. `Err` (already reported) when one is set but cannot
    /// be read, or only one of the client certificate and key is set.
    pub(crate) fn from_env(vars: TlsVariables, env: &Env) -> Result<Self, ()> {
        let read = |names: &[&'static str]| -> Result<Option<Vec<u8>>, ()> {
            let Some((name, path)) = first_set(env, names) else { return Ok(None) };
            std::fs::read(path.trim())
                .map(Some)
                .map_err(|error| report(name, &path, format!("cannot read it: {error}")))
        };
        let ca = read(&[vars.certificate, OTLP_CERTIFICATE])?;
        let cert = read(&[vars.client_certificate, OTLP_CLIENT_CERTIFICATE])?;
        let key = read(&[vars.client_key, OTLP_CLIENT_KEY])?;
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                let reason = "a client certificate needs its key and a key its certificate";
                report(OTLP_CLIENT_CERTIFICATE, "<one of the two>", reason);
                return Err(());
            }
        };
        Ok(Self { ca, identity })
    }

    /// The rustls configuration for the HTTP transport: these roots (or the system's), this
    /// client identity if any, the `ring` provider.
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, String> {
        // ring, as tonic's `tls-ring` uses for gRPC: it builds with no C toolchain beyond a
        // compiler. rustls deprecates it only for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?;
        let builder = match &self.ca {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(pem) {
                    let certificate = certificate.map_err(|error| format!("the CA file: {error}"))?;
                    roots.add(certificate).map_err(|error| format!("the CA file: {error}"))?;
                }
                if roots.is_empty() {
                    return Err("the CA file holds no certificate".into());
                }
                builder.with_root_certificates(roots)
            }
            None => {
                use hyper_rustls::ConfigBuilderExt;
                builder.with_native_roots().map_err(|error| format!("the system's trust store: {error}"))?
            }
        };
        match &self.identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| format!("the client certificate: {error}"))?;
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|error| format!("the client key: {error}"))?;
                builder.with_client_auth_cert(chain, key).map_err(|error| format!("the client certificate: {error}"))
            }
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// The tonic configuration for the gRPC transport, for the collector `host`.
    pub(crate) fn tonic_config(&self, host: &str) -> opentelemetry_otlp::tonic_types::transport::ClientTlsConfig {
        use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
        let mut config = ClientTlsConfig::new().domain_name(host.to_owned());
        config = match &self.ca {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reported_problems;
    use crate::setup::otlp::{OtlpCode, OtlpSettings, Signal, Tls};
    use std::collections::HashMap;

    fn tls(pairs: &[(&str, &str)]) -> Tls {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        OtlpSettings::resolve(Signal::LOGS, &OtlpCode::default(), &Env::from_fn(move |name| map.get(name).cloned())).tls
    }

    #[test]
    fn https_reads_the_files_and_a_missing_or_lone_file_makes_the_exporter_unusable() {
        assert_eq!(tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]), Tls::Plain);
        assert_eq!(tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")]), Tls::Secure(TlsFiles::default()));

        let missing = "/nonexistent/otel-core-test-ca.pem";
        let unreadable = tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"), (OTLP_CERTIFICATE, missing)]);
        assert_eq!(unreadable, Tls::Unusable);
        assert!(reported_problems().iter().any(|p| p.source == OTLP_CERTIFICATE && p.value == missing));

        // The signal's own variable wins, and a certificate without its key is refused.
        let dir = std::env::temp_dir().join(format!("otel-core-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("client.pem");
        std::fs::write(&cert, b"not really a certificate").unwrap();
        let cert = cert.display().to_string();
        let lone = tls(&[
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://c:4318/v1/logs"),
            ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", &cert),
        ]);
        assert_eq!(lone, Tls::Unusable);

        // Files that are read but hold no certificate fail when the exporter is built, not here.
        let garbage =
            tls(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"), ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", &cert)]);
        let Tls::Secure(files) = garbage else { panic!("{garbage:?}") };
        assert!(files.rustls_config().is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
