//! `w365 reprovision <user>`.

use std::path::PathBuf;

use clap::Args;
use w365_ops::reprovision::{ReprovisionOptions, ReprovisionReport};

use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, SettingsError, Target};

use super::lifecycle::{Gate, conclude};
use super::summary;

#[derive(Debug, Clone, Args)]
pub struct ReprovisionArgs {
    /// The user's principal name
    #[arg(value_name = "USER")]
    pub user: String,

    /// The license group (name or id) whose Cloud PC is reprovisioned (must carry exactly one
    /// license) [default: lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB]
    #[arg(long, env = "W365_LICENSE_GROUP", value_name = "NAME|ID")]
    pub license_group: Option<String>,

    /// Mail the user that the Cloud PC is being reprovisioned (if they have a mailbox)
    #[arg(long)]
    pub notify: bool,

    /// Custom text for the mail (at most 3000 characters)
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "message_file",
        requires = "notify"
    )]
    pub message: Option<String>,

    /// Read the custom text for the mail from a file (at most 3000 characters)
    #[arg(long, value_name = "PATH", requires = "notify")]
    pub message_file: Option<PathBuf>,

    /// Mailbox that sends the mail [default: runbooks@contoso.com]
    #[arg(long, env = "W365_FROM_MAILBOX", value_name = "ADDRESS")]
    pub from_mailbox: Option<String>,

    /// Do not ask for confirmation (reprovisioning wipes the Cloud PC)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Do all the reads and print the plan; change nothing, send no mail
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(
    settings: &Settings,
    args: &ReprovisionArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let profile = target.profile().cloned().unwrap_or_default();
    let d = &profile.assign;
    let mut opts = ReprovisionOptions::new(args.user.trim());
    if let Some(g) = args
        .license_group
        .clone()
        .or_else(|| d.license_group.clone())
    {
        opts.license_group = g;
    }
    // The demo sender is a sandbox default only; a real tenant names its own (flag or profile).
    opts.from_mailbox = args
        .from_mailbox
        .clone()
        .or_else(|| d.from_mailbox.clone())
        .or_else(|| {
            matches!(target, Target::Sandbox { .. })
                .then(|| w365_ops::assign::SANDBOX_FROM_MAILBOX.to_owned())
        });
    opts.notify = args.notify;
    opts.custom_message = match (&args.message, &args.message_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => Some(std::fs::read_to_string(path).map_err(|e| {
            SettingsError::Usage(format!(
                "could not read the message file {}: {e}",
                path.display()
            ))
        })?),
        (None, None) => None,
    };
    opts.dry_run = args.dry_run;
    // The declaration's check (the same the service applies to a job); every problem at once.
    crate::ops_spec::validate(
        "reprovision",
        &crate::ops_spec::reprovision_values(args, opts.custom_message.clone()),
        &profile,
    )?;
    opts.validate()?;

    let conn = Connection::open(target).await?;
    let what = format!(
        "reprovision the Cloud PC of {} ({}): everything on it is deleted",
        opts.user, opts.license_group
    );
    let mut gate = Gate::new(printer, args.yes, what);
    let result =
        w365_ops::reprovision::reprovision_approved(&conn.client, &opts, printer, &mut |p| {
            gate.approve(p)
        })
        .await;
    conclude(
        "reprovision",
        conn,
        result,
        gate.refusal,
        printer,
        summary::of::<ReprovisionReport>("reprovision"),
    )
    .await
}
