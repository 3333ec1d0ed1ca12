//! Settings: flags > environment > config profile > built-in defaults, resolved once, uv-style,
//! before any work starts. Commands only see the resolved values.
//!
//! The config file (`$XDG_CONFIG_HOME/w365/config.toml`, or `--config`/`W365_CONFIG`) holds one
//! profile per tenant. Secrets are referenced, never written inline:
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
//! ticket_when_out_of_licenses = true
//! ticket_queue = "tickets@msp.example"
//! from_mailbox = "automation@contoso.com"
//! ticket_customer_id = "CONTOSO"
//!
//! [tenants.contoso.assign.allowed]
//! license_group = ["lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB", "lic - Windows 365 Enterprise - 2 vCPU 8 GB 128 GB"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;
use w365_graph::Cloud;
use w365_graph::auth::Credential;
use w365_ops::Waits;
use w365_ops::assign::{AssignOptions, SANDBOX_TICKET_QUEUE};

use crate::cli::{AssignArgs, GlobalArgs, parse_duration};

/// A settings problem. `Usage` exits with 2, `Refused` with 11.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Refused(String),
    #[error("could not read the config file {}", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {} is not valid", path.display())]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
}

impl SettingsError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SettingsError::ConfigParse { .. } => {
                Some("see `w365 --help` and the README for the config file format".into())
            }
            _ => None,
        }
    }
}

/// The config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when no --tenant is given.
    pub default_tenant: Option<String>,
    #[serde(default)]
    pub tenants: BTreeMap<String, Profile>,
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

/// `[tenants.NAME.assign]`: defaults for every assign option, plus allowed choices.
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedChoices {
    pub provisioning_group: Option<Vec<String>>,
    pub user_settings_group: Option<Vec<String>>,
    pub license_group: Option<Vec<String>>,
}

/// The directory where w365 keeps its configuration.
pub fn config_dir() -> Option<PathBuf> {
    env_path("XDG_CONFIG_HOME")
        .or_else(|| env_path("APPDATA"))
        .or_else(|| home().map(|h| h.join(".config")))
        .map(|d| d.join("w365"))
}

/// The directory where w365 keeps data (the sandbox state).
pub fn data_dir() -> Option<PathBuf> {
    env_path("XDG_DATA_HOME")
        .or_else(|| env_path("LOCALAPPDATA"))
        .or_else(|| home().map(|h| h.join(".local").join("share")))
        .map(|d| d.join("w365"))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn home() -> Option<PathBuf> {
    env_path("HOME").or_else(|| env_path("USERPROFILE"))
}

impl ConfigFile {
    /// Loads the config file; a missing default file is an empty config, a missing explicit one an error.
    pub fn load(explicit: Option<&Path>) -> Result<(Self, Option<PathBuf>), SettingsError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match config_dir() {
                Some(dir) => dir.join("config.toml"),
                None => return Ok((Self::default(), None)),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                return Ok((Self::default(), None));
            }
            Err(source) => return Err(SettingsError::ConfigRead { path, source }),
        };
        let config = Self::parse(&text).map_err(|source| SettingsError::ConfigParse {
            path: path.clone(),
            source: Box::new(source),
        })?;
        Ok((config, Some(path)))
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Where commands run.
#[derive(Debug)]
pub enum Target {
    /// The in-process sandbox simulator; state kept in `dir`.
    Sandbox { dir: PathBuf },
    /// A real tenant (or any Graph endpoint a profile points to).
    Tenant(Box<TenantSettings>),
}

/// A resolved tenant connection.
#[derive(Debug)]
pub struct TenantSettings {
    /// Profile name, or "environment".
    pub name: String,
    pub cloud: Cloud,
    pub credential: Credential,
    pub profile: Profile,
}

/// The global settings.
#[derive(Debug)]
pub struct Settings {
    pub sandbox: bool,
    pub tenant: Option<String>,
    pub config: ConfigFile,
    pub config_path: Option<PathBuf>,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> Result<Self, SettingsError> {
        let (config, config_path) = ConfigFile::load(global.config.as_deref())?;
        Ok(Self {
            sandbox: global.sandbox,
            tenant: global.tenant.clone(),
            config,
            config_path,
        })
    }

    /// The sandbox state directory (`$W365_SANDBOX_DIR`, else `$XDG_DATA_HOME/w365/sandbox`).
    pub fn sandbox_dir() -> Result<PathBuf, SettingsError> {
        if let Some(dir) = env_path("W365_SANDBOX_DIR") {
            return Ok(dir);
        }
        data_dir()
            .map(|d| d.join("sandbox"))
            .ok_or_else(|| {
                SettingsError::Usage(
                    "cannot find a data directory for the sandbox: set XDG_DATA_HOME or W365_SANDBOX_DIR"
                        .into(),
                )
            })
    }

    /// The name of the tenant a command would run against, for error documents: "sandbox", the
    /// profile name, or none when it is not known without resolving credentials.
    pub fn target_label(&self) -> Option<String> {
        if self.sandbox {
            return Some("sandbox".into());
        }
        self.tenant
            .clone()
            .or_else(|| self.config.default_tenant.clone())
    }

    /// Resolves where a tenant command runs.
    pub fn target(&self) -> Result<Target, SettingsError> {
        if self.sandbox {
            return Ok(Target::Sandbox {
                dir: Self::sandbox_dir()?,
            });
        }
        let name = self
            .tenant
            .clone()
            .or_else(|| self.config.default_tenant.clone());
        if let Some(name) = name {
            let Some(profile) = self.config.tenants.get(&name) else {
                let known: Vec<&str> = self.config.tenants.keys().map(String::as_str).collect();
                return Err(SettingsError::Usage(format!(
                    "no tenant profile named '{name}' in {} (known: {})",
                    self.config_path
                        .as_deref()
                        .map_or_else(|| "the config file".to_owned(), |p| p.display().to_string()),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            return Ok(Target::Tenant(Box::new(TenantSettings {
                name: name.clone(),
                cloud: resolve_cloud(profile.cloud.as_ref())?,
                credential: resolve_credential(&name, profile)?,
                profile: profile.clone(),
            })));
        }
        let has = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
        if has("AZURE_TENANT_ID")
            && has("AZURE_CLIENT_ID")
            && (has("AZURE_CLIENT_SECRET") || has("AZURE_CLIENT_CERTIFICATE_PATH"))
        {
            // AZURE_AUTHORITY_HOST names a national cloud, as for the Azure Identity libraries.
            let cloud = match std::env::var("AZURE_AUTHORITY_HOST") {
                Ok(host) if !host.trim().is_empty() => Cloud::from_authority_host(&host)
                    .map_err(|e| SettingsError::Usage(e.to_string()))?,
                _ => Cloud::Global,
            };
            return Ok(Target::Tenant(Box::new(TenantSettings {
                name: "environment".into(),
                cloud,
                credential: Credential::Environment,
                profile: Profile::default(),
            })));
        }
        if let Ok(token) = std::env::var("W365_ACCESS_TOKEN")
            && !token.trim().is_empty()
        {
            return Ok(Target::Tenant(Box::new(TenantSettings {
                name: "W365_ACCESS_TOKEN".into(),
                cloud: Cloud::Global,
                credential: Credential::StaticToken(SecretString::from(token.trim().to_owned())),
                profile: Profile::default(),
            })));
        }
        Err(SettingsError::Usage(
            "no tenant configured: pass --tenant NAME (a profile in $XDG_CONFIG_HOME/w365/config.toml), \
             set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or try the local sandbox with --sandbox"
                .into(),
        ))
    }
}

fn resolve_cloud(setting: Option<&CloudSetting>) -> Result<Cloud, SettingsError> {
    match setting {
        None => Ok(Cloud::Global),
        Some(CloudSetting::Named(name)) => match name.to_ascii_lowercase().as_str() {
            "global" | "public" | "azurecloud" => Ok(Cloud::Global),
            "us-government" | "usgovernment" | "gcc-high" | "usgov" => Ok(Cloud::UsGovernment),
            "china" | "azurechinacloud" => Ok(Cloud::China),
            other => Err(SettingsError::Usage(format!(
                "unknown cloud '{other}' (use global, us-government, china, or {{ graph = URL, authority = URL }})"
            ))),
        },
        Some(CloudSetting::Custom { graph, authority }) => {
            let parse = |what: &str, text: &str| {
                Url::parse(text).map_err(|e| {
                    SettingsError::Usage(format!("cloud.{what} '{text}' is not a URL: {e}"))
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
) -> Result<&'a str, SettingsError> {
    value
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            SettingsError::Usage(format!("the tenant profile '{profile}' has no {field}"))
        })
}

fn resolve_credential(name: &str, p: &Profile) -> Result<Credential, SettingsError> {
    if p.client_secret.is_some() {
        return Err(SettingsError::Usage(format!(
            "the tenant profile '{name}' has an inline client_secret; secrets are never read from the config file: \
             use client_secret_env = \"VARIABLE\" or client_secret_file = \"PATH\""
        )));
    }
    let kind = match p.auth.as_deref() {
        Some(kind) => kind.to_ascii_lowercase(),
        None if p.certificate_file.is_some() => "certificate".into(),
        None if p.client_secret_env.is_some() || p.client_secret_file.is_some() => "secret".into(),
        None => {
            return Err(SettingsError::Usage(format!(
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
                    SettingsError::Usage(format!(
                        "the tenant profile '{name}' reads its client secret from the environment variable {var}, which is not set"
                    ))
                })?
            } else if let Some(path) = &p.client_secret_file {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    SettingsError::Usage(format!(
                        "could not read the client secret file {} of the tenant profile '{name}': {e}",
                        path.display()
                    ))
                })?;
                text.lines().next().unwrap_or("").trim().to_owned()
            } else {
                return Err(SettingsError::Usage(format!(
                    "the tenant profile '{name}' uses a client secret but sets neither client_secret_env nor client_secret_file"
                )));
            };
            if secret.is_empty() {
                return Err(SettingsError::Usage(format!(
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
                SettingsError::Usage(format!(
                    "the tenant profile '{name}' uses a certificate but has no certificate_file"
                ))
            })?;
            let pem = std::fs::read_to_string(path).map_err(|e| {
                SettingsError::Usage(format!(
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
        other => Err(SettingsError::Usage(format!(
            "the tenant profile '{name}' has an unknown auth '{other}' (secret, certificate, environment, managed-identity, azure-cli)"
        ))),
    }
}

impl Target {
    /// The tenant profile (none in the sandbox).
    pub fn profile(&self) -> Option<&Profile> {
        match self {
            Target::Tenant(t) => Some(&t.profile),
            Target::Sandbox { .. } => None,
        }
    }

    /// The waits for this target (see [`waits`]).
    pub fn waits(&self) -> Waits {
        waits(matches!(self, Target::Sandbox { .. }))
    }
}

/// Waits: fast in the sandbox, realistic for a tenant. `W365_POLL_INTERVAL_MS` overrides the
/// polling interval of every wait (simulators and tests; not needed against a real tenant).
/// The one home of that override, for every command.
pub fn waits(sandbox: bool) -> Waits {
    let mut waits = if sandbox {
        Waits::sandbox()
    } else {
        Waits::realistic()
    };
    if let Some(ms) = std::env::var("W365_POLL_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
    {
        let every = std::time::Duration::from_millis(ms);
        for p in [
            &mut waits.memberships,
            &mut waits.license,
            &mut waits.cloud_pc_appears,
            &mut waits.provisioning,
        ] {
            p.initial_interval = every;
            p.max_interval = every;
            p.first_check_after = p.first_check_after.min(every);
        }
    }
    waits
}

/// The OS user running the command.
fn os_user() -> Option<String> {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
}

fn check_allowed(
    option: &str,
    value: &str,
    allowed: Option<&Vec<String>>,
) -> Result<(), SettingsError> {
    let Some(allowed) = allowed else {
        return Ok(());
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        return Ok(());
    }
    Err(SettingsError::Refused(format!(
        "{option} '{value}' is not one of the profile's allowed choices: {}",
        allowed
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Resolves `assign`'s options: flag (or its environment variable) > profile > runbook default.
pub fn resolve_assign(
    args: &AssignArgs,
    profile: Option<&Profile>,
    sandbox: bool,
) -> Result<AssignOptions, SettingsError> {
    let empty = Profile::default();
    let profile = profile.unwrap_or(&empty);
    let d = &profile.assign;
    let caller = args
        .caller
        .clone()
        .or_else(|| d.caller.clone())
        .or_else(|| profile.caller.clone())
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into());
    let mut o = AssignOptions::new(args.user.trim(), caller);
    let pick = |flag: &Option<String>, profile: &Option<String>, default: &mut String| {
        if let Some(v) = flag.clone().or_else(|| profile.clone()) {
            *default = v;
        }
    };
    pick(
        &args.provisioning_group,
        &d.provisioning_group,
        &mut o.provisioning_group,
    );
    pick(
        &args.user_settings_group,
        &d.user_settings_group,
        &mut o.user_settings_group,
    );
    pick(&args.license_group, &d.license_group, &mut o.license_group);
    pick(
        &args.provisioning_group_prefix,
        &d.provisioning_group_prefix,
        &mut o.provisioning_group_prefix,
    );
    pick(
        &args.user_settings_group_prefix,
        &d.user_settings_group_prefix,
        &mut o.user_settings_group_prefix,
    );
    o.from_mailbox = args.from_mailbox.clone().or_else(|| d.from_mailbox.clone());
    o.ticket_customer_id = args
        .ticket_customer_id
        .clone()
        .or_else(|| d.ticket_customer_id.clone());
    // The runbook's demo sender and customer id are sandbox defaults only: against a real tenant
    // mails and tickets need them set explicitly (flag or profile).
    if sandbox {
        o = o.with_sandbox_defaults();
    }

    o.notify = if args.notify {
        true
    } else if args.no_notify {
        false
    } else {
        d.notify.unwrap_or(false)
    };
    o.ticket_when_out_of_licenses = if args.ticket_when_out_of_licenses {
        true
    } else if args.no_ticket_when_out_of_licenses {
        false
    } else {
        d.ticket_when_out_of_licenses.unwrap_or(false)
    };
    // A ticket never goes to a third party by default: only the sandbox has a default queue.
    o.ticket_queue = args
        .ticket_queue
        .clone()
        .or_else(|| d.ticket_queue.clone())
        .or_else(|| sandbox.then(|| SANDBOX_TICKET_QUEUE.to_owned()));

    let message_file = args.message_file.as_ref().or(d.message_file.as_ref());
    o.custom_message = match (&args.message, message_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
            SettingsError::Usage(format!(
                "could not read the message file {}: {e}",
                path.display()
            ))
        })?),
        (None, None) => None,
    };
    o.dry_run = args.dry_run;

    o.waits = waits(sandbox);
    let timeout = match (args.wait_timeout, d.wait_timeout.as_deref()) {
        (Some(t), _) => Some(t),
        (None, Some(text)) => Some(parse_duration(text).map_err(|e| {
            SettingsError::Usage(format!("wait_timeout in the tenant profile: {e}"))
        })?),
        (None, None) => None,
    };
    if let Some(timeout) = timeout {
        o.waits.provisioning = o.waits.provisioning.with_timeout(timeout);
        let appears = o.waits.cloud_pc_appears.timeout.min(timeout);
        o.waits.cloud_pc_appears = o.waits.cloud_pc_appears.with_timeout(appears);
    }

    check_allowed(
        "--provisioning-group",
        &o.provisioning_group,
        d.allowed.provisioning_group.as_ref(),
    )?;
    check_allowed(
        "--user-settings-group",
        &o.user_settings_group,
        d.allowed.user_settings_group.as_ref(),
    )?;
    check_allowed(
        "--license-group",
        &o.license_group,
        d.allowed.license_group.as_ref(),
    )?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn assign_args(argv: &[&str]) -> AssignArgs {
        let mut full = vec!["w365", "assign"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Assign(a) => a,
            _ => unreachable!(),
        }
    }

    const CONFIG: &str = r#"
default_tenant = "fabrikam"
[tenants.fabrikam]
tenant_id = "fabrikam.onmicrosoft.com"
client_id = "11111111-1111-1111-1111-111111111111"
client_secret_env = "W365_TEST_SECRET_THAT_IS_NOT_SET"
cloud = "us-government"
caller = "Helpdesk"
[tenants.fabrikam.assign]
license_group = "lic - B"
notify = true
ticket_queue = "tickets@msp.example"
[tenants.fabrikam.assign.allowed]
license_group = ["lic - A", "lic - B"]
"#;

    #[test]
    fn flags_beat_profile_beat_defaults() {
        let config = ConfigFile::parse(CONFIG).unwrap();
        let profile = &config.tenants["fabrikam"];
        let o = resolve_assign(&assign_args(&["u@f.com"]), Some(profile), false).unwrap();
        assert_eq!(o.license_group, "lic - B");
        assert!(o.notify);
        assert_eq!(o.caller, "Helpdesk");
        assert_eq!(o.ticket_queue.as_deref(), Some("tickets@msp.example"));
        assert_eq!(
            o.provisioning_group,
            "cfg - Windows 365 - Provisioning - Win11"
        );

        let o = resolve_assign(
            &assign_args(&[
                "u@f.com",
                "--license-group",
                "lic - A",
                "--no-notify",
                "--caller",
                "Eve",
            ]),
            Some(profile),
            false,
        )
        .unwrap();
        assert_eq!(o.license_group, "lic - A");
        assert!(!o.notify);
        assert_eq!(o.caller, "Eve");
    }

    #[test]
    fn values_outside_the_allowed_list_are_refused() {
        let config = ConfigFile::parse(CONFIG).unwrap();
        let err = resolve_assign(
            &assign_args(&["u@f.com", "--license-group", "lic - C"]),
            Some(&config.tenants["fabrikam"]),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, SettingsError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains("'lic - A', 'lic - B'"));
    }

    #[test]
    fn ticket_queue_defaults_only_in_the_sandbox() {
        let args = assign_args(&["u@contoso.com", "--ticket-when-out-of-licenses"]);
        let real = resolve_assign(&args, None, false).unwrap();
        assert_eq!(real.ticket_queue, None);
        assert!(
            real.validate().is_err(),
            "a real tenant must name its queue"
        );
        let sandbox = resolve_assign(&args, None, true).unwrap();
        assert_eq!(sandbox.ticket_queue.as_deref(), Some(SANDBOX_TICKET_QUEUE));
        sandbox.validate().unwrap();
    }

    #[test]
    fn inline_secrets_and_unknown_keys_are_refused() {
        let config = ConfigFile::parse(
            "[tenants.x]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"hunter2\"\n",
        )
        .unwrap();
        let err = resolve_credential("x", &config.tenants["x"]).unwrap_err();
        assert!(err.to_string().contains("client_secret_env"));
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(ConfigFile::parse("[tenants.x]\nbogus = 1\n").is_err());
    }

    #[test]
    fn missing_secret_variable_is_a_usage_error() {
        let config = ConfigFile::parse(CONFIG).unwrap();
        let err = resolve_credential("fabrikam", &config.tenants["fabrikam"]).unwrap_err();
        assert!(err.to_string().contains("W365_TEST_SECRET_THAT_IS_NOT_SET"));
    }

    #[test]
    fn clouds() {
        assert!(matches!(resolve_cloud(None), Ok(Cloud::Global)));
        assert!(matches!(
            resolve_cloud(Some(&CloudSetting::Named("us-government".into()))),
            Ok(Cloud::UsGovernment)
        ));
        assert!(resolve_cloud(Some(&CloudSetting::Named("mars".into()))).is_err());
    }
}
