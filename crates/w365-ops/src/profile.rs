//! Tenant profiles: the config file's `[tenants.NAME]` tables, shared by every front end (the CLI,
//! the service's workers and its API), so a profile's defaults and allowed choices mean the same
//! thing whichever way an operation is started.
//!
//! ```toml
//! default_tenant = "contoso"
//!
//! [tenants.contoso]
//! tenant_id = "00000000-0000-0000-0000-000000000000"
//! client_id = "11111111-1111-1111-1111-111111111111"
//! client_secret_env = "W365_CONTOSO_SECRET"      # or client_secret_file = "/run/secrets/w365"
//! # certificate_file = "/etc/w365/contoso.pem"   # PEM with the certificate and its private key
//! # auth = "managed-identity" | "azure-cli" | "environment"
//! cloud = "global"                               # "us-government", "china", or { graph = "...", authority = "..." }
//! caller = "MSP Helpdesk"
//!
//! [tenants.contoso.assign]
//! license_group = "lic - Windows 365 Enterprise - 2 vCPU 8 GB 128 GB"
//!
//! [tenants.contoso.assign.allowed]
//! license_group = ["lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB", "lic - Windows 365 Enterprise - 2 vCPU 8 GB 128 GB"]
//! ```
//!
//! Secrets are referenced (environment variable, file), never written inline: an inline
//! `client_secret` is dropped unread while parsing and refused when the credential is resolved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use w365_graph::Cloud;
use w365_graph::auth::Credential;

use crate::assign::SANDBOX_TICKET_QUEUE;

/// A profile problem: what is wrong and what to do instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The profile cannot be used as it is (the message says what to change).
    #[error("{0}")]
    Invalid(String),
    #[error("could not read the config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {} is not valid", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
}

/// The config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when no tenant is named.
    pub default_tenant: Option<String>,
    #[serde(default)]
    pub tenants: BTreeMap<String, Profile>,
}

impl ConfigFile {
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ProfileError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }
}

/// One tenant's profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Tenant GUID or verified domain.
    pub tenant_id: Option<String>,
    /// The app registration's client id.
    pub client_id: Option<String>,
    /// Name of the environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// File holding the client secret (first line).
    pub client_secret_file: Option<PathBuf>,
    /// Refused: secrets are never read inline from the config file (the value is dropped unread).
    pub client_secret: Option<InlineSecret>,
    /// PEM file with the certificate and its private key (certificate credential).
    pub certificate_file: Option<PathBuf>,
    /// Explicit credential kind: secret, certificate, environment, managed-identity, azure-cli.
    pub auth: Option<String>,
    /// Graph cloud.
    pub cloud: Option<CloudSetting>,
    /// Who runs commands with this profile.
    pub caller: Option<String>,
    #[serde(default)]
    pub assign: AssignDefaults,
    /// Monthly price per SKU part number (`[tenants.NAME.prices]`, used by `reclaim`).
    #[serde(default)]
    pub prices: BTreeMap<String, f64>,
    /// `[tenants.NAME.reclaim]`: who `reclaim` never touches, and the currency of the prices.
    #[serde(default)]
    pub reclaim: ReclaimDefaults,
}

/// `[tenants.NAME.reclaim]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReclaimDefaults {
    /// UPNs whose Cloud PCs are never reclaimed.
    #[serde(default)]
    pub protected_users: Vec<String>,
    /// Groups (display name or id) whose members' Cloud PCs are never reclaimed.
    #[serde(default)]
    pub protected_groups: Vec<String>,
    /// Currency of `[tenants.NAME.prices]` (default: USD, the currency of the built-in prices).
    pub currency: Option<String>,
}

impl Profile {
    /// The sandbox's implicit profile: no credentials (the simulator signs in), and the runbook's
    /// ticket queue, which only the sandbox may default to.
    pub fn sandbox() -> Self {
        Self {
            assign: AssignDefaults {
                ticket_queue: Some(SANDBOX_TICKET_QUEUE.to_owned()),
                // The runbook's demo sender and customer id: sandbox defaults only.
                from_mailbox: Some(crate::assign::SANDBOX_FROM_MAILBOX.to_owned()),
                ticket_customer_id: Some(crate::assign::SANDBOX_TICKET_CUSTOMER_ID.to_owned()),
                ..AssignDefaults::default()
            },
            ..Self::default()
        }
    }

    /// The profile's default for an option (`[tenants.NAME.assign]` key), as JSON.
    pub fn default_for(&self, key: &str) -> Option<serde_json::Value> {
        let defaults = serde_json::to_value(&self.assign).ok()?;
        defaults.get(key).filter(|v| !v.is_null()).cloned()
    }

    /// The profile's allowed choices for an option (`[tenants.NAME.assign.allowed]` key).
    pub fn allowed_for(&self, key: &str) -> Option<&[String]> {
        let a = &self.assign.allowed;
        match key {
            "provisioning_group" => a.provisioning_group.as_deref(),
            "user_settings_group" => a.user_settings_group.as_deref(),
            "license_group" => a.license_group.as_deref(),
            _ => None,
        }
    }

    /// The Graph cloud of the profile.
    pub fn resolve_cloud(&self) -> Result<Cloud, ProfileError> {
        resolve_cloud(self.cloud.as_ref())
    }

    /// The credential of the profile `name` (reads the secret's variable or file, never inline).
    pub fn resolve_credential(&self, name: &str) -> Result<Credential, ProfileError> {
        resolve_credential(name, self)
    }
}

/// An inline secret found in the config file: its value is discarded while parsing, so it can
/// never reach Debug output, logs or errors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineSecret;

impl<'de> Deserialize<'de> for InlineSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| InlineSecret)
    }
}

impl std::fmt::Debug for InlineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `cloud = "global" | "us-government" | "china" | { graph = URL, authority = URL }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CloudSetting {
    Named(String),
    Custom { graph: String, authority: String },
}

/// `[tenants.NAME.assign]`: defaults for the operations' options, plus allowed choices.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssignDefaults {
    pub provisioning_group: Option<String>,
    pub user_settings_group: Option<String>,
    pub license_group: Option<String>,
    pub provisioning_group_prefix: Option<String>,
    pub user_settings_group_prefix: Option<String>,
    pub notify: Option<bool>,
    pub message_file: Option<PathBuf>,
    pub ticket_when_out_of_licenses: Option<bool>,
    pub ticket_queue: Option<String>,
    pub from_mailbox: Option<String>,
    pub ticket_customer_id: Option<String>,
    pub caller: Option<String>,
    /// e.g. "90m"
    pub wait_timeout: Option<String>,
    #[serde(default)]
    pub allowed: AllowedChoices,
}

/// Lists of allowed values for the group options (like the runbook's per-tenant selection lists).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedChoices {
    pub provisioning_group: Option<Vec<String>>,
    pub user_settings_group: Option<Vec<String>>,
    pub license_group: Option<Vec<String>>,
}

/// Resolves a `cloud` setting (none is the global cloud).
pub fn resolve_cloud(setting: Option<&CloudSetting>) -> Result<Cloud, ProfileError> {
    match setting {
        None => Ok(Cloud::Global),
        Some(CloudSetting::Named(name)) => match name.to_ascii_lowercase().as_str() {
            "global" | "public" | "azurecloud" => Ok(Cloud::Global),
            "us-government" | "usgovernment" | "gcc-high" | "usgov" => Ok(Cloud::UsGovernment),
            "china" | "azurechinacloud" => Ok(Cloud::China),
            other => Err(ProfileError::Invalid(format!(
                "unknown cloud '{other}' (use global, us-government, china, or {{ graph = URL, authority = URL }})"
            ))),
        },
        Some(CloudSetting::Custom { graph, authority }) => {
            let parse = |what: &str, text: &str| {
                url::Url::parse(text).map_err(|e| {
                    ProfileError::Invalid(format!("cloud.{what} '{text}' is not a URL: {e}"))
                })
            };
            Ok(Cloud::Custom {
                graph: parse("graph", graph)?,
                authority: parse("authority", authority)?,
            })
        }
    }
}

fn required<'a>(
    profile: &str,
    field: &str,
    value: Option<&'a String>,
) -> Result<&'a str, ProfileError> {
    value
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ProfileError::Invalid(format!("the tenant profile '{profile}' has no {field}"))
        })
}

/// Resolves the credential of the profile `name`.
pub fn resolve_credential(name: &str, p: &Profile) -> Result<Credential, ProfileError> {
    if p.client_secret.is_some() {
        return Err(ProfileError::Invalid(format!(
            "the tenant profile '{name}' has an inline client_secret; secrets are never read from the config file: \
             use client_secret_env = \"VARIABLE\" or client_secret_file = \"PATH\""
        )));
    }
    let kind = match p.auth.as_deref() {
        Some(kind) => kind.to_ascii_lowercase(),
        None if p.certificate_file.is_some() => "certificate".into(),
        None if p.client_secret_env.is_some() || p.client_secret_file.is_some() => "secret".into(),
        None => {
            return Err(ProfileError::Invalid(format!(
                "the tenant profile '{name}' names no credential: set client_secret_env, client_secret_file, \
                 certificate_file, or auth = \"managed-identity\" / \"azure-cli\" / \"environment\""
            )));
        }
    };
    match kind.as_str() {
        "secret" | "client-secret" => {
            let tenant_id = required(name, "tenant_id", p.tenant_id.as_ref())?.to_owned();
            let client_id = required(name, "client_id", p.client_id.as_ref())?.to_owned();
            let secret = if let Some(var) = &p.client_secret_env {
                std::env::var(var).ok().filter(|s| !s.is_empty()).ok_or_else(|| {
                    ProfileError::Invalid(format!(
                        "the tenant profile '{name}' reads its client secret from the environment variable {var}, which is not set"
                    ))
                })?
            } else if let Some(path) = &p.client_secret_file {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ProfileError::Invalid(format!(
                        "could not read the client secret file {} of the tenant profile '{name}': {e}",
                        path.display()
                    ))
                })?;
                text.lines().next().unwrap_or("").trim().to_owned()
            } else {
                return Err(ProfileError::Invalid(format!(
                    "the tenant profile '{name}' uses a client secret but sets neither client_secret_env nor client_secret_file"
                )));
            };
            if secret.is_empty() {
                return Err(ProfileError::Invalid(format!(
                    "the client secret of the tenant profile '{name}' is empty"
                )));
            }
            Ok(Credential::ClientSecret {
                tenant_id,
                client_id,
                secret: SecretString::from(secret),
            })
        }
        "certificate" => {
            let tenant_id = required(name, "tenant_id", p.tenant_id.as_ref())?.to_owned();
            let client_id = required(name, "client_id", p.client_id.as_ref())?.to_owned();
            let path = p.certificate_file.as_ref().ok_or_else(|| {
                ProfileError::Invalid(format!(
                    "the tenant profile '{name}' uses a certificate but has no certificate_file"
                ))
            })?;
            let pem = std::fs::read_to_string(path).map_err(|e| {
                ProfileError::Invalid(format!(
                    "could not read the certificate file {} of the tenant profile '{name}': {e}",
                    path.display()
                ))
            })?;
            Ok(Credential::Certificate {
                tenant_id,
                client_id,
                certificate_pem: SecretString::from(pem),
                private_key_pem: None,
            })
        }
        "environment" | "env" => Ok(Credential::Environment),
        "managed-identity" | "managedidentity" => Ok(Credential::ManagedIdentity {
            client_id: p.client_id.clone(),
        }),
        "azure-cli" | "azurecli" => Ok(Credential::AzureCli),
        other => Err(ProfileError::Invalid(format!(
            "the tenant profile '{name}' has an unknown auth '{other}' (secret, certificate, environment, managed-identity, azure-cli)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_allowed_choices_are_found_by_key() {
        let config = ConfigFile::parse(
            "[tenants.x.assign]\nlicense_group = \"lic - B\"\nnotify = true\n\
             [tenants.x.assign.allowed]\nlicense_group = [\"lic - A\", \"lic - B\"]\n",
        )
        .unwrap();
        let p = &config.tenants["x"];
        assert_eq!(p.default_for("license_group"), Some("lic - B".into()));
        assert_eq!(p.default_for("notify"), Some(true.into()));
        assert_eq!(p.default_for("ticket_queue"), None);
        assert_eq!(p.allowed_for("license_group").unwrap().len(), 2);
        assert!(p.allowed_for("provisioning_group").is_none());
        assert_eq!(
            Profile::sandbox().default_for("ticket_queue"),
            Some(SANDBOX_TICKET_QUEUE.into())
        );
    }
}
