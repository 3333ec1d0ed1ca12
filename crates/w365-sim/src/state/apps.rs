//! App registrations of a tenant: the client applications that may ask the token endpoint for
//! an app-only Graph token, with the application permissions (`roles`) granted to them and the
//! credentials they prove their identity with.
//!
//! Secrets are stored only as salted SHA-256 hashes: the plaintext value is hashed in
//! [`AppRegistrations::add_secret`] and never kept, serialized or printed. Certificates are stored
//! as their PEM text plus what the token endpoint needs: the SHA-1 (`x5t`) and SHA-256
//! (`x5t#S256`) thumbprints of the DER bytes, the validity window and the public key.
//!
//! Deviation from the contract (§4): `add_secret` and `add_certificate` return
//! [`AppRegistrationError`] (this module's own error; sim-core maps it to its `StateError`).
//! `create_app` on an existing client id updates the display name and roles and keeps the
//! credentials (an upsert), so it can stay infallible as the contract asks.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::ObjectIdentifier;

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Why an app registration could not be changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppRegistrationError {
    /// No app with this client id is registered.
    #[error("no app registration with client id '{client_id}'")]
    UnknownApp { client_id: String },
    /// An empty string cannot be a client secret.
    #[error("a client secret must not be empty")]
    EmptySecret,
    /// The text is not a PEM-encoded X.509 certificate.
    #[error("the certificate is not a PEM-encoded X.509 certificate")]
    InvalidCertificate {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The certificate's key is neither RSA nor EC P-256/P-384.
    #[error(
        "unsupported certificate key algorithm {algorithm} (supported: RSA, EC P-256, EC P-384)"
    )]
    UnsupportedKey { algorithm: String },
}

/// The two thumbprints Entra ID matches a client assertion's `x5t` / `x5t#S256` header against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thumbprints {
    /// base64url (no padding) of the SHA-1 of the certificate DER: the `x5t` header value.
    pub x5t: String,
    /// base64url (no padding) of the SHA-256 of the certificate DER: the `x5t#S256` header value.
    pub x5t_s256: String,
    /// Upper-case hex SHA-1, as the Azure portal and Graph `keyCredentials` show it.
    pub sha1_hex: String,
}

/// The kind of public key a certificate carries, which decides the JWS algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CertKeyKind {
    Rsa,
    EcP256,
    EcP384,
}

impl CertKeyKind {
    /// The JWS `alg` values a key of this kind may verify.
    pub fn algorithms(self) -> &'static [Algorithm] {
        match self {
            CertKeyKind::Rsa => &[
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::RS384,
                Algorithm::PS384,
                Algorithm::RS512,
                Algorithm::PS512,
            ],
            CertKeyKind::EcP256 => &[Algorithm::ES256],
            CertKeyKind::EcP384 => &[Algorithm::ES384],
        }
    }
}

/// A salted SHA-256 hash of a client secret. The plaintext is never stored.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCredential {
    /// The credential's id (Graph `passwordCredential.keyId`).
    pub key_id: String,
    /// Random salt, base64.
    salt: String,
    /// SHA-256(salt || secret), base64.
    hash: String,
    /// When set, the secret stops working at this instant (AADSTS7000222).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl fmt::Debug for SecretCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCredential")
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl SecretCredential {
    fn new(secret: &str, expires_at: Option<OffsetDateTime>) -> Self {
        let salt: [u8; 16] = rand::random();
        SecretCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            salt: STANDARD.encode(salt),
            hash: STANDARD.encode(salted_hash(&salt, secret)),
            expires_at,
        }
    }

    /// Whether `secret` is this credential's value (constant-time comparison of the hashes).
    pub fn matches(&self, secret: &str) -> bool {
        let (Ok(salt), Ok(expected)) = (STANDARD.decode(&self.salt), STANDARD.decode(&self.hash))
        else {
            return false;
        };
        let actual = salted_hash(&salt, secret);
        expected.len() == actual.len()
            && expected
                .iter()
                .zip(actual.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn salted_hash(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// A certificate registered on an app (Graph `keyCredential` of type AsymmetricX509Cert).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCredential {
    pub key_id: String,
    /// The certificate as it was registered (public material only).
    pub certificate_pem: String,
    pub thumbprints: Thumbprints,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key_kind: CertKeyKind,
    /// The subjectPublicKey bits, base64: PKCS#1 RSAPublicKey for RSA, the SEC1 point for EC.
    public_key: String,
}

impl fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("key_id", &self.key_id)
            .field("thumbprints", &self.thumbprints)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_kind", &self.key_kind)
            .finish_non_exhaustive()
    }
}

impl CertificateCredential {
    /// Parses a PEM certificate (the first CERTIFICATE block of the text) and extracts
    /// thumbprints, validity and public key.
    pub fn from_pem(certificate_pem: &str) -> Result<Self, AppRegistrationError> {
        let invalid = |source: Box<dyn std::error::Error + Send + Sync>| {
            AppRegistrationError::InvalidCertificate { source }
        };
        // A bundle (e.g. private key + certificate in one file) is accepted: only the first
        // CERTIFICATE block is read and kept; nothing else of the text is stored.
        let blocks = pem::parse_many(certificate_pem.trim()).map_err(|e| invalid(Box::new(e)))?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| invalid("no CERTIFICATE block in the PEM text".into()))?;
        let der = block.contents();
        let cert = Certificate::from_der(der).map_err(|e| invalid(Box::new(e)))?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let key_kind = if spki.algorithm.oid == OID_RSA_ENCRYPTION {
            CertKeyKind::Rsa
        } else if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(c) if c == OID_P256 => CertKeyKind::EcP256,
                Some(c) if c == OID_P384 => CertKeyKind::EcP384,
                other => {
                    return Err(AppRegistrationError::UnsupportedKey {
                        algorithm: format!(
                            "EC curve {}",
                            other.map_or_else(|| "(none)".to_owned(), |c| c.to_string())
                        ),
                    });
                }
            }
        } else {
            return Err(AppRegistrationError::UnsupportedKey {
                algorithm: spki.algorithm.oid.to_string(),
            });
        };
        let public_key = spki.subject_public_key.raw_bytes();
        let to_time = |t: &x509_cert::time::Time| {
            let secs = t.to_unix_duration().as_secs();
            i64::try_from(secs)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| invalid("certificate validity is out of range".into()))
        };
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let sha256 = Sha256::digest(der);
        Ok(CertificateCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            certificate_pem: pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())),
            thumbprints: Thumbprints {
                x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
                x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
                sha1_hex: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
            },
            not_before: to_time(&tbs.validity.not_before)?,
            not_after: to_time(&tbs.validity.not_after)?,
            key_kind,
            public_key: STANDARD.encode(public_key),
        })
    }

    /// The key that verifies signatures made with this certificate's private key.
    pub fn decoding_key(&self) -> Option<DecodingKey> {
        let bytes = STANDARD.decode(&self.public_key).ok()?;
        Some(match self.key_kind {
            CertKeyKind::Rsa => DecodingKey::from_rsa_der(&bytes),
            CertKeyKind::EcP256 | CertKeyKind::EcP384 => DecodingKey::from_ec_der(&bytes),
        })
    }

    /// Whether the certificate is inside its validity window at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether an assertion header's `x5t#S256` or `x5t` names this certificate. Thumbprints
    /// are compared as base64url without padding; standard base64 (with `+`, `/`, `=`), which
    /// some libraries send (e.g. azure_identity's certificate credential), is accepted too.
    pub fn matches_thumbprint(&self, x5t_s256: Option<&str>, x5t: Option<&str>) -> bool {
        x5t_s256.is_some_and(|t| normalize_b64(t) == self.thumbprints.x5t_s256)
            || x5t.is_some_and(|t| normalize_b64(t) == self.thumbprints.x5t)
    }
}

/// Standard or url-safe base64, padded or not, as url-safe without padding.
fn normalize_b64(value: &str) -> String {
    value
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

/// One app registration (application object + its service principal in this tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRegistration {
    /// The application (client) id.
    pub client_id: String,
    pub display_name: String,
    /// Object id of the app's service principal: the `oid` claim of its tokens.
    pub service_principal_id: String,
    /// Granted application permissions by name (`User.Read.All`, ...): the `roles` claim.
    pub roles: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretCredential>,
    #[serde(default)]
    pub certificates: Vec<CertificateCredential>,
}

/// What the admin API may show of an app: no hashes, salts or key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    pub client_id: String,
    pub display_name: String,
    pub service_principal_id: String,
    pub roles: Vec<String>,
    pub secrets: Vec<SecretSummary>,
    pub certificates: Vec<CertificateSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSummary {
    pub key_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    pub key_id: String,
    pub thumbprints: Thumbprints,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key_kind: CertKeyKind,
}

/// The outcome of checking a presented client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    Valid,
    /// The secret matches a credential whose end date has passed.
    Expired,
    /// No credential of the app has this value.
    Invalid,
}

impl AppRegistration {
    /// Checks a presented secret against the stored hashes at virtual time `now`.
    pub fn check_secret(&self, secret: &str, now: OffsetDateTime) -> SecretCheck {
        match self.secrets.iter().find(|s| s.matches(secret)) {
            None => SecretCheck::Invalid,
            Some(s) if s.expires_at.is_some_and(|end| now >= end) => SecretCheck::Expired,
            Some(_) => SecretCheck::Valid,
        }
    }

    /// The app as the admin API shows it (no secret material).
    pub fn summary(&self) -> AppSummary {
        AppSummary {
            client_id: self.client_id.clone(),
            display_name: self.display_name.clone(),
            service_principal_id: self.service_principal_id.clone(),
            roles: self.roles.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|s| SecretSummary {
                    key_id: s.key_id.clone(),
                    expires_at: s.expires_at,
                })
                .collect(),
            certificates: self
                .certificates
                .iter()
                .map(|c| CertificateSummary {
                    key_id: c.key_id.clone(),
                    thumbprints: c.thumbprints.clone(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                    key_kind: c.key_kind,
                })
                .collect(),
        }
    }

    /// The certificate named by an assertion header's thumbprints.
    pub fn certificate_by_thumbprint(
        &self,
        x5t_s256: Option<&str>,
        x5t: Option<&str>,
    ) -> Option<&CertificateCredential> {
        self.certificates
            .iter()
            .find(|c| c.matches_thumbprint(x5t_s256, x5t))
    }
}

/// All app registrations of one tenant, keyed by client id (case-insensitive, as GUIDs are).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppRegistrations {
    apps: BTreeMap<String, AppRegistration>,
}

fn key(client_id: &str) -> String {
    client_id.trim().to_ascii_lowercase()
}

/// A stable service principal object id derived from the client id (keeps state deterministic).
fn service_principal_id(client_id: &str) -> String {
    let digest = Sha256::digest(format!("service-principal:{}", key(client_id)).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

impl AppRegistrations {
    /// Registers an app, or updates the display name and roles of an existing one (its
    /// credentials are kept).
    pub fn create_app(&mut self, client_id: String, display_name: &str, roles: Vec<String>) {
        let k = key(&client_id);
        match self.apps.get_mut(&k) {
            Some(app) => {
                app.display_name = display_name.to_owned();
                app.roles = roles;
            }
            None => {
                let app = AppRegistration {
                    service_principal_id: service_principal_id(&client_id),
                    client_id: client_id.trim().to_owned(),
                    display_name: display_name.to_owned(),
                    roles,
                    secrets: Vec::new(),
                    certificates: Vec::new(),
                };
                self.apps.insert(k, app);
            }
        }
    }

    /// Adds a client secret that never expires. Only a salted hash is stored.
    pub fn add_secret(
        &mut self,
        client_id: &str,
        secret: &str,
    ) -> Result<(), AppRegistrationError> {
        self.add_secret_expiring(client_id, secret, None)
            .map(|_| ())
    }

    /// Adds a client secret ending at `expires_at`; returns the credential's key id.
    pub fn add_secret_expiring(
        &mut self,
        client_id: &str,
        secret: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<String, AppRegistrationError> {
        if secret.is_empty() {
            return Err(AppRegistrationError::EmptySecret);
        }
        let app = self.get_mut(client_id)?;
        let credential = SecretCredential::new(secret, expires_at);
        let key_id = credential.key_id.clone();
        app.secrets.push(credential);
        Ok(key_id)
    }

    /// Registers a certificate (PEM) on the app. Registering the same certificate twice keeps
    /// one credential.
    pub fn add_certificate(
        &mut self,
        client_id: &str,
        certificate_pem: &str,
    ) -> Result<Thumbprints, AppRegistrationError> {
        let credential = CertificateCredential::from_pem(certificate_pem)?;
        let app = self.get_mut(client_id)?;
        let thumbprints = credential.thumbprints.clone();
        if !app
            .certificates
            .iter()
            .any(|c| c.thumbprints == thumbprints)
        {
            app.certificates.push(credential);
        }
        Ok(thumbprints)
    }

    /// The app with this client id.
    pub fn get(&self, client_id: &str) -> Option<&AppRegistration> {
        self.apps.get(&key(client_id))
    }

    /// Removes an app; returns whether it existed.
    pub fn remove(&mut self, client_id: &str) -> bool {
        self.apps.remove(&key(client_id)).is_some()
    }

    /// All apps, ordered by client id.
    pub fn iter(&self) -> impl Iterator<Item = &AppRegistration> {
        self.apps.values()
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    fn get_mut(&mut self, client_id: &str) -> Result<&mut AppRegistration, AppRegistrationError> {
        self.apps
            .get_mut(&key(client_id))
            .ok_or_else(|| AppRegistrationError::UnknownApp {
                client_id: client_id.to_owned(),
            })
    }
}
