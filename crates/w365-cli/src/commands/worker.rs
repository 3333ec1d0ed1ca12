//! `w365 worker`: runs job workers without the HTTP server (scale-out). Every worker process on
//! one database takes jobs from it; a job is run by exactly one worker at a time (leases with
//! fencing), and a job whose worker died is taken over once its lease expires.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use w365_jobs::{Worker, WorkerConfig};
use w365_ops::resume::ResumeOptions;
use w365_service::{HandlerOptions, OpsHandler};

use crate::cli::parse_duration;
use crate::connect::Sandbox;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, SettingsError, data_dir};

/// `w365 worker`
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The job database: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB
    /// [default: sqlite://$XDG_DATA_HOME/w365/jobs.db?mode=rwc]
    #[arg(long, env = "W365_DATABASE", value_name = "URL")]
    pub database: Option<String>,

    /// Jobs this process runs at once
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,

    /// Lease of a running job; another worker takes the job over this long after this one dies
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_short_duration)]
    pub lease: Duration,

    /// How often to look for jobs when nothing wakes the worker
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_short_duration)]
    pub poll: Duration,

    /// A wait checks this long before the job parks (0 parks after one check)
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration_or_zero)]
    pub inline_wait: Duration,
}

/// A duration as for other flags, plus milliseconds (`250ms`) and `0`.
fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    parse_short_duration(t)
}

/// A duration as for other flags, plus milliseconds (`250ms`).
fn parse_short_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return match ms.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
            _ => Err(format!(
                "'{t}': use a whole number of milliseconds, e.g. 250ms"
            )),
        };
    }
    parse_duration(t)
}

/// The job database's URL: the flag (or `W365_DATABASE`), else a SQLite file in the data directory.
pub fn database_url(given: Option<&str>) -> Result<String, SettingsError> {
    if let Some(url) = given.map(str::trim).filter(|u| !u.is_empty()) {
        return Ok(url.to_owned());
    }
    let dir: PathBuf = data_dir().ok_or_else(|| {
        SettingsError::Usage(
            "cannot find a data directory for the job database: pass --database URL or set XDG_DATA_HOME"
                .into(),
        )
    })?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| SettingsError::Usage(format!("could not create {}: {e}", dir.display())))?;
    Ok(format!(
        "sqlite://{}?mode=rwc",
        dir.join("jobs.db").display()
    ))
}

/// Hides the user and password of a database URL (for messages).
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.split('?').next().unwrap_or(url).to_owned(),
    }
}

pub async fn run(
    settings: &Settings,
    args: &WorkerArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let url = database_url(args.database.as_deref())?;
    let store = w365_jobs::connect(&url)
        .await
        .with_context(|| format!("could not open the job database {}", display_url(&url)))?;
    let poll_interval = std::env::var("W365_POLL_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let options = HandlerOptions {
        resume: ResumeOptions {
            inline_wait: args.inline_wait,
        },
        poll_interval,
        retry: None,
    };
    let mut handler = OpsHandler::new(settings.config.clone(), options);
    let sandbox = if settings.sandbox {
        let sandbox = Sandbox::start(&Settings::sandbox_dir()?).await?;
        let handle = sandbox.handle();
        let base = handle.base_url();
        let app = handle.admin_app();
        handler = handler.with_sandbox(
            w365_graph::Cloud::Custom {
                graph: base.clone(),
                authority: base,
            },
            w365_graph::auth::Credential::ClientSecret {
                tenant_id: handle.tenant_id(),
                client_id: app.client_id.clone(),
                secret: secrecy::SecretString::from(app.client_secret.clone()),
            },
        );
        Some(sandbox)
    } else {
        None
    };
    let id = format!(
        "{}:{}",
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "w365".into()),
        std::process::id()
    );
    let config = WorkerConfig {
        id: id.clone(),
        concurrency: usize::from(args.workers),
        lease: args.lease,
        poll_interval: args.poll,
        ..WorkerConfig::default()
    };
    printer.note(&format!(
        "worker {id}: {} at once on {}{}; stop with Ctrl-C (running jobs are handed back)",
        args.workers,
        display_url(&url),
        if sandbox.is_some() {
            " (sandbox tenant included)"
        } else {
            ""
        }
    ));
    let worker = Worker::new(store, Arc::new(handler), config);
    worker
        .run(shutdown_signal())
        .await
        .context("the worker stopped on an error")?;
    if let Some(sandbox) = sandbox {
        sandbox.finish().await?;
    }
    printer.note(&format!("worker {id} stopped"));
    Ok(ExitStatus::Success)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_hide_passwords() {
        assert_eq!(
            display_url("postgres://w365:hunter2@db.example:5432/jobs"),
            "postgres://w365@db.example:5432/jobs"
        );
        assert_eq!(
            display_url("sqlite:///var/lib/w365/jobs.db?mode=rwc"),
            "sqlite:///var/lib/w365/jobs.db"
        );
        assert_eq!(
            parse_short_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(parse_duration_or_zero("0"), Ok(Duration::ZERO));
        assert_eq!(parse_short_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_short_duration("0ms").is_err());
        assert_eq!(
            database_url(Some(" postgres://x@h/db ")).unwrap(),
            "postgres://x@h/db"
        );
    }
}
