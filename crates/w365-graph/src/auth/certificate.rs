//! Certificate credentials: a `private_key_jwt` client assertion signed with the app's
//! certificate key (reference §1.2, Microsoft identity platform "certificate credentials").
//!
//! Header: `alg` PS256 (what current Entra docs prescribe), `typ` JWT, `x5t#S256` =
//! base64url(SHA-256 of the certificate DER). Claims: `aud` = the token endpoint URL, `iss` =
//! `sub` = client id, fresh `jti`, `nbf`/`iat` = now, `exp` = now + 10 min.
//! A new assertion is signed for every token request.

use std::fmt;
use std::sync::Arc;

use azure_core::http::ClientMethodOptions;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Result;
use crate::error::Error;

/// Lifetime of an assertion (the docs recommend 5–10 minutes).
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// Signing algorithm of the assertion.
pub const ASSERTION_ALGORITHM: Algorithm = Algorithm::PS256;

/// `{authority}/{tenant}/oauth2/v2.0/token`, the assertion audience and the endpoint URL.
pub fn token_endpoint(authority: &url::Url, tenant_id: &str) -> Result<String> {
    if tenant_id.is_empty()
        || !tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(Error::config(format!("invalid tenant id {tenant_id:?}")));
    }
    Ok(format!(
        "{}/{tenant_id}/oauth2/v2.0/token",
        authority.origin().ascii_serialization()
    ))
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

struct Inner {
    key: EncodingKey,
    thumbprint_s256: String,
    client_id: String,
    audience: String,
}

/// Signs client assertions for one app and certificate.
#[derive(Clone)]
pub struct CertificateAssertion {
    inner: Arc<Inner>,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.inner.client_id)
            .field("x5t#S256", &self.inner.thumbprint_s256)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn cert_error(message: impl Into<String>) -> Error {
    Error::Auth {
        credential: "certificate",
        aadsts: None,
        oauth_error: None,
        status: None,
        message: message.into(),
        source: None,
    }
}

impl CertificateAssertion {
    /// Parses the certificate (first `CERTIFICATE` block) and the RSA private key
    /// (`PRIVATE KEY` or `RSA PRIVATE KEY`) from PEM text.
    pub fn new(
        certificate_pem: &SecretString,
        private_key_pem: Option<&SecretString>,
        client_id: &str,
        audience: String,
    ) -> Result<Self> {
        let mut blocks = pem::parse_many(certificate_pem.expose_secret().as_bytes())
            .map_err(|_| cert_error("the certificate PEM cannot be parsed"))?;
        if let Some(key) = private_key_pem {
            blocks.extend(
                pem::parse_many(key.expose_secret().as_bytes())
                    .map_err(|_| cert_error("the private key PEM cannot be parsed"))?,
            );
        }
        let cert = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| cert_error("no CERTIFICATE block in the PEM"))?;
        let key = blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
            .ok_or_else(|| {
                cert_error("no RSA private key (PRIVATE KEY or RSA PRIVATE KEY block) in the PEM")
            })?;
        let key_pem = SecretString::from(pem::encode(key));
        let key = EncodingKey::from_rsa_pem(key_pem.expose_secret().as_bytes())
            .map_err(|_| cert_error("the private key is not a usable RSA key (Entra ID certificate credentials need RSA)"))?;
        let thumbprint_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(cert.contents()));
        if client_id.is_empty() {
            return Err(Error::config("the client id is empty"));
        }
        Ok(CertificateAssertion {
            inner: Arc::new(Inner {
                key,
                thumbprint_s256,
                client_id: client_id.to_owned(),
                audience,
            }),
        })
    }

    /// base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub fn thumbprint_s256(&self) -> &str {
        &self.inner.thumbprint_s256
    }

    /// Signs a fresh assertion.
    pub fn sign(&self) -> Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut header = Header::new(ASSERTION_ALGORITHM);
        header.typ = Some("JWT".to_owned());
        header.x5t_s256 = Some(self.inner.thumbprint_s256.clone());
        let claims = Claims {
            aud: &self.inner.audience,
            iss: &self.inner.client_id,
            sub: &self.inner.client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.inner.key)
            .map_err(|_| cert_error("signing the client assertion failed"))
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.sign().map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.to_string())
        })
    }
}
