//! `w365 serve`: the REST API (crate w365-server) plus job workers in one process.
//!
//! - `--sandbox`: the in-process simulator is both the tenant (named `sandbox`) and the operators'
//!   identity provider; jobs go to a SQLite file in the data directory. Prints the URL and how to
//!   sign in, and writes `serve.json` in the sandbox directory so `w365 sandbox token` can find
//!   the running simulator.
//! - Real tenants: `--server-config FILE` names the operators' Entra tenant and w365's API app
//!   registration, protected groups per tenant and operator tenant scopes; the tenants are the
//!   config file's profiles.
//! - SIGTERM/SIGINT: the HTTP server stops accepting, the workers hand running jobs back to the
//!   queue (another process or the next start finishes them), the sandbox state is saved.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use w365_jobs::{Worker, WorkerConfig};
use w365_ops::profile::Profile;
use w365_server::{AppState, AuthConfig, ServerConfig, Tenant, TenantScopes};
use w365_service::{HandlerOptions, OpsHandler};

use crate::commands::worker::{database_url, display_url};
use crate::connect::Sandbox;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::Settings;

const USER_AGENT: &str = concat!("w365/", env!("CARGO_PKG_VERSION"), " (serve)");

/// `w365 serve`
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 8365, value_name = "P")]
    pub port: u16,

    /// Address to listen on; anything but loopback also turns on HSTS (put TLS in front)
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: IpAddr,

    /// The job database: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB
    /// [default: sqlite://$XDG_DATA_HOME/w365/jobs.db?mode=rwc; the sandbox: a file in its directory]
    #[arg(long, env = "W365_DATABASE", value_name = "URL")]
    pub database: Option<String>,

    /// Jobs this process runs at once (0: serve the API only, with `w365 worker` processes elsewhere)
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
    pub workers: u16,

    /// Sign-in, protected groups and tenant scopes for real tenants (TOML; see the README)
    #[arg(long, env = "W365_SERVER_CONFIG", value_name = "FILE")]
    pub server_config: Option<PathBuf>,
}

/// The server config file (real tenants).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfigFile {
    pub auth: AuthSection,
    /// Per tenant profile name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantSection>,
    /// Operator (UPN or object id) → the tenant profiles they may work on.
    #[serde(default)]
    pub scopes: BTreeMap<String, Vec<String>>,
    /// The web portal's sign-in (its web app registration).
    #[serde(default)]
    pub portal: Option<PortalSection>,
}

/// `[portal]`: the web app the portal signs operators in with. The client secret is read from the
/// environment variable named by `client_secret_env` (default `W365_PORTAL_CLIENT_SECRET`), never
/// from the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSection {
    /// The web app's application (client) id; default: `[auth] api_client_id` (one app
    /// registration for the API and the portal).
    pub client_id: Option<String>,
    /// `https://HOST/signin/callback`, registered as a Web redirect URI on the app.
    pub redirect_uri: Option<String>,
    /// The environment variable holding the web app's client secret.
    pub client_secret_env: Option<String>,
}

/// The default variable of the portal's client secret.
pub const PORTAL_SECRET_ENV: &str = "W365_PORTAL_CLIENT_SECRET";

/// The portal's sign-in settings from `[portal]` (and the secret from the environment).
fn portal_config(cfg: &ServerConfigFile) -> anyhow::Result<w365_server::PortalConfig> {
    let section = cfg.portal.clone().unwrap_or_default();
    let client_id = section
        .client_id
        .unwrap_or_else(|| cfg.auth.api_client_id.clone());
    if !uuid_like(&client_id) {
        anyhow::bail!(
            "the server config: [portal] client_id must be the web app's application (client) id, a GUID"
        );
    }
    if let Some(uri) = &section.redirect_uri {
        let ok = url::Url::parse(uri).is_ok_and(|u| {
            u.path() == "/signin/callback"
                && (u.scheme() == "https"
                    || u.host_str()
                        .is_some_and(|h| h == "localhost" || h == "127.0.0.1"))
        });
        if !ok {
            anyhow::bail!(
                "the server config: [portal] redirect_uri '{uri}' must be https://YOUR-HOST/signin/callback (http only on localhost), as registered on the web app"
            );
        }
    }
    let var = section
        .client_secret_env
        .unwrap_or_else(|| PORTAL_SECRET_ENV.to_owned());
    let client_secret = std::env::var(&var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(secrecy::SecretString::from);
    Ok(w365_server::PortalConfig {
        client_id,
        client_secret,
        redirect_uri: section.redirect_uri,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// The operators' Entra tenant (GUID).
    pub tenant_id: String,
    /// The application (client) id of w365's API app registration.
    pub api_client_id: String,
    /// Default `https://login.microsoftonline.com`.
    pub login_host: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// Display names or object ids of protected (VIP) groups.
    #[serde(default)]
    pub protected_groups: Vec<String>,
}

/// What `w365 serve --sandbox` leaves in the sandbox directory while it runs (no secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxServerInfo {
    pub url: String,
    pub identity_provider: String,
    pub tenant_id: String,
    pub client_id: String,
    pub pid: u32,
}

impl SandboxServerInfo {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("serve.json")
    }
}

fn graph_client(
    cloud: w365_graph::Cloud,
    credential: w365_graph::auth::Credential,
) -> anyhow::Result<w365_graph::Client> {
    w365_graph::Client::builder()
        .cloud(cloud)
        .credential(credential)
        .user_agent(USER_AGENT)
        .build()
        .context("could not build a Graph client")
}

fn read_server_config(path: &Path) -> anyhow::Result<ServerConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the server config {}", path.display()))?;
    let cfg: ServerConfigFile = toml::from_str(&text).with_context(|| {
        format!(
            "the server config {} is not valid (see the README's \"w365 serve\" section)",
            path.display()
        )
    })?;
    if uuid_like(&cfg.auth.tenant_id) && uuid_like(&cfg.auth.api_client_id) {
        Ok(cfg)
    } else {
        anyhow::bail!(
            "the server config {}: [auth] tenant_id and api_client_id must be GUIDs (the operators' Entra tenant and w365's API app registration)",
            path.display()
        )
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

pub async fn run(
    settings: &Settings,
    args: &ServeArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let options = HandlerOptions::default();
    let mut handler = OpsHandler::new(settings.config.clone(), options);
    let mut tenants = Vec::new();
    let mut sandbox: Option<(Sandbox, PathBuf)> = None;
    let mut portal = None;
    let (auth, scopes, url) = if settings.sandbox {
        let dir = Settings::sandbox_dir()?;
        let sb = Sandbox::start(&dir).await?;
        let handle = sb.handle();
        // Sandboxes created before the operators existed get them now (idempotent).
        let now = handle.now();
        handle
            .with_state(|s| {
                s.default_tenant_mut()
                    .map(|t| w365_sim::oidc::seed_operators(t, now))
            })
            .transpose()
            .context("could not add the demo operators to the sandbox")?;
        let base = handle.base_url();
        let app = handle.admin_app();
        let cloud = w365_graph::Cloud::Custom {
            graph: base.clone(),
            authority: base.clone(),
        };
        let credential = w365_graph::auth::Credential::ClientSecret {
            tenant_id: handle.tenant_id(),
            client_id: app.client_id.clone(),
            secret: secrecy::SecretString::from(app.client_secret.clone()),
        };
        handler = handler.with_sandbox(cloud.clone(), credential.clone());
        tenants.push(
            Tenant::new(
                w365_service::SANDBOX,
                graph_client(cloud, credential)?,
                Profile::sandbox(),
            )
            .with_protected_groups(vec![w365_sim::oidc::VIP_GROUP.to_owned()]),
        );
        let auth = AuthConfig::new(handle.oidc_issuer(), w365_sim::oidc::W365_APP_ID);
        let url = args
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("jobs.db").display()));
        sandbox = Some((sb, dir));
        (auth, TenantScopes::default(), url)
    } else {
        let path = args.server_config.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "w365 serve needs --server-config FILE for real tenants (the operators' Entra tenant and w365's API app registration), or --sandbox to try it locally"
            )
        })?;
        let cfg = read_server_config(path)?;
        portal = Some(portal_config(&cfg)?);
        for name in cfg.tenants.keys().chain(cfg.scopes.values().flatten()) {
            if !settings.config.tenants.contains_key(name) {
                anyhow::bail!(
                    "the server config names the tenant '{name}', which is not a profile of the config file; add [tenants.{name}] to the config file or fix the name"
                );
            }
        }
        for (name, profile) in &settings.config.tenants {
            let cloud = profile.resolve_cloud()?;
            let credential = profile.resolve_credential(name)?;
            let protected = cfg
                .tenants
                .get(name)
                .map(|t| t.protected_groups.clone())
                .unwrap_or_default();
            tenants.push(
                Tenant::new(name, graph_client(cloud, credential)?, profile.clone())
                    .with_protected_groups(protected),
            );
        }
        let host = cfg
            .auth
            .login_host
            .as_deref()
            .unwrap_or("https://login.microsoftonline.com");
        let auth = AuthConfig::new(
            format!("{}/{}/v2.0", host.trim_end_matches('/'), cfg.auth.tenant_id),
            cfg.auth.api_client_id.clone(),
        );
        let mut scopes = TenantScopes::default();
        for (operator, allowed) in &cfg.scopes {
            let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
            scopes = scopes.limit(operator, &allowed);
        }
        (auth, scopes, database_url(args.database.as_deref())?)
    };
    let store = w365_jobs::connect(&url)
        .await
        .with_context(|| format!("could not open the job database {}", display_url(&url)))?;
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}; pick another --port"))?;
    let addr = listener.local_addr().context("no local address")?;
    let hsts = !addr.ip().is_loopback();
    let state = AppState::new(
        ServerConfig {
            auth,
            tenants,
            scopes,
            hsts,
        },
        store.clone(),
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(30))
            .build()
            .context("could not build the HTTP client")?,
    );
    let state = match portal {
        Some(portal) => state.with_portal(portal),
        None => state,
    };
    // /metrics counts the job runs' Graph traffic with the API's reads.
    let state = state.with_job_graph_stats(handler.graph_stats());
    let shown = if addr.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let worker = (args.workers > 0).then(|| {
        let id = format!("serve:{}", std::process::id());
        let config = WorkerConfig {
            id,
            concurrency: usize::from(args.workers),
            ..WorkerConfig::default()
        };
        let worker = Worker::new(store.clone(), Arc::new(handler), config);
        let rx = stop_rx.clone();
        tokio::spawn(async move { worker.run(wait(rx)).await })
    });
    let app = w365_server::router(state);
    let rx = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(wait(rx))
            .await
    });

    if let Some((sb, dir)) = &sandbox {
        let handle = sb.handle();
        let info = SandboxServerInfo {
            url: shown.clone(),
            identity_provider: handle.base_url().to_string(),
            tenant_id: handle.tenant_id(),
            client_id: w365_sim::oidc::W365_APP_ID.to_owned(),
            pid: std::process::id(),
        };
        std::fs::write(
            SandboxServerInfo::path(dir),
            serde_json::to_vec_pretty(&info)?,
        )
        .with_context(|| format!("could not write {}", SandboxServerInfo::path(dir).display()))?;
        let operators: Vec<String> = w365_sim::oidc::DEMO_OPERATORS
            .iter()
            .map(|o| format!("  {:<9} {} ({})", o.key, o.upn, o.role))
            .collect();
        printer.result(&format!(
            "w365 serve (sandbox) listening on {shown}\n\
             Portal: {shown}/  (helpdesk web portal: sign in, find a user, run operations)\n\
             API: {shown}/api/v1  (OpenAPI: {shown}/api/v1/openapi.json)\n\
             Tenant: sandbox (the simulated contoso tenant); protected group: {vip}\n\
             Sign in as a demo operator (the sandbox's identity provider at {idp}):\n{ops}\n\
             A token for scripts:  w365 sandbox token --role helpdesk\n\
             Stop with Ctrl-C (running jobs are handed back and resume on the next start).",
            vip = w365_sim::oidc::VIP_GROUP,
            idp = handle.base_url(),
            ops = operators.join("\n"),
        ));
    } else {
        printer.result(&format!(
            "w365 serve listening on {shown} ({} tenant profile(s), jobs in {}); stop with Ctrl-C",
            settings.config.tenants.len(),
            display_url(&url)
        ));
    }
    printer.json(&serde_json::json!({"command": "serve", "url": shown}));

    shutdown_signal().await;
    printer.note("stopping: no new requests; running jobs are handed back to the queue");
    let _ = stop_tx.send(true);
    if let Some(worker) = worker {
        worker
            .await
            .context("the worker task failed")?
            .context("the worker stopped on an error")?;
    }
    if tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .is_err()
    {
        printer.note("open connections (event streams) were closed after 10 s");
    }
    if let Some((sb, dir)) = sandbox {
        let _ = std::fs::remove_file(SandboxServerInfo::path(&dir));
        sb.finish().await?;
    }
    printer.note("w365 serve stopped");
    Ok(ExitStatus::Success)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `w365 sandbox token --role R`: signs in to the running sandbox server's identity provider as
/// the demo operator (authorization code + PKCE, the same flow a browser takes) and prints the
/// access token on the last line of stdout.
pub async fn sandbox_token(
    dir: &Path,
    role: &str,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = SandboxServerInfo::path(dir);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow::anyhow!(
            "no sandbox server is running ({} does not exist); start one with `w365 serve --sandbox` first",
            path.display()
        )
    })?;
    let info: SandboxServerInfo =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    let operator = w365_sim::oidc::demo_operator(role).ok_or_else(|| {
        anyhow::anyhow!("no demo operator '{role}': use reader, helpdesk or admin")
    })?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .timeout(Duration::from_secs(30))
        .build()?;
    let idp = info.identity_provider.trim_end_matches('/');
    let tid = &info.tenant_id;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = w365_sim::oidc::pkce_challenge(&verifier);
    let redirect = "http://127.0.0.1/w365-cli";
    let scope = format!("openid profile api://{}/access_as_user", info.client_id);
    let unreachable = |e: reqwest::Error| {
        anyhow::anyhow!(
            "the sandbox server's identity provider at {idp} does not answer ({e}); is `w365 serve --sandbox` still running?"
        )
    };
    let answer = http
        .post(format!("{idp}/{tid}/oauth2/v2.0/authorize"))
        .form(&[
            ("client_id", info.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", scope.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", operator.upn),
        ])
        .send()
        .await
        .map_err(unreachable)?;
    let code = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok())
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the sandbox identity provider refused the sign-in ({})",
                answer.status()
            )
        })?;
    let tokens: serde_json::Value = http
        .post(format!("{idp}/{tid}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", info.client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(unreachable)?
        .json()
        .await
        .map_err(unreachable)?;
    let token = tokens["access_token"].as_str().ok_or_else(|| {
        anyhow::anyhow!(
            "the sandbox identity provider issued no token: {}",
            tokens["error_description"]
        )
    })?;
    printer.note(&format!(
        "access token for {} ({}) at {}, valid for {} minutes:",
        operator.upn,
        operator.role,
        info.url,
        tokens["expires_in"].as_u64().unwrap_or(0) / 60
    ));
    // Printed in every output format: the token is the command's result.
    println!("{token}");
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "[auth]\ntenant_id = \"00000000-0000-0000-0000-000000000000\"\n\
                        api_client_id = \"11111111-1111-1111-1111-111111111111\"\n";

    #[test]
    fn portal_section_defaults_to_the_api_app_and_checks_the_redirect_uri() {
        let cfg: ServerConfigFile = toml::from_str(AUTH).expect("config");
        let portal = portal_config(&cfg).expect("portal");
        assert_eq!(portal.client_id, "11111111-1111-1111-1111-111111111111");
        assert_eq!(portal.redirect_uri, None);

        let cfg: ServerConfigFile = toml::from_str(&format!(
            "{AUTH}[portal]\nredirect_uri = \"https://w365.example.com/signin/callback\"\n\
             client_id = \"22222222-2222-2222-2222-222222222222\"\n\
             client_secret_env = \"W365_TEST_PORTAL_SECRET_UNSET\"\n"
        ))
        .expect("config");
        let portal = portal_config(&cfg).expect("portal");
        assert_eq!(portal.client_id, "22222222-2222-2222-2222-222222222222");
        assert!(portal.client_secret.is_none(), "the variable is not set");
        assert!(!format!("{portal:?}").contains("secret\": \""));

        for bad in [
            "http://w365.example.com/signin/callback",
            "https://w365.example.com/auth/callback",
            "not a url",
        ] {
            let cfg: ServerConfigFile =
                toml::from_str(&format!("{AUTH}[portal]\nredirect_uri = \"{bad}\"\n"))
                    .expect("config");
            let e = portal_config(&cfg).expect_err(bad).to_string();
            assert!(e.contains("/signin/callback"), "{e}");
        }
    }
}
