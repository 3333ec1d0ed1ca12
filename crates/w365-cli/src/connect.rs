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

/// The sandbox simulator running in this process.
pub struct Sandbox {
    handle: SimHandle,
    state_file: PathBuf,
    outbox_before: usize,
}

impl Sandbox {
    /// The state file inside the sandbox directory.
    pub fn state_file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Starts the sandbox (loading its state, or seeding contoso the first time).
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the sandbox directory {}", dir.display()))?;
        let state_file = Self::state_file(dir);
        let handle = w365_sim::spawn(SimConfig::sandbox(state_file.clone()))
            .await
            .context("could not start the sandbox simulator")?;
        let outbox_before = handle.outbox().len();
        Ok(Self {
            handle,
            state_file,
            outbox_before,
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

    /// Saves the state and stops the server.
    pub async fn finish(self) -> anyhow::Result<()> {
        let saved = self.handle.save().with_context(|| {
            format!(
                "could not save the sandbox state to {}",
                self.state_file.display()
            )
        });
        self.handle.shutdown().await;
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
