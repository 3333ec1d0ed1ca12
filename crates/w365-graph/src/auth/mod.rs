//! Credentials behind one [`TokenCredential`] abstraction, with a token cache.
//!
//! Client secret, certificate, managed identity and Azure CLI tokens come from Microsoft's
//! `azure_identity` crate; the certificate flow signs its own client assertion
//! ([`certificate`]). Every credential is wrapped in [`CachedCredential`], which reuses a token
//! until five minutes before it expires and lets one refresh run at a time.
//!
//! Nothing in this module logs, prints or returns a secret: [`SecretString`] redacts itself in
//! `Debug`, and token endpoint failures are reported with their AADSTS code and description only.

pub(crate) mod azure;
mod cache;
pub mod certificate;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub use cache::{CachedCredential, REFRESH_MARGIN, TokenSource};
pub use secrecy::{ExposeSecret, SecretString};

use crate::Result;
use crate::error::Error;

/// A bearer token and when it expires.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token (redacted in `Debug`).
    pub token: SecretString,
    /// Expiry instant.
    pub expires_on: SystemTime,
}

impl AccessToken {
    /// A token with its expiry.
    pub fn new(token: impl Into<String>, expires_on: SystemTime) -> Self {
        AccessToken {
            token: SecretString::from(token.into()),
            expires_on,
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

/// Something that hands out Graph access tokens.
///
/// `force_refresh` asks for a token newer than the cached one (after Graph said
/// `401 InvalidAuthenticationToken`).
#[async_trait::async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// Returns a token valid for the Graph scope.
    async fn token(&self, force_refresh: bool) -> Result<AccessToken>;

    /// Returns a token other than `rejected` (which Graph just refused). Caching credentials
    /// override this so that many requests rejected with the same token share one refresh.
    async fn refresh_rejected(&self, rejected: &AccessToken) -> Result<AccessToken> {
        let _ = rejected;
        self.token(true).await
    }
}

/// How the client authenticates. Built into a [`TokenCredential`] by the client builder, which
/// knows the cloud (authority host and Graph scope).
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// OAuth client credentials with a client secret.
    ClientSecret {
        /// Tenant id (GUID) or verified domain.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The secret value (not the secret id).
        secret: SecretString,
    },
    /// OAuth client credentials with a certificate (signed client assertion, `private_key_jwt`).
    Certificate {
        /// Tenant id (GUID) or verified domain.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// PEM text with the certificate, and the private key unless `private_key_pem` is given.
        certificate_pem: SecretString,
        /// PEM private key (PKCS#8 or PKCS#1 RSA), when it is not inside `certificate_pem`.
        private_key_pem: Option<SecretString>,
    },
    /// A bearer token obtained elsewhere (`W365_ACCESS_TOKEN`); never refreshed.
    StaticToken(SecretString),
    /// `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH`
    /// (read when the client is built).
    Environment,
    /// Azure managed identity (system-assigned, or user-assigned by client id).
    ManagedIdentity {
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
    },
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzureCli,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("secret", &"[redacted]")
                .finish(),
            Credential::Certificate {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("Certificate")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("certificate_pem", &"[redacted]")
                .finish(),
            Credential::StaticToken(_) => f.write_str("StaticToken([redacted])"),
            Credential::Environment => f.write_str("Environment"),
            Credential::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            Credential::AzureCli => f.write_str("AzureCli"),
        }
    }
}

impl Credential {
    /// A client-secret credential.
    pub fn client_secret(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Credential::ClientSecret {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            secret: SecretString::from(secret.into()),
        }
    }

    /// A certificate credential from PEM text holding the certificate and its private key.
    pub fn certificate(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        pem: impl Into<String>,
    ) -> Self {
        Credential::Certificate {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            certificate_pem: SecretString::from(pem.into()),
            private_key_pem: None,
        }
    }

    /// A certificate credential read from a PEM file (certificate + private key).
    pub fn certificate_file(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        path: &std::path::Path,
    ) -> Result<Self> {
        let pem = std::fs::read_to_string(path).map_err(|e| Error::Auth {
            credential: "certificate",
            aadsts: None,
            oauth_error: None,
            status: None,
            message: format!("cannot read the certificate file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        Ok(Self::certificate(tenant_id, client_id, pem))
    }

    /// A certificate credential read from a file: PEM (certificate + private key) or PKCS#12
    /// (PFX, e.g. exported from Windows or Azure Key Vault) opened with `password` (none: the
    /// empty password). The PFX's key and its first certificate become the PEM the certificate
    /// flow signs with; the password never appears in an error.
    pub fn certificate_any_file(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        path: &std::path::Path,
        password: Option<&SecretString>,
    ) -> Result<Self> {
        let auth_error =
            |message: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
                Error::Auth {
                    credential: "certificate",
                    aadsts: None,
                    oauth_error: None,
                    status: None,
                    message,
                    source,
                }
            };
        let bytes = std::fs::read(path).map_err(|e| {
            auth_error(
                format!("cannot read the certificate file {}", path.display()),
                Some(Box::new(e)),
            )
        })?;
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            let pem = String::from_utf8(bytes).map_err(|_| {
                auth_error(
                    format!("the PEM file {} is not UTF-8 text", path.display()),
                    None,
                )
            })?;
            return Ok(Self::certificate(tenant_id, client_id, pem));
        }
        let password = password.map_or("", |p| p.expose_secret());
        // The library's error names the cause (MAC mismatch, bad encoding); it never holds the
        // password.
        let store = p12_keystore::KeyStore::from_pkcs12(&bytes, password).map_err(|e| {
            auth_error(
                format!(
                    "cannot open the PKCS#12 (PFX) file {}: it is not a PFX file or AZURE_CLIENT_CERTIFICATE_PASSWORD is wrong ({e})",
                    path.display()
                ),
                None,
            )
        })?;
        let Some((_, chain)) = store.private_key_chain() else {
            return Err(auth_error(
                format!(
                    "the PKCS#12 (PFX) file {} holds no private key; export the certificate with its private key",
                    path.display()
                ),
                None,
            ));
        };
        let Some(leaf) = chain.chain().first() else {
            return Err(auth_error(
                format!(
                    "the PKCS#12 (PFX) file {} holds a private key but no certificate",
                    path.display()
                ),
                None,
            ));
        };
        let pem_text = format!(
            "{}{}",
            pem::encode(&pem::Pem::new("CERTIFICATE", leaf.as_der())),
            pem::encode(&pem::Pem::new("PRIVATE KEY", chain.key()))
        );
        Ok(Self::certificate(tenant_id, client_id, pem_text))
    }

    /// A static bearer token.
    pub fn static_token(token: impl Into<String>) -> Self {
        Credential::StaticToken(SecretString::from(token.into()))
    }

    /// `W365_ACCESS_TOKEN` as a static token, when set and not empty.
    pub fn static_token_from_env() -> Option<Self> {
        std::env::var("W365_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(Credential::static_token)
    }

    /// Resolves [`Credential::Environment`] from the process environment.
    pub fn from_environment() -> Result<Self> {
        Self::from_env_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Resolves the Azure Identity environment variables through `lookup` (testable without
    /// touching the process environment).
    pub fn from_env_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let missing = |name: &str| {
            Error::config(format!(
                "environment credential: {name} is not set (need AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                 AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH)"
            ))
        };
        let tenant_id = lookup("AZURE_TENANT_ID").ok_or_else(|| missing("AZURE_TENANT_ID"))?;
        let client_id = lookup("AZURE_CLIENT_ID").ok_or_else(|| missing("AZURE_CLIENT_ID"))?;
        if let Some(secret) = lookup("AZURE_CLIENT_SECRET") {
            return Ok(Credential::client_secret(tenant_id, client_id, secret));
        }
        if let Some(path) = lookup("AZURE_CLIENT_CERTIFICATE_PATH") {
            // PEM or PFX, as the Azure Identity libraries accept; a PFX may have a password.
            let password = lookup("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(SecretString::from);
            return Credential::certificate_any_file(
                tenant_id,
                client_id,
                std::path::Path::new(&path),
                password.as_ref(),
            );
        }
        Err(missing(
            "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
        ))
    }

    /// Short name used in errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret { .. } => "client secret",
            Credential::Certificate { .. } => "certificate",
            Credential::StaticToken(_) => "static token",
            Credential::Environment => "environment",
            Credential::ManagedIdentity { .. } => "managed identity",
            Credential::AzureCli => "Azure CLI",
        }
    }
}

/// Where tokens are requested: the authority host (as configured, possibly a loopback http URL)
/// and the Graph scope.
#[derive(Debug, Clone)]
pub(crate) struct AuthContext {
    pub authority: url::Url,
    pub scope: String,
}

/// A bearer token that is never refreshed.
pub(crate) struct StaticTokenCredential {
    token: SecretString,
}

impl fmt::Debug for StaticTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticTokenCredential([redacted])")
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn token(&self, _force_refresh: bool) -> Result<AccessToken> {
        Ok(AccessToken {
            token: self.token.clone(),
            // Unknown lifetime: the caller owns it; a 401 surfaces as an API error.
            expires_on: SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600),
        })
    }
}

/// Builds the credential chain for `credential` in `ctx`.
pub(crate) fn build(credential: Credential, ctx: &AuthContext) -> Result<Arc<dyn TokenCredential>> {
    let credential = match credential {
        Credential::Environment => Credential::from_environment()?,
        other => other,
    };
    match credential {
        Credential::StaticToken(token) => {
            if token.expose_secret().trim().is_empty() {
                return Err(Error::config("the static access token is empty"));
            }
            Ok(Arc::new(StaticTokenCredential { token }))
        }
        Credential::Certificate {
            tenant_id,
            client_id,
            certificate_pem,
            private_key_pem,
        } => {
            let assertion = certificate::CertificateAssertion::new(
                &certificate_pem,
                private_key_pem.as_ref(),
                &client_id,
                certificate::token_endpoint(&ctx.authority, &tenant_id)?,
            )?;
            let source = azure::AzureSource::certificate(ctx, tenant_id, client_id, assertion)?;
            Ok(Arc::new(CachedCredential::new(source)))
        }
        other => {
            let source = azure::AzureSource::new(other, ctx)?;
            Ok(Arc::new(CachedCredential::new(source)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let c = Credential::client_secret("t", "c", "super-secret-value");
        let text = format!("{c:?}");
        assert!(!text.contains("super-secret-value"), "{text}");
        let t = AccessToken::new("eyJ.token.value", SystemTime::now());
        assert!(!format!("{t:?}").contains("eyJ"));
        let s = Credential::static_token("eyJ.static");
        assert!(!format!("{s:?}").contains("eyJ"));
    }

    #[test]
    fn environment_prefers_secret_and_names_missing_vars() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Credential::from_env_lookup(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]))
        .unwrap();
        assert!(matches!(c, Credential::ClientSecret { .. }));
        let err = Credential::from_env_lookup(env(&[("AZURE_TENANT_ID", "t")])).unwrap_err();
        assert!(err.to_string().contains("AZURE_CLIENT_ID"), "{err}");
        let err = Credential::from_env_lookup(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/cert.pem"),
        ]))
        .unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{err}");
    }
}
