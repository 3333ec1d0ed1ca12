//! HTTPS for the simulator, like Graph: some official clients only attach the bearer token to
//! `https://` URLs and only follow `https://` nextLinks (Microsoft's JavaScript client 3.x),
//! and azure-identity only accepts `https://` authorities.
//!
//! [`TlsConfig`] is a server certificate chain and its private key (PEM), given by the user or
//! made by [`generate`]: a throwaway certificate authority and a certificate for `127.0.0.1`,
//! `localhost` and `::1` signed by it. The CA certificate is what clients trust
//! (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`).
//!
//! [`TlsListener`] is an axum listener: TLS handshakes run in their own tasks (a slow or broken
//! client never holds up the others) and finished connections are handed to `axum::serve`.
//! rustls with aws-lc-rs; no OpenSSL.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server certificate chain (leaf first) and its private key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_chain_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "cert_chain_pem",
                &format!("{} bytes", self.cert_chain_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A generated certificate authority and a server certificate it signed.
#[derive(Clone)]
pub struct GeneratedTls {
    /// The CA certificate clients trust (PEM).
    pub ca_pem: String,
    /// The server's certificate chain and key.
    pub server: TlsConfig,
}

impl fmt::Debug for GeneratedTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedTls")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("could not generate the simulator's TLS certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error(
        "the certificate PEM has no certificate (expected one or more `-----BEGIN CERTIFICATE-----` blocks)"
    )]
    NoCertificate,
    #[error("the certificate PEM could not be read: {0}")]
    Certificate(String),
    #[error(
        "the key PEM has no private key (expected a PKCS#8, PKCS#1 or SEC1 `-----BEGIN ... PRIVATE KEY-----` block): {0}"
    )]
    Key(String),
    #[error("the certificate and key were refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The names the generated server certificate is valid for.
pub const LOOPBACK_NAMES: &[&str] = &["127.0.0.1", "localhost", "::1"];

/// A fresh certificate authority and a server certificate for `names` (IP addresses or DNS
/// names) signed by it, both valid for 30 days from now.
pub fn generate(names: &[&str]) -> Result<GeneratedTls, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "w365 simulator local CA");
    ca_params.distinguished_name = ca_name;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = now - time::Duration::hours(1);
    ca_params.not_after = now + time::Duration::days(30);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "w365 simulator");
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(30);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(GeneratedTls {
        ca_pem: ca_cert.pem(),
        server: TlsConfig {
            cert_chain_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
            key_pem: key.serialize_pem(),
        },
    })
}

/// The rustls server configuration (HTTP/1.1 only, like the plain listener).
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cfg.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(cfg.key_pem.as_bytes())
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An axum listener serving TLS connections.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS on an already bound TCP listener.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let acceptor = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let tls = tls.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The acceptor task only ends when aborted (on drop): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_load_into_rustls() {
        let generated = generate(LOOPBACK_NAMES).expect("generates");
        assert!(generated.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(server_config(&generated.server).is_ok());
        assert!(!format!("{generated:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let err = server_config(&TlsConfig {
            cert_chain_pem: "not a certificate".into(),
            key_pem: "nor a key".into(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
        let generated = generate(LOOPBACK_NAMES).expect("generates");
        let err = server_config(&TlsConfig {
            cert_chain_pem: generated.server.cert_chain_pem,
            key_pem: "nor a key".into(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("no private key"), "{err}");
    }
}
