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

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use w365_graph::Cloud;
use w365_graph::auth::Credential;
use w365_ops::Waits;
use w365_ops::assign::AssignOptions;

use crate::cli::{AssignArgs, GlobalArgs};

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

// The profile types live in w365-ops so that the service (workers, API) reads the same profiles.
pub use w365_ops::profile::{CloudSetting, ConfigFile, Profile, ProfileError};

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

/// Loads the config file; a missing default file is an empty config, a missing explicit one an error.
pub fn load_config(
    explicit: Option<&Path>,
) -> Result<(ConfigFile, Option<PathBuf>), SettingsError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match config_dir() {
            Some(dir) => dir.join("config.toml"),
            None => return Ok((ConfigFile::default(), None)),
        },
    };
    if explicit.is_none() && !path.exists() {
        return Ok((ConfigFile::default(), None));
    }
    let config = ConfigFile::read(&path).map_err(|e| match e {
        ProfileError::Read { path, source } => SettingsError::ConfigRead { path, source },
        ProfileError::Parse { path, source } => SettingsError::ConfigParse { path, source },
        other => SettingsError::Usage(other.to_string()),
    })?;
    Ok((config, Some(path)))
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
        let (config, config_path) = load_config(global.config.as_deref())?;
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
    w365_ops::profile::resolve_cloud(setting).map_err(|e| SettingsError::Usage(e.to_string()))
}

fn resolve_credential(name: &str, p: &Profile) -> Result<Credential, SettingsError> {
    w365_ops::profile::resolve_credential(name, p).map_err(|e| SettingsError::Usage(e.to_string()))
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
            p.second_check_after = p.second_check_after.min(every);
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

/// Resolves `assign`'s options: flag (or its environment variable) > profile > runbook default.
/// The values go through the operation's declaration ([`w365_ops::spec::validate`]), the same
/// check the service applies to a job: every problem is reported at once.
pub fn resolve_assign(
    args: &AssignArgs,
    profile: Option<&Profile>,
    sandbox: bool,
) -> Result<AssignOptions, SettingsError> {
    let implicit = if sandbox {
        Profile::sandbox()
    } else {
        Profile::default()
    };
    let profile = profile.unwrap_or(&implicit);
    let d = &profile.assign;
    let message_file = args.message_file.as_ref().or(d.message_file.as_ref());
    let message = match (&args.message, message_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
            SettingsError::Usage(format!(
                "could not read the message file {}: {e}",
                path.display()
            ))
        })?),
        (None, None) => None,
    };
    let values = crate::ops_spec::assign_values(args, message);
    let input = crate::ops_spec::validate("assign", &values, profile)?;
    let caller = args
        .caller
        .clone()
        .or_else(|| d.caller.clone())
        .or_else(|| profile.caller.clone())
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into());
    let mut o = input.assign_options(caller);
    o.dry_run = args.dry_run;

    o.waits = waits(sandbox);
    input.apply_wait_timeout(&mut o.waits);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use w365_ops::assign::SANDBOX_TICKET_QUEUE;

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
        let err = resolve_assign(&args, None, false).unwrap_err();
        assert!(
            matches!(&err, SettingsError::Refused(m) if m.contains("ticketQueue") && m.contains("--ticket-queue")),
            "a real tenant must name its queue: {err:?}"
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
