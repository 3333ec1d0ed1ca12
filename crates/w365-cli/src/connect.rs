//! Getting a Graph client: for a real tenant from its resolved settings, or for the sandbox by
//! starting the simulator in-process on a loopback port (the very same client, over HTTP).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use secrecy::SecretString;
use w365_graph::auth::Credential;
use w365_graph::{Client, Cloud};
use w365_sim::{SimConfig, SimHandle};

use crate::settings::Target;

const USER_AGENT: &str = concat!("w365/", env!("CARGO_PKG_VERSION"));

/// The exclusive lock on a sandbox directory, held for a whole command so that two commands
/// never load, change and save the same state at once (the second one would overwrite the
/// first one's changes). Released when dropped (or when the process ends, even by a crash: it
/// is an OS file lock, not a marker file).
#[derive(Debug)]
pub struct SandboxLock {
    _file: std::fs::File,
}

impl SandboxLock {
    /// The lock file inside the sandbox directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("sandbox.lock")
    }

    /// Takes the lock, waiting (with a message on stderr) while another w365 command holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the sandbox directory {}", dir.display()))?;
        let path = Self::path(dir);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("could not open the sandbox lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // `w365 serve --sandbox` holds the sandbox for as long as it runs: waiting would
                // never end, so say where the command can go instead.
                if let Ok(text) =
                    std::fs::read_to_string(crate::commands::serve::SandboxServerInfo::path(dir))
                    && let Ok(info) =
                        serde_json::from_str::<crate::commands::serve::SandboxServerInfo>(&text)
                {
                    return Err(crate::settings::SettingsError::Usage(format!(
                        "the sandbox is in use by `w365 serve` (process {}) at {}: send the command \
                         there with `--server {}`, or stop the server first",
                        info.pid, info.url, info.url
                    ))
                    .into());
                }
                eprintln!(
                    "waiting for another w365 command using the sandbox ({}) to finish…",
                    dir.display()
                );
                file.lock().with_context(|| {
                    format!("could not lock the sandbox lock file {}", path.display())
                })?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| {
                    format!("could not lock the sandbox lock file {}", path.display())
                });
            }
        }
        Ok(Self { _file: file })
    }
}

/// The sandbox simulator running in this process.
pub struct Sandbox {
    handle: SimHandle,
    state_file: PathBuf,
    outbox_before: usize,
    /// Held until the state is saved and the server stopped (declared last: dropped last).
    _lock: SandboxLock,
}

impl Sandbox {
    /// The state file inside the sandbox directory.
    pub fn state_file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Starts the sandbox (loading its state, or seeding contoso the first time). Holds the
    /// sandbox lock until [`Sandbox::finish`] (or drop): other w365 commands on the same sandbox
    /// wait meanwhile.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let owned = dir.to_owned();
        let lock = tokio::task::spawn_blocking(move || SandboxLock::acquire(&owned))
            .await
            .context("waiting for the sandbox lock failed")??;
        let state_file = Self::state_file(dir);
        let handle = w365_sim::spawn(SimConfig::sandbox(state_file.clone()))
            .await
            .context("could not start the sandbox simulator")?;
        let outbox_before = handle.outbox().len();
        Ok(Self {
            handle,
            state_file,
            outbox_before,
            _lock: lock,
        })
    }

    pub fn handle(&self) -> &SimHandle {
        &self.handle
    }

    pub fn state_file_path(&self) -> &Path {
        &self.state_file
    }

    /// A Graph client that signs in to the sandbox with its admin app (client secret flow).
    pub fn client(&self) -> anyhow::Result<Client> {
        let app = self.handle.admin_app();
        let base = self.handle.base_url();
        Client::builder()
            .cloud(Cloud::Custom {
                graph: base.clone(),
                authority: base,
            })
            .credential(Credential::ClientSecret {
                tenant_id: self.handle.tenant_id(),
                client_id: app.client_id.clone(),
                secret: SecretString::from(app.client_secret.clone()),
            })
            .user_agent(USER_AGENT)
            .build()
            .context("could not build the Graph client for the sandbox")
    }

    /// Mail sent since the sandbox started.
    pub fn new_mail(&self) -> Vec<w365_sim::SentMail> {
        self.handle
            .outbox()
            .into_iter()
            .skip(self.outbox_before)
            .collect()
    }

    /// Saves the state (atomically: a temporary file in the same directory, renamed over the
    /// state file), stops the server, then releases the lock.
    pub async fn finish(self) -> anyhow::Result<()> {
        let saved = self.handle.save().with_context(|| {
            format!(
                "could not save the sandbox state to {}",
                self.state_file.display()
            )
        });
        let lock = self._lock;
        self.handle.shutdown().await;
        drop(lock);
        saved
    }
}

/// A client plus whatever keeps it alive.
pub struct Connection {
    pub client: Client,
    /// "sandbox", a profile name, or "environment".
    pub target_name: String,
    pub sandbox: Option<Sandbox>,
}

impl Connection {
    pub async fn open(target: Target) -> anyhow::Result<Self> {
        match target {
            Target::Sandbox { dir } => {
                let sandbox = Sandbox::start(&dir).await?;
                let client = sandbox.client()?;
                Ok(Self {
                    client,
                    target_name: "sandbox".into(),
                    sandbox: Some(sandbox),
                })
            }
            Target::Tenant(tenant) => {
                let tenant = *tenant;
                // Every tenant command of w365 uses the Cloud PC APIs: say so before signing in.
                tenant
                    .cloud
                    .check_windows365()
                    .map_err(|e| crate::settings::SettingsError::Usage(e.to_string()))?;
                let client = Client::builder()
                    .cloud(tenant.cloud)
                    .credential(tenant.credential)
                    .user_agent(USER_AGENT)
                    .build()
                    .with_context(|| {
                        format!(
                            "could not build the Graph client for the tenant '{}'",
                            tenant.name
                        )
                    })?;
                Ok(Self {
                    client,
                    target_name: tenant.name,
                    sandbox: None,
                })
            }
        }
    }

    /// Saves the sandbox (if any) and stops it.
    pub async fn close(self) -> anyhow::Result<()> {
        match self.sandbox {
            Some(sandbox) => sandbox.finish().await,
            None => Ok(()),
        }
    }
}
