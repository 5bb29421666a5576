//! The receiver's TLS: a CA made at start, a server certificate and a client certificate signed
//! by it, and rustls server configurations built with the `ring` provider explicitly (so the
//! receiver installs no process-wide default provider that could hide a client's missing one).

use futures_util::Stream;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The PEM files a client needs, in a directory of their own (removed with the receiver).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub dir: PathBuf,
    /// The CA that signed the server's and the client's certificates.
    pub ca_pem: PathBuf,
    pub client_cert_pem: PathBuf,
    /// PKCS#8.
    pub client_key_pem: PathBuf,
}

pub(super) struct ServerConfigs {
    /// ALPN `h2` only, as gRPC needs.
    pub(super) grpc: Arc<ServerConfig>,
    /// ALPN `h2` and `http/1.1`.
    pub(super) http: Arc<ServerConfig>,
}

pub(super) fn generate(client_auth: bool) -> (TlsFiles, ServerConfigs) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.distinguished_name.push(DnType::CommonName, "otel-core test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA certificate");

    let sign = |names: &[&str], common_name: &str, usage: ExtendedKeyUsagePurpose| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &ca).expect("a certificate signed by the CA");
        (cert, key)
    };
    let (server_cert, server_key) = sign(&["localhost", "127.0.0.1"], "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = sign(&[], "otel-core test client", ExtendedKeyUsagePurpose::ClientAuth);

    let files = write_files(&ca.pem(), &client_cert.pem(), &client_key.serialize_pem());

    let provider = Arc::new(ring_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions");
    let builder = if client_auth {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).expect("the CA is a valid trust anchor");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("a client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let mut grpc = builder.with_single_cert(chain, key).expect("the server certificate matches its key");
    let mut http = grpc.clone();
    grpc.alpn_protocols = vec![b"h2".to_vec()];
    http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (files, ServerConfigs { grpc: Arc::new(grpc), http: Arc::new(http) })
}

/// rustls 0.23.48 deprecates the ring provider only for lacking post-quantum key exchange, which
/// does not matter on loopback; the workspace uses ring, not aws-lc-rs.
#[allow(deprecated)]
pub fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn write_files(ca: &str, client_cert: &str, client_key: &str) -> TlsFiles {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unique = format!("otel-core-receiver-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(unique);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    };
    TlsFiles {
        ca_pem: write("ca.pem", ca),
        client_cert_pem: write("client.pem", client_cert),
        client_key_pem: write("client-key.pem", client_key),
        dir,
    }
}

/// The TLS connections of `listener`, for tonic's `serve_with_incoming`. Handshakes run in tasks
/// of their own so that one stuck or refused client does not hold up the others.
pub(super) fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(stream).await {
                    let _ = tx.send(stream).await;
                }
            });
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|stream| (Ok(stream), rx)) })
}
